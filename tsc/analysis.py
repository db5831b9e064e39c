"""Turning samples into curves with intervals: pass@k, voting, bootstrap, fits, sweeps.

The central object is a `SampleTable`: ``n`` completions for each of a set of problems, drawn
once in one batched call. Coverage (pass@k) and majority voting at every ``k <= n`` are then
estimated from the same table without sampling again, and intervals come from resampling
problems (the bootstrap), so every curve in the book carries its uncertainty.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tsc.compute import Ledger
from tsc.strategies.parallel import majority_choice  # the vote itself, shared with the strategy


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of P(at least one of k samples is correct) from n samples, c correct.

    Chen et al. (2021): 1 - C(n-c, k) / C(n, k), computed as a product to stay stable.
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def wilson(successes: int, total: int, *, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion (95 % by default)."""
    if total <= 0:
        return (0.0, 1.0)
    p = successes / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    # the interval always contains p; min/max keep rounding (e.g. 1e-17 above 0 at p=0) from excluding it
    return (max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half)))


def bootstrap(
    values: Sequence[float] | np.ndarray, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of ``values`` with a percentile bootstrap interval: (mean, low, high).

    ``values`` may be 2-D (problems × something): rows are resampled together and the
    interval is computed for every column.
    """
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        raise ValueError("bootstrap needs at least one value")
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(values), size=(n_boot, len(values)))
    means = values[index].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail], axis=0)
    return values.mean(axis=0), low, high


@dataclass(frozen=True)
class SampleTable:
    """``n`` sampled completions for each problem, with the oracle's verdicts.

    ``texts[i][j]`` is completion j of problem i; ``correct``, ``tokens`` and ``logprobs`` are
    arrays of shape (problems, n); ``keys`` holds each completion's voting key.
    """

    problems: tuple
    texts: tuple[tuple[str, ...], ...]
    keys: tuple[tuple[str | None, ...], ...]
    correct: np.ndarray
    tokens: np.ndarray
    logprobs: np.ndarray
    temperature: float
    seed: int
    ledger: Ledger

    @property
    def n(self) -> int:
        return self.correct.shape[1]

    def subset(self, mask: Sequence[bool] | np.ndarray) -> SampleTable:
        """The rows where ``mask`` is true (e.g. problems with 5 numbers)."""
        mask = np.asarray(mask, dtype=bool)
        rows = np.flatnonzero(mask)
        return SampleTable(
            problems=tuple(self.problems[i] for i in rows),
            texts=tuple(self.texts[i] for i in rows),
            keys=tuple(self.keys[i] for i in rows),
            correct=self.correct[rows],
            tokens=self.tokens[rows],
            logprobs=self.logprobs[rows],
            temperature=self.temperature,
            seed=self.seed,
            ledger=self.ledger,
        )


def draw(problems: Sequence, policy, *, n: int, temperature: float = 1.0, seed: int = 0, max_new_tokens: int = 64) -> SampleTable:
    """Sample ``n`` completions for every problem in one batched call and grade them."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    ledger = Ledger()
    prompts = [policy.format(p) for p in problems]
    outs = policy.sample(prompts, n=n, temperature=temperature, seed=seed, max_new_tokens=max_new_tokens, ledger=ledger)
    texts = tuple(tuple(c.text for c in row) for row in outs)
    return SampleTable(
        problems=tuple(problems),
        texts=texts,
        keys=tuple(tuple(p.answer_key(t) for t in row) for p, row in zip(problems, texts)),
        correct=np.array([[p.check(t) for t in row] for p, row in zip(problems, texts)], dtype=bool).reshape(len(problems), n),
        tokens=np.array([[c.num_tokens for c in row] for row in outs]).reshape(len(problems), n),
        logprobs=np.array([[c.logprob for c in row] for row in outs]).reshape(len(problems), n),
        temperature=temperature,
        seed=seed,
        ledger=ledger,
    )


def coverage(table: SampleTable, ks: Sequence[int], *, seed: int = 0) -> dict[str, np.ndarray]:
    """pass@k for each k (unbiased, from all n samples) with bootstrap intervals over problems."""
    counts = table.correct.sum(axis=1)
    per_problem = np.array([[pass_at_k(table.n, int(c), k) for k in ks] for c in counts])
    mean, low, high = bootstrap(per_problem, seed=seed)
    return {"k": np.asarray(ks), "mean": mean, "low": low, "high": high}


def majority_accuracy(table: SampleTable, ks: Sequence[int], *, trials: int = 200, seed: int = 0) -> dict[str, np.ndarray]:
    """Accuracy of majority voting over k samples, for each k, with bootstrap intervals.

    For each problem and k, ``trials`` random subsets of k of its n samples vote (ties broken
    at random); a malformed vote counts as wrong. The per-problem success rates are then
    bootstrapped over problems.
    """
    rng = random.Random(seed)
    per_problem = np.zeros((len(table.problems), len(ks)))
    for i, (keys, correct) in enumerate(zip(table.keys, table.correct)):
        for j, k in enumerate(ks):
            wins = 0
            repeats = 1 if k == table.n else trials
            for _ in range(repeats):
                subset = rng.sample(range(table.n), k)
                choice = majority_choice([keys[s] for s in subset], rng)
                wins += choice is not None and bool(correct[subset[choice]])
            per_problem[i, j] = wins / repeats
    mean, low, high = bootstrap(per_problem, seed=seed)
    return {"k": np.asarray(ks), "mean": mean, "low": low, "high": high}


def fit_exponentiated_power_law(ks: Sequence[float], cov: Sequence[float]) -> tuple[float, float]:
    """Fit coverage ≈ exp(a · k^(-b)) (Brown et al. 2024) by least squares on log(-log c).

    Returns (a, b); a < 0 and b > 0 for a curve that rises toward 1.
    """
    ks = np.asarray(ks, dtype=float)
    cov = np.clip(np.asarray(cov, dtype=float), 1e-9, 1 - 1e-9)
    slope, intercept = np.polyfit(np.log(ks), np.log(-np.log(cov)), 1)
    return -math.exp(intercept), -slope


def exponentiated_power_law(k: float | np.ndarray, a: float, b: float) -> float | np.ndarray:
    """The fitted coverage curve exp(a · k^(-b))."""
    return np.exp(a * np.power(k, -b))


def samples_for_coverage(goal: float, a: float, b: float) -> float:
    """How many samples the fitted law needs to reach coverage ``goal`` (solve exp(a k^-b) = goal)."""
    if not 0 < goal < 1:
        raise ValueError(f"goal must be strictly between 0 and 1, got {goal}")
    return (math.log(goal) / a) ** (-1 / b)


def sweep(strategy: Callable, problems: Sequence, policy, *, budgets: Sequence[int], seeds: Sequence[int], **options) -> list[dict]:
    """Run ``strategy(problem, policy, n=budget, seed=seed, **options)`` over a grid.

    One row per (budget, seed): accuracy with its Wilson interval, and the mean tokens and
    FLOPs per problem from the results' ledgers.
    """
    rows = []
    for budget in budgets:
        for seed in seeds:
            results = [strategy(p, policy, n=budget, seed=seed, **options) for p in problems]
            solved = sum(r.correct for r in results)
            low, high = wilson(solved, len(results))
            rows.append({
                "budget": budget,
                "seed": seed,
                "accuracy": solved / len(results),
                "low": low,
                "high": high,
                "tokens": float(np.mean([r.ledger.tokens for r in results])),
                "flops": float(np.mean([r.ledger.flops for r in results])),
            })
    return rows
