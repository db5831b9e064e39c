"""Verifiers: score completions of a problem, charging their compute to the ledger.

``oracle`` and ``step_oracle`` are exact; ``orm`` and ``prm`` are the bundled reward models
(loaded once per process); ``self`` is the policy's own judgement and needs the policy.
"""

from tsc.core import AGGREGATES, aggregate
from tsc.verifiers.learned import ORM, PRM, SelfVerifier
from tsc.verifiers.oracle import Oracle, StepOracle

VERIFIERS = {"oracle": Oracle, "step_oracle": StepOracle, "orm": ORM, "prm": PRM, "self": SelfVerifier}


def get_verifier(name: str, *, policy=None, **options):
    """A new verifier of the kind registered as ``name``, or a ValueError listing the known names.

    ``policy`` is needed by ``self`` only; ``options`` go to the verifier (e.g.
    ``aggregate="last"`` for ``prm``).
    """
    if not isinstance(name, str) or name not in VERIFIERS:
        raise ValueError(f"unknown verifier {name!r}; known: {', '.join(sorted(VERIFIERS))}")
    if name == "self":
        if policy is None:
            raise ValueError("the 'self' verifier is the policy judging its own completions: pass policy=")
        return SelfVerifier(policy, **options)
    try:
        return VERIFIERS[name](**options)
    except TypeError as error:
        raise ValueError(f"verifier {name!r}: {error}") from None


__all__ = ["AGGREGATES", "ORM", "PRM", "VERIFIERS", "Oracle", "SelfVerifier", "StepOracle", "aggregate", "get_verifier"]
