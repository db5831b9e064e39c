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
        """One label per step of each completion (``problem.steps(text)``; [] for none): the
        task's exact step labels (`Problem.step_labels`), the last step the oracle's verdict."""
        if not callable(getattr(problem, "step_labels", None)):
            raise ValueError(f"StepOracle needs a problem that labels its steps (Countdown, arithmetic), got a {type(problem).__name__}")
        if ledger is not None:
            ledger.charge_verifier(tokens=0, flops=0)
        out = []
        for text in texts:
            labels = problem.step_labels(text)
            out.append(labels[:-1] + [1.0 if problem.check(text) else 0.0] if labels else [])
        return out
