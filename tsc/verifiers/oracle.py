"""The oracle verifier: the task's exact check, the ideal that learned verifiers approximate."""

from __future__ import annotations

from tsc.compute import Ledger


class Oracle:
    """Scores 1.0 for a correct completion and 0.0 otherwise.

    It runs a few lines of Python, not a neural network, so it charges no FLOPs; the ledger
    still counts one verifier call, so strategies show how often they consulted it.
    """

    name = "oracle"

    def score(self, problem, texts: list[str], *, ledger: Ledger | None = None) -> list[float]:
        if ledger is not None:
            ledger.charge_verifier(tokens=0, flops=0)
        return [1.0 if problem.check(t) else 0.0 for t in texts]
