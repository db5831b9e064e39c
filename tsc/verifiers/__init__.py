"""Verifiers: score completions of a problem, charging their compute to the ledger."""

from tsc.verifiers.oracle import Oracle

VERIFIERS = {"oracle": Oracle}


def get_verifier(name: str):
    """A new verifier of the kind registered as ``name``, or a ValueError listing the known names."""
    if not isinstance(name, str) or name not in VERIFIERS:
        raise ValueError(f"unknown verifier {name!r}; known: {', '.join(sorted(VERIFIERS))}")
    return VERIFIERS[name]()


__all__ = ["VERIFIERS", "Oracle", "get_verifier"]
