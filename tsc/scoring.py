"""Choosing among samples drawn once and scored by verifiers: exact best-of-k, curves at
equal FLOPs, verifier quality and where a step verifier points.

Best-of-k, weighted voting and majority voting at every k <= n can all be estimated from one
table of n samples per problem, drawn and scored by `tsc.analysis.draw` with ``verifiers``
inside the caches best-of-N uses (`tsc.strategies.reuse`), each problem on its own seed, so
its texts are those `tsc.strategies.best_of_n` draws and ``table.flops(k, verifier)`` is what
it would be charged: the prompt once, plus k times the mean cost of writing one sample and,
with a verifier, of scoring it (tests check this against `best_of_n`'s own ledgers).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from tsc.analysis import SampleTable, auc, bootstrap_statistic, calibration


def best_of_k(scores: Sequence[float] | np.ndarray, correct: Sequence[bool] | np.ndarray, k: int) -> float:
    """The exact chance that the highest-scored of k samples, drawn without replacement from
    these n, is correct (ties broken uniformly at random): best-of-k averaged over every
    subset, with no Monte Carlo error. With the oracle's verdicts as scores it is pass@k.

    A subset's best score is level L when it holds no sample scored above L but some scored
    L; then each of the level's samples is equally likely to be picked."""
    scores, correct = np.asarray(scores, dtype=float), np.asarray(correct, dtype=bool)
    n = len(scores)
    if scores.shape != correct.shape or scores.ndim != 1:
        raise ValueError(f"scores and correct must be two lists of the same length, got shapes {scores.shape} and {correct.shape}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise ValueError(f"k must be an integer from 1 to n={n}, got {k!r}")
    _, members, right = _levels(scores, correct)
    subsets = math.comb(n, k)
    above, chance = 0, 0.0
    for m, c in zip(members.tolist(), right.tolist()):
        top_here = math.comb(n - above, k) - math.comb(n - above - m, k)  # subsets whose best is this level
        chance += top_here / subsets * (c / m)
        above += m
    return chance


def _levels(scores: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct scores, highest first, with how many samples hold each and how many of
    those are correct."""
    negated, level = np.unique(-scores, return_inverse=True)  # level 0 holds the highest score
    members = np.bincount(level)
    return -negated, members, np.bincount(level, weights=correct.astype(float), minlength=len(members))


def best_of_k_after(first_score: float, first_correct: bool, scores, correct, k: int) -> float:
    """The exact chance that a first attempt plus k - 1 samples drawn without replacement from
    these n, choosing the highest score (the first attempt on ties), picks a correct one: the
    "greedy + (k - 1) samples" baseline of a loop that starts from a greedy attempt. k = 1 is
    the first attempt alone."""
    scores, correct = np.asarray(scores, dtype=float), np.asarray(correct, dtype=bool)
    n = len(scores)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n + 1:
        raise ValueError(f"k must be an integer from 1 to n + 1 = {n + 1}, got {k!r}")
    if k == 1:
        return float(first_correct)
    m = k - 1  # samples beside the first attempt
    levels, members, right = _levels(scores, correct)
    subsets, above, chance = math.comb(n, m), 0, 0.0
    for value, count, c in zip(levels.tolist(), members.tolist(), right.tolist()):
        top_here = math.comb(n - above, m) - math.comb(n - above - count, m)  # subsets whose best sample is this level
        picked = float(first_correct) if first_score >= value else c / count
        chance += top_here / subsets * picked
        above += count
    return chance


def dense_ranks(scores: Sequence[float] | np.ndarray) -> list[int]:
    """Each score's rank among the distinct scores, 0 for the highest (equal scores, equal
    ranks): all that choosing by score needs, in a few bytes per sample."""
    _, level = np.unique(-np.asarray(scores, dtype=float), return_inverse=True)
    return [int(x) for x in level]


def at_flops(per_problem: np.ndarray, flops: Sequence[float], target: float) -> np.ndarray:
    """Each problem's value of a curve at ``target`` FLOPs per problem.

    ``per_problem`` is problems × budgets (best-of-k at k = 1, 2, ...), ``flops`` the mean
    FLOPs per problem of each budget, increasing. Between two budgets the value is
    interpolated linearly in log FLOPs, problem by problem, so a strategy that spent
    ``target`` FLOPs can be compared with the curve at equal compute, paired by problem.
    A target outside the curve's range is a ValueError (no extrapolation)."""
    per_problem, flops = np.asarray(per_problem, dtype=float), np.asarray(flops, dtype=float)
    if per_problem.ndim != 2 or per_problem.shape[1] != len(flops):
        raise ValueError(f"per_problem must be problems × budgets with {len(flops)} budgets, got shape {per_problem.shape}")
    if np.any(np.diff(flops) <= 0):
        raise ValueError("flops must increase with the budget")
    if not flops[0] <= target <= flops[-1]:
        raise ValueError(f"target {target:.3g} FLOPs is outside the curve's range {flops[0]:.3g} to {flops[-1]:.3g}")
    j = int(np.clip(np.searchsorted(flops, target), 1, len(flops) - 1))
    weight = (math.log(target) - math.log(flops[j - 1])) / (math.log(flops[j]) - math.log(flops[j - 1]))
    return (1 - weight) * per_problem[:, j - 1] + weight * per_problem[:, j]


def within_auc(scores: np.ndarray, correct: np.ndarray) -> float:
    """The AUC inside each problem (rows: problems; only problems with both right and wrong
    samples count), averaged over problems: how well a verifier ranks the samples best-of-N
    actually chooses among, with each problem's difficulty held fixed."""
    values = [auc(row, ok) for row, ok in zip(np.asarray(scores), np.asarray(correct)) if 0 < ok.sum() < len(ok)]
    return float(np.mean(values)) if values else float("nan")


def verifier_quality(scores: Mapping[str, np.ndarray], correct: np.ndarray, *, n_boot: int = 300) -> dict[str, dict]:
    """For each verifier's scores (problems × samples): the AUC over all samples and within a
    problem, each with a bootstrap interval over problems, and the calibration error."""
    return {
        name: {
            "auc": bootstrap_statistic(auc, s, correct, n_boot=n_boot),
            "within": bootstrap_statistic(within_auc, s, correct, n_boot=n_boot),
            "ece": calibration(s, correct)["ece"],
        }
        for name, s in scores.items()
    }


def print_quality(quality: Mapping[str, dict]) -> None:
    """`verifier_quality` as a table."""
    print(f"{'verifier':<15}{'AUC, all samples':<22}{'AUC within a problem':<24}{'calibration error':>18}")
    for name, q in quality.items():
        (a, a_low, a_high), (w, w_low, w_high) = q["auc"], q["within"]
        print(f"{name:<15}{a:.2f} ({a_low:.2f}-{a_high:.2f})    {w:.2f} ({w_low:.2f}-{w_high:.2f})      {q['ece']:>12.3f}")


def first_flagged(step_scores: Sequence[float], threshold: float) -> int | None:
    """The index of the first step scored below ``threshold`` (None if every step passes):
    where self-refinement would start rewriting."""
    return next((i for i, s in enumerate(step_scores) if s < threshold), None)


def localisation(scored: SampleTable, verifier: str, labels: Sequence[Sequence[Sequence[float]]], threshold: float) -> dict[str, float]:
    """How often the step verifier points at the step where a wrong attempt was actually lost.

    ``labels[i][j]`` are the step oracle's labels of sample j of problem i (1 while the target
    can still be reached, 0 from the first fatal step on) for the samples to judge (a
    problem's list may be shorter than its samples: the first ones are judged). For the wrong
    samples: the share where the first step scored below ``threshold`` is the first fatal step
    ("exact"), an earlier, still sound step ("early"), a later step ("late"), or none at all
    ("missed"); and for the correct ones, the share where some step is flagged anyway
    ("false_alarm"). Also the counts behind the shares."""
    outcome = {"exact": 0, "early": 0, "late": 0, "missed": 0}
    correct_flagged = correct_total = 0
    for i, rows in enumerate(labels):
        for j, marks in enumerate(rows):
            steps = scored.steps[verifier][i][j][: len(marks)]
            flagged = first_flagged(steps, threshold)
            if scored.correct[i, j]:
                correct_total += 1
                correct_flagged += flagged is not None
                continue
            if not marks or 0.0 not in marks:
                continue
            fatal = list(marks).index(0.0)
            kind = "missed" if flagged is None else "exact" if flagged == fatal else "early" if flagged < fatal else "late"
            outcome[kind] += 1
    wrong = sum(outcome.values())
    shares = {kind: count / max(1, wrong) for kind, count in outcome.items()}
    return {**shares, "false_alarm": correct_flagged / max(1, correct_total), "wrong": wrong, "correct": correct_total}
