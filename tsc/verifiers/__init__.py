"""Verifiers: score completions of a problem, charging their compute to the ledger."""

from tsc.verifiers.oracle import Oracle

VERIFIERS = {"oracle": Oracle}

__all__ = ["VERIFIERS", "Oracle"]
