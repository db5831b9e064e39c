"""The oracle verifiers: the task's exact check, the ideal that learned verifiers approximate.

`Oracle` judges whole completions; `StepOracle` also judges every step prefix exactly, the
ideal process reward model that a PRM trained on Monte Carlo rollouts approximates.
"""

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


class StepOracle(Oracle):
    """Exact process labels. Countdown: after each step, 1.0 if every step so far is legal
    and the target can still be reached from the numbers left on the table (the exhaustive
    solver decides), else 0.0; the last step scores the oracle's verdict on the completion.
    Arithmetic: 1.0 while every step is computed right and is a valid next step of the
    question (`Arithmetic.step_labels`), the last step again the oracle's verdict.

    ``score`` is the oracle's (the last step's) verdict. Like `Oracle` it charges one call
    and no FLOPs.
    """

    name = "step_oracle"

    def score_steps(self, problem, texts: list[str], *, ledger: Ledger | None = None) -> list[list[float]]:
        """One label per step of each completion (``problem.steps(text)``; [] for none)."""
        from tsc.tasks import countdown

        task = getattr(problem, "task", None)
        if task not in ("countdown", "arithmetic"):
            raise ValueError(f"StepOracle knows the steps of Countdown and arithmetic only, got a {type(problem).__name__}")
        if ledger is not None:
            ledger.charge_verifier(tokens=0, flops=0)
        out = []
        for text in texts:
            if task == "arithmetic":  # each step right and a valid next step of the question so far
                labels = problem.step_labels(text)
                out.append(labels[:-1] + [1.0 if problem.check(text) else 0.0] if labels else [])
                continue
            pieces = problem.steps(text)
            labels, prefix = [], ""
            for piece in pieces[:-1]:
                prefix += piece
                steps = countdown.parse(prefix.rstrip(","))
                pool = countdown.remaining(problem.numbers, steps) if steps is not None else None
                alive = pool is not None and len(pool) >= 2 and problem.target in countdown.reachable(tuple(sorted(pool)))
                labels.append(1.0 if alive else 0.0)
            out.append(labels + [1.0 if problem.check(text) else 0.0] if pieces else [])
        return out
