"""Turning samples into curves with intervals: pass@k, voting, bootstrap, fits, sweeps.

The central object is a `SampleTable`: ``n`` completions for each of a set of problems, each
drawn from its problem's own stream as a strategy draws it (`draw`), with what each cost and,
optionally, verifiers' scores. Coverage (pass@k) and majority voting at every ``k <= n`` are then
estimated from the same table without sampling again, and intervals come from resampling
problems (the bootstrap), so every curve in the book carries its uncertainty.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import numbers
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np

from tsc.compute import Ledger
from tsc.core import Completion, JudgesSamples, SharesPrefixes, problem_seed
from tsc.strategies import Strategy, solve_many  # the one per-problem-seed loop (batched where it can be)
from tsc.strategies.reuse import prefix_caches
from tsc.strategies.search import AGGREGATES
from tsc.votes import majority_choice, weighted_choice  # the votes themselves, shared with the strategies


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


class Interval(NamedTuple):
    """An estimate with its interval, the one shape of every interval here: unpack it
    (``mean, low, high = paired(a, b)``) or read it by name (``.mean``, or ``["mean"]`` as a
    dict is read). Arrays, one entry per column, when the values were 2-D."""

    mean: float
    low: float
    high: float

    def __getitem__(self, key):
        return getattr(self, key) if isinstance(key, str) else tuple.__getitem__(self, key)


def bootstrap(values: Sequence[float] | np.ndarray, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> Interval:
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
    return Interval(values.mean(axis=0), low, high)


def paired(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *, seed: int = 0, n_boot: int = 2000) -> Interval:
    """Mean of ``a - b`` over the same problems with a 95 % bootstrap interval that resamples
    problems (so each problem's difficulty cancels out): the one paired comparison of the
    book. 1-D ``a`` and ``b`` give numbers; problems × k matrices (curves) give arrays."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"a paired comparison needs the same problems on both sides; got {a.shape} and {b.shape}")
    mean, low, high = bootstrap(a - b, seed=seed, n_boot=n_boot)
    return Interval(float(mean), float(low), float(high)) if a.ndim == 1 else Interval(mean, low, high)


@dataclass(frozen=True)
class SampleTable:
    """``n`` sampled completions for each problem, with the oracle's verdicts: the one sample
    table of the package, filled by `draw`.

    ``texts[i][j]`` is completion j of problem i; ``correct``, ``tokens`` and ``logprobs`` are
    arrays of shape (problems, n); ``keys`` holds each completion's voting key.
    ``prompt_tokens[i]`` is the length of problem i's prompt, ``prompt_flops[i]`` what reading
    it cost the policy, ``sample_flops[i]`` the mean cost of writing one of its samples (so
    `flops` charges k samples as the prompt once plus k samples). Drawn with verifiers,
    ``steps[name][i][j]`` are verifier ``name``'s step scores of completion j of problem i and
    ``verifier_flops[name]`` (problems × n) what scoring each cost (`scores` combines the
    steps). Drawn with ``top_logprobs=k``, each completion's token log-probabilities and top-k
    alternatives (``token_logprobs[i][j]``, ``top_logprobs[i][j]``), which a confidence cut
    reads (`tsc.strategies.deepconf`).
    """

    problems: tuple
    texts: tuple[tuple[str, ...], ...]
    keys: tuple[tuple[str | None, ...], ...]
    correct: np.ndarray
    tokens: np.ndarray
    logprobs: np.ndarray
    temperature: float = 1.0
    seed: int = 0
    ledger: Ledger = field(default_factory=Ledger)
    max_new_tokens: int = 64
    prompt_tokens: np.ndarray | None = None
    prompt_flops: np.ndarray | None = None
    sample_flops: np.ndarray | None = None
    steps: dict[str, list] = field(default_factory=dict)
    verifier_flops: dict[str, np.ndarray] = field(default_factory=dict)
    token_logprobs: tuple | None = None
    top_logprobs: tuple | None = None
    one_stream: bool = False  # drawn with one stream for the whole call, not one per problem

    @classmethod
    def of(cls, problems: Sequence, rows: list[list[Completion]], *, with_top_logprobs: bool = False, **fields) -> SampleTable:
        """The table of ``rows`` (each problem's completions), graded by the problems' oracles;
        ``fields``: the other fields (temperature, seed, ledger, ...)."""
        problems, n = tuple(problems), len(rows[0]) if rows else 0
        texts = tuple(tuple(c.text for c in row) for row in rows)
        return cls(
            problems=problems,
            texts=texts,
            keys=tuple(tuple(p.answer_key(t) for t in row) for p, row in zip(problems, texts)),
            correct=np.array([[bool(p.check(t)) for t in row] for p, row in zip(problems, texts)], dtype=bool).reshape(len(problems), n),
            tokens=np.array([[c.num_tokens for c in row] for row in rows], dtype=int).reshape(len(problems), n),
            logprobs=np.array([[c.logprob for c in row] for row in rows], dtype=float).reshape(len(problems), n),
            token_logprobs=tuple(tuple(c.token_logprobs for c in row) for row in rows) if with_top_logprobs else None,
            top_logprobs=tuple(tuple(c.top_logprobs for c in row) for row in rows) if with_top_logprobs else None,
            **fields,
        )

    @classmethod
    def of_votes(cls, keys, correct, tokens=None, prompt_tokens=None) -> SampleTable:
        """A table of stored votes alone (problems × n): each sample's key (a string, or None
        for a malformed one; integers too, -1 for none) and verdict, and its tokens and its
        prompt's if known."""
        keys = tuple(tuple(None if k is None or (isinstance(k, numbers.Integral) and k < 0) else str(k) for k in row) for row in keys)
        correct = np.asarray(correct, dtype=bool)
        tokens = np.zeros(correct.shape, dtype=int) if tokens is None else np.asarray(tokens)
        texts = tuple(("",) * correct.shape[1] for _ in keys)
        prompt_tokens = None if prompt_tokens is None else np.asarray(prompt_tokens)
        return cls(tuple(range(len(keys))), texts, keys, correct, tokens, np.zeros(correct.shape), prompt_tokens=prompt_tokens)

    @property
    def n(self) -> int:
        return self.correct.shape[1]

    def scores(self, name: str, how: str = "min") -> np.ndarray:
        """One score per sample (problems × n): verifier ``name``'s step scores combined by
        ``how`` (``"min"``, ``"last"`` or ``"product"``; 0 for a sample with no step)."""
        if name not in self.steps:
            raise ValueError(f"no verifier {name!r} in this table; it has {', '.join(self.steps) or 'none'}")
        if how not in AGGREGATES:
            raise ValueError(f"how must be one of {', '.join(map(repr, AGGREGATES))}, got {how!r}")
        combine = AGGREGATES[how]
        return np.array([[combine(s) if s else 0.0 for s in row] for row in self.steps[name]], dtype=float).reshape(self.correct.shape)

    def flops(self, k: float, verifier: str | None = None) -> np.ndarray:
        """FLOPs per problem (an array over problems) of drawing k samples and, with
        ``verifier``, scoring each: the prompt once, then k samples (and k verifier reads)."""
        if self.prompt_flops is None or self.sample_flops is None:
            raise ValueError("this table has no per-problem FLOPs: draw it with `draw` from a policy")
        per_sample = self.sample_flops + (self.verifier_flops[verifier].mean(axis=1) if verifier is not None else 0.0)
        return self.prompt_flops + k * per_sample

    def subset(self, mask: Sequence[bool] | np.ndarray) -> SampleTable:
        """The rows where ``mask`` is true (e.g. problems with 5 numbers): every per-problem
        field (arrays, tuples and lists, and those of the verifiers' dicts) cut to them."""
        rows = np.flatnonzero(np.asarray(mask, dtype=bool))

        def pick(value):
            if isinstance(value, dict):
                return {name: pick(v) for name, v in value.items()}
            if isinstance(value, np.ndarray):
                return value[rows]
            return tuple(value[i] for i in rows) if isinstance(value, (tuple, list)) else value

        return replace(self, **{name: pick(getattr(self, name)) for name in self.__dataclass_fields__})


def draw(
    problems: Sequence,
    policy,
    *,
    n: int,
    temperature: float = 1.0,
    seed: int = 0,
    max_new_tokens: int = 64,
    verifiers: Mapping[str, object] | None = None,
    one_by_one: bool = False,
    top_logprobs: int = 0,
    chunk: int | None = None,
    one_stream: bool = False,
) -> SampleTable:
    """Sample ``n`` completions for every problem and grade them: problem ``p`` draws from its
    own stream ``problem_seed(seed, p)``, as every strategy draws, so the table holds the
    samples a strategy would see (`tsc.replay` replays strategies from it). Each problem is
    charged to its own ledger, which gives its ``prompt_flops`` and ``sample_flops``.

    ``verifiers`` (name -> verifier): every sample's step scores and their cost, inside the
    prefix caches a strategy opens (`tsc.strategies.reuse.prefix_caches`): a problem's samples
    scored in one call, as best-of-N scores them (``score_steps`` where the verifier has it; the
    self verifier free, from the samples' log-probabilities: `tsc.core.JudgesSamples`), or with
    ``one_by_one``, each sample's one ``score`` in a call of its own, as a strategy that checks
    one candidate at a time pays. ``top_logprobs=k`` keeps the samples' log-probabilities (a
    confidence cut replays from them). Up to ``chunk`` samples (of several problems) are drawn
    in one policy call (by default 1024, the policy's batch; 256 with verifiers, whose scoring
    reads the policy's prefix cache); the texts and charges are those of one call per problem.

    ``one_stream``: one random stream ``seed`` for the whole call (all problems in one batch),
    the convention of the results stored before per-problem streams; the experiments and model
    cards that shipped them keep it to reproduce their rows. New code leaves it off.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    verifiers = dict(verifiers or {})
    for name, verifier in verifiers.items():
        if not callable(getattr(verifier, "score", None)):
            raise ValueError(f"verifier {name!r} must have score(problem, texts, ledger=...), e.g. a PRM; got {verifier!r}")
    problems = list(problems)
    prompts = [policy.format(p) for p in problems]
    shares = isinstance(policy, SharesPrefixes) and any(isinstance(v, SharesPrefixes) for v in verifiers.values())
    step = (len(problems) or 1) if one_stream else max(1, (chunk or (256 if verifiers else 1024)) // n)  # problems per policy call
    rows: list[list[Completion]] = []
    ledgers = [Ledger() for _ in problems]
    steps: dict[str, list] = {name: [] for name in verifiers}
    costs: dict[str, list] = {name: [] for name in verifiers}
    for start in range(0, len(problems), step):
        group = problems[start : start + step]
        with prefix_caches(policy, only_to_share=not shares):
            rows += policy.sample(
                prompts[start : start + step], n=n, temperature=temperature, max_new_tokens=max_new_tokens,
                seed=seed if one_stream else [problem_seed(seed, p) for p in group], ledger=ledgers[start : start + step],
                **({"top_logprobs": top_logprobs} if top_logprobs else {}),
            )  # fmt: skip
            for problem, row in zip(group, rows[start:]):
                for name, verifier in verifiers.items():
                    scored, paid = _score(problem, row, policy, verifier, one_by_one)
                    steps[name].append(scored)
                    costs[name].append(paid)
    prompt_tokens = None
    if callable(getattr(policy, "flops", None)) and callable(getattr(policy, "encode", None)):
        prompt_tokens = np.array([len(ids) for ids in policy.encode(prompts)], dtype=int)
        prompt_flops = np.array([float(policy.flops(int(length), 0)) for length in prompt_tokens])
    else:  # a policy that cannot price a prompt (a scripted fake): its tokens' share of the FLOPs
        prompt_flops = np.array([ledger.policy_flops * ledger.prompt_tokens / max(1, ledger.tokens) for ledger in ledgers])
    sample_flops = np.array([(ledger.policy_flops - pf) / n for ledger, pf in zip(ledgers, prompt_flops)])
    verifier_flops = {name: np.array(paid, dtype=float).reshape(len(problems), n) for name, paid in costs.items()}
    return SampleTable.of(problems, rows, temperature=temperature, seed=seed, max_new_tokens=max_new_tokens,
                          ledger=sum(ledgers, Ledger()), with_top_logprobs=bool(top_logprobs), prompt_tokens=prompt_tokens,
                          prompt_flops=prompt_flops, sample_flops=sample_flops, steps=steps, verifier_flops=verifier_flops,
                          one_stream=one_stream)  # fmt: skip


def _score(problem, row: list[Completion], policy, verifier, one_by_one: bool) -> tuple[list[list[float]], list[float]]:
    """``verifier``'s step scores of each completion of ``row`` and what scoring each cost
    (a call's cost shared evenly among the samples it scored)."""
    texts = [c.text for c in row]
    with prefix_caches(policy, verifier, policy_open=True):
        if one_by_one:
            charged = [Ledger() for _ in texts]
            scored = [verifier.score(problem, [text], ledger=ledger) for text, ledger in zip(texts, charged)]
            return [[float(s) for s in one] for one in scored], [ledger.verifier_flops for ledger in charged]
        ledger = Ledger()
        if callable(getattr(verifier, "score_steps", None)):
            scored = verifier.score_steps(problem, texts, ledger=ledger)
        elif isinstance(verifier, JudgesSamples):  # the self verifier: free, from the samples' log-probabilities
            scored = [[s] for s in verifier.score_samples(problem, row, ledger=ledger)]
        else:  # one score per sample: a one-step list
            scored = [[s] for s in verifier.score(problem, texts, ledger=ledger)]
    return [[float(s) for s in one] for one in scored], [ledger.verifier_flops / len(texts)] * len(texts)


def coverage(table: SampleTable, ks: Sequence[int], *, seed: int = 0) -> dict[str, np.ndarray]:
    """pass@k for each k (unbiased, from all n samples) with bootstrap intervals over problems.

    Like the other curves below, the result also holds ``per_problem`` (problems × ks), so two
    strategies can be compared problem by problem (see `paired_difference`).
    """
    counts = table.correct.sum(axis=1)
    per_problem = np.array([[pass_at_k(table.n, int(c), k) for k in ks] for c in counts])
    return _curve(ks, per_problem, seed)


def majority_accuracy(table: SampleTable, ks: Sequence[int], *, trials: int = 200, seed: int = 0) -> dict[str, np.ndarray]:
    """Accuracy of majority voting over k samples, for each k, with bootstrap intervals.

    For each problem and k, ``trials`` random subsets of k of its n samples vote (ties broken
    at random); a malformed vote counts as wrong. The per-problem success rates are then
    bootstrapped over problems.
    """
    return _vote_accuracy(table, ks, trials, seed)


def _vote_accuracy(table: SampleTable, ks: Sequence[int], trials: int, seed: int, scores: np.ndarray | None = None) -> dict:
    """The curve of majority voting (or, with ``scores``, the verifier-weighted vote) over
    ``trials`` random subsets of k samples per problem, for each k. Majority voting over all
    n samples votes once: it has one subset."""
    rng = random.Random(seed)
    per_problem = np.zeros((len(table.problems), len(ks)))
    for i, (keys, correct) in enumerate(zip(table.keys, table.correct)):
        for j, k in enumerate(ks):
            wins = 0
            repeats = 1 if scores is None and k == table.n else trials
            for _ in range(repeats):
                subset = rng.sample(range(table.n), k)
                votes = [keys[s] for s in subset]
                choice = majority_choice(votes, rng) if scores is None else weighted_choice(votes, [scores[i][s] for s in subset], rng)[0]
                wins += choice is not None and bool(correct[subset[choice]])
            per_problem[i, j] = wins / repeats
    return _curve(ks, per_problem, seed)


def _curve(ks: Sequence[int], per_problem: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """A curve over ``ks`` from its per-problem values: the mean with bootstrap intervals over problems."""
    mean, low, high = bootstrap(per_problem, seed=seed)
    return {"k": np.asarray(ks), "mean": mean, "low": low, "high": high, "per_problem": per_problem}


def best_of_accuracy(
    table: SampleTable, scores: np.ndarray, ks: Sequence[int], *, trials: int = 200, seed: int = 0
) -> dict[str, np.ndarray]:
    """Accuracy of best-of-k: a verifier's highest-scored of k samples, for each k, with
    bootstrap intervals over problems.

    ``scores`` has the table's shape (problems × n), one verifier score per sample. As in
    `majority_accuracy`, ``trials`` random subsets of k samples are drawn per problem (ties
    between equal top scores broken at random), so every k uses all n samples' information.
    """
    scores = np.asarray(scores, dtype=float)
    if scores.shape != table.correct.shape:
        raise ValueError(f"scores must have the table's shape {table.correct.shape}, got {scores.shape}")
    rng = np.random.default_rng(seed)
    per_problem = np.zeros((len(table.problems), len(ks)))
    for j, k in enumerate(ks):
        # a random subset of k samples per (problem, trial): the first k of a random permutation
        order = rng.random((len(table.problems), trials, table.n)).argsort(axis=2)[:, :, :k]
        picked = np.take_along_axis(scores[:, None, :].repeat(trials, axis=1), order, axis=2)
        jitter = rng.random(picked.shape) * 1e-9  # breaks exact ties at random, never reorders distinct scores
        best = np.take_along_axis(order, (picked + jitter).argmax(axis=2)[:, :, None], axis=2)[:, :, 0]
        per_problem[:, j] = np.take_along_axis(table.correct, best, axis=1).mean(axis=1)
    return _curve(ks, per_problem, seed)


def weighted_vote_accuracy(
    table: SampleTable, scores: np.ndarray, ks: Sequence[int], *, trials: int = 200, seed: int = 0
) -> dict[str, np.ndarray]:
    """Accuracy of the verifier-weighted vote over k samples, for each k, with bootstrap
    intervals over problems; subsets and ties as in `majority_accuracy`."""
    scores = np.asarray(scores, dtype=float)
    if scores.shape != table.correct.shape:
        raise ValueError(f"scores must have the table's shape {table.correct.shape}, got {scores.shape}")
    return _vote_accuracy(table, ks, trials, seed, scores)


def paired_difference(a: dict, b: dict, *, seed: int = 0) -> dict[str, np.ndarray]:
    """Curve ``a`` minus curve ``b`` (both from the same problems), for each k, with a bootstrap
    interval that resamples problems together: tighter than comparing two separate intervals,
    because each problem's difficulty cancels out."""
    mean, low, high = paired(a["per_problem"], b["per_problem"], seed=seed)
    return {"k": a["k"], "mean": mean, "low": low, "high": high, "per_problem": np.asarray(a["per_problem"]) - np.asarray(b["per_problem"])}


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


def sweep(
    strategy: Strategy | Callable,
    problems: Sequence,
    policy,
    *,
    budgets: Sequence[int],
    seeds: Sequence[int],
    cache: str | Path | None = None,
    knob: str = "n",
    per_problem: bool = False,
    **options,
) -> list[dict]:
    """Run ``strategy(problem, policy, n=budget, seed=..., **options)`` over a grid; each
    problem gets its own seed derived from the row's (`tsc.core.problem_seed`).

    One row per (budget, seed): accuracy with its Wilson interval, and the mean tokens and
    FLOPs per problem from the results' ledgers. ``knob`` names the keyword the budget goes
    to, for strategies whose budget is not a count of samples (``"expansions"`` for beam
    search, ``"rounds"`` for self-refinement, ``"flops"`` for the adaptive ones); with
    ``per_problem`` each row also keeps every problem's success (``"correct"``), FLOPs
    (``"each_flops"``) and ledger columns (``"each_ledger"``, `ledger_columns`: tokens for a
    price, seconds), so that two rows on the same problems can be compared pair by pair.

    With ``cache`` (a ``.jsonl`` file, or a folder that gets ``sweep.jsonl``) each row is
    appended to the file as soon as it is finished, keyed by a hash of the full configuration
    (strategy, model name and weights hash, problems, budget, seed, options); a rerun reads
    finished rows back instead of recomputing them, so a sweep stopped with Ctrl-C resumes
    where it stopped. A model without a weights hash on its card is known by its name only:
    clear the cache when you change such a model.
    """
    budgets, seeds, problems = list(budgets), list(seeds), list(problems)
    if not problems:
        raise ValueError("sweep needs at least one problem")
    for name, values, least in (("budgets", budgets, 1), ("seeds", seeds, 0)):
        for value in values:
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
                raise ValueError(f"{name} must be {'positive' if least else 'non-negative'} integers, got {value!r}")
    if not isinstance(knob, str) or not knob.isidentifier() or knob in options or knob == "seed":
        raise ValueError(f"knob must name the strategy's budget keyword (e.g. 'n', 'rounds'), not also given as an option; got {knob!r}")
    strategy = strategy.run if isinstance(strategy, Strategy) else strategy  # a registry record: its function
    store = SweepCache(cache) if cache is not None else None
    base = _sweep_config(strategy, problems, policy, options) if store else {}
    if knob != "n":  # (rows of earlier sweeps, all over n, keep their keys)
        base["knob"] = knob
    if per_problem:
        base["per_problem"] = True
    rows = []
    for budget in budgets:
        for seed in seeds:
            compute = partial(_sweep_row, strategy, problems, policy, budget, seed, dict(options, **{knob: budget}), per_problem)
            rows.append(store.fetch(dict(base, budget=int(budget), seed=int(seed)), compute) if store else compute())
    return rows


def _sweep_row(strategy: Callable, problems: list, policy, budget: int, seed: int, options: dict, per_problem: bool = False) -> dict:
    results = solve_many(strategy, problems, policy, seed=seed, **options)
    solved = sum(r.correct for r in results)
    low, high = wilson(solved, len(results))
    return {
        "budget": int(budget),
        "seed": int(seed),
        "accuracy": solved / len(results),
        "low": low,
        "high": high,
        "tokens": float(np.mean([r.ledger.tokens for r in results])),
        "flops": float(np.mean([r.ledger.flops for r in results])),
    } | ({"correct": [bool(r.correct) for r in results], "each_flops": [int(r.ledger.flops) for r in results],
          "each_ledger": ledger_columns([r.ledger for r in results])} if per_problem else {})  # fmt: skip


LEDGER_COLUMNS = ("prompt_tokens", "reused_tokens", "generated_tokens", "verifier_tokens", "seconds", "calls")


def ledger_columns(ledgers: Sequence) -> dict[str, list]:
    """Per problem, what a price or a clock needs from its ledger (`LEDGER_COLUMNS`): the tokens
    a `tsc.compute.TokenPrice` bills, the seconds the calls took and how many calls there were
    (the FLOPs are kept apart). Seconds of a batched call are each prompt's share of it."""
    return {c: [round(float(getattr(x, c)), 4) if c == "seconds" else int(getattr(x, c)) for x in ledgers] for c in LEDGER_COLUMNS}


def _identify(value, depth: int = 0) -> object:
    """A JSON-able stand-in for an option value that is the same in every run of Python:
    plain values as they are, functions by name and code, other objects by type, ``name``
    and public attributes (three levels deep)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return repr(float(value))
    if depth > 3:
        return f"{type(value).__module__}.{type(value).__qualname__}"
    if isinstance(value, (list, tuple)):
        return [_identify(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): _identify(v, depth + 1) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if callable(value) and hasattr(value, "__qualname__"):  # a function or a class
        code = getattr(value, "__code__", None)
        digest = hashlib.sha256(code.co_code + repr(code.co_consts).encode()).hexdigest()[:16] if code else ""
        return f"{getattr(value, '__module__', '')}.{value.__qualname__}:{digest}"
    named = getattr(value, "name", None)
    public = sorted((k, v) for k, v in vars(value).items() if not k.startswith("_")) if hasattr(value, "__dict__") else []
    return {
        "type": f"{type(value).__module__}.{type(value).__qualname__}",
        "name": named if isinstance(named, str) else None,
        "state": {k: _identify(v, depth + 1) for k, v in public},
    }


def _sweep_config(strategy: Callable, problems: list, policy, options: dict) -> dict:
    """Everything a sweep row depends on except budget and seed (hashed into the cache key)."""
    card = getattr(policy, "card", None) or {}
    listed = [p.to_json() if hasattr(p, "to_json") else repr(p) for p in problems]
    return {
        "strategy": f"{getattr(strategy, '__module__', '')}.{getattr(strategy, '__qualname__', repr(strategy))}",
        "model": {
            "name": getattr(policy, "name", type(policy).__qualname__),
            "weights_sha256": card.get("weights_sha256") if isinstance(card, dict) else None,
        },
        "problems": hashlib.sha256(json.dumps(listed, sort_keys=True, default=repr).encode()).hexdigest(),
        "count": len(problems),
        "options": _identify(options),
    }


def config_key(config: dict) -> str:
    """A cache key for ``config`` (JSON-able): the hash of its JSON with the keys sorted."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


@dataclass
class ReusedCompute:
    """What the cached rows read back during a computation had cost when they were computed:
    their stored ``seconds`` summed over ``rows`` rows (``untimed`` of them were stored
    without a time, by a version of the cache that did not record it)."""

    seconds: float = 0.0
    rows: int = 0
    untimed: int = 0
    _seen: set = field(default_factory=set, repr=False)  # (cache file, key) counted or computed here


_OPEN_TALLIES: list[ReusedCompute] = []


@contextlib.contextmanager
def reused_compute():
    """Tally the compute of the `SweepCache` rows read back inside the ``with`` block, so
    that a result assembled partly from a cache can say what the whole cost
    (`tsc.experiments.run` adds it to the wall time of the part computed now). A row computed
    inside the block and read again is counted once, in the wall time."""
    tally = ReusedCompute()
    _OPEN_TALLIES.append(tally)
    try:
        yield tally
    finally:
        _OPEN_TALLIES.remove(tally)


class SweepCache:
    """Finished sweep rows on disk, one JSON line each, appended (and synced) as they finish.

    ``path`` is a ``.jsonl`` file or a folder (the rows go to ``sweep.jsonl`` inside). Lines
    that cannot be read, such as one cut short when the machine stopped, are skipped. Each
    line also keeps the seconds its row took to compute (from the miss in `get` to its
    `append`, or as given), so a result read back from the cache can still say what it cost
    (`reused_compute`).
    """

    def __init__(self, path: str | Path):
        path = Path(path).expanduser()
        self.path = path if path.suffix == ".jsonl" else path / "sweep.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.rows: dict[str, dict] = {}
        self.seconds: dict[str, float | None] = {}
        self._missed: dict[str, float] = {}  # key -> when `get` missed it (its compute starts)
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                    key, row = entry["key"], entry["row"]
                except (ValueError, KeyError, TypeError):
                    continue
                if isinstance(key, str) and isinstance(row, dict):
                    self.rows[key] = row
                    seconds = entry.get("seconds")
                    self.seconds[key] = float(seconds) if isinstance(seconds, (int, float)) else None

    def get(self, key: str) -> dict | None:
        """The row stored under ``key``, or None (and its compute time starts now)."""
        row = self.rows.get(key)
        if row is None:
            self._missed[key] = time.perf_counter()
            return None
        for tally in _OPEN_TALLIES:
            if (str(self.path), key) not in tally._seen:
                tally._seen.add((str(self.path), key))
                seconds = self.seconds.get(key)
                tally.rows += 1
                if seconds is None:
                    tally.untimed += 1
                else:
                    tally.seconds += seconds
        return row

    def fetch(self, config: dict, compute: Callable[[], dict], *, label: str | None = None) -> dict:
        """The row stored for ``config`` (keyed by `config_key`), or else ``compute()``'s,
        appended as soon as it is finished (and, with ``label``, its wall time printed)."""
        key = config_key(config)
        row = self.get(key)
        if row is None:
            started = time.perf_counter()
            row = compute()
            seconds = time.perf_counter() - started
            self.append(key, config, row, seconds=seconds)
            if label is not None:
                print(f"  {label}: {seconds:.0f} s", flush=True)
        return row

    def append(self, key: str, config: dict, row: dict, *, seconds: float | None = None) -> None:
        """Store ``row`` under ``key``; ``seconds`` (None: the time since `get` missed the
        key, if it did) is what computing it took."""
        missed = self._missed.pop(key, None)
        if seconds is None and missed is not None:
            seconds = time.perf_counter() - missed
        entry = {"key": key, "config": config, "row": row}
        if seconds is not None:
            entry["seconds"] = round(float(seconds), 3)
        line = json.dumps(entry) + "\n"
        with open(self.path, "ab+") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() > 0:  # after a line cut short, start a fresh line
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    line = "\n" + line
            handle.write(line.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        self.rows[key] = row
        self.seconds[key] = entry.get("seconds")
        for tally in _OPEN_TALLIES:  # computed now: its time is in the wall clock already
            tally._seen.add((str(self.path), key))


def auc(scores: Sequence[float] | np.ndarray, labels: Sequence[bool] | np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` against the 0/1 ``labels``: the probability that
    a random positive scores above a random negative, ties counting half (Mann-Whitney U).
    NaN when one class is missing. Arrays of any shape are flattened."""
    from scipy.stats import rankdata

    scores = np.asarray(scores, dtype=float).ravel()
    labels = np.asarray(labels, dtype=bool).ravel()
    if scores.shape != labels.shape:
        raise ValueError(f"scores and labels must have the same size, got {scores.size} and {labels.size}")
    positives = int(labels.sum())
    negatives = labels.size - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = rankdata(scores)  # average ranks for ties
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def calibration(scores: Sequence[float] | np.ndarray, labels: Sequence[bool] | np.ndarray, *, bins: int = 10) -> dict:
    """How well scores read as probabilities: the expected calibration error over ``bins``
    equal-width bins of [0, 1] (the count-weighted mean gap between a bin's mean score and
    its fraction of positives) and the bin table (empty bins are left out)."""
    scores = np.clip(np.asarray(scores, dtype=float).ravel(), 0.0, 1.0)
    labels = np.asarray(labels, dtype=float).ravel()
    if scores.size == 0 or scores.shape != labels.shape:
        raise ValueError(f"need as many labels as scores (at least one), got {scores.size} and {labels.size}")
    which = np.minimum((scores * bins).astype(int), bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        inside = which == b
        count = int(inside.sum())
        if count:
            mean, rate = float(scores[inside].mean()), float(labels[inside].mean())
            ece += count / scores.size * abs(mean - rate)
            table.append({"low": b / bins, "high": (b + 1) / bins, "count": count, "mean_score": mean, "accuracy": rate})
    return {"ece": ece, "bins": table}


def bootstrap_statistic(
    statistic: Callable[[np.ndarray, np.ndarray], float],
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``statistic(scores, labels)`` with a percentile bootstrap interval: (value, low, high).

    Rows (problems) are resampled together, so samples of one problem stay together; a
    resample where the statistic is undefined (NaN) is skipped.
    """
    scores, labels = np.asarray(scores), np.asarray(labels)
    values = resampled(lambda rows: statistic(scores[rows], labels[rows]), len(scores), n_boot=n_boot, seed=seed)
    values = values[~np.isnan(values)]
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail]) if values.size else (float("nan"), float("nan"))
    return statistic(scores, labels), float(low), float(high)


def resampled(statistic: Callable[[np.ndarray], float], count: int, *, n_boot: int, seed: int) -> np.ndarray:
    """``statistic(rows)`` on each of ``n_boot`` bootstrap resamples of ``count`` problems
    (``rows``: their indices, drawn with replacement): a statistic that is not a mean."""
    rng = np.random.default_rng(seed)
    return np.array([statistic(rng.integers(0, count, count)) for _ in range(n_boot)], dtype=float)


# --- the Pareto front ---------------------------------------------------------------------------


def pareto_front(cost: Sequence[float], accuracy: Sequence[float]) -> list[int]:
    """Indices of the points on the Pareto front, cheapest first: the points no other point
    dominates, where a point dominates another when it costs no more (FLOPs, dollars) and is
    at least as accurate, and is strictly better in one of the two.

    The tie rule: identical points (the same cost and accuracy) do not dominate each other, so
    all of them are on the front (listed in their order), and the front does not depend on the
    order the points come in. A point as accurate as a cheaper one, or as cheap as a more
    accurate one, is dominated. Every chapter's front, and its exercises' checkers, use this."""
    cost, accuracy = np.asarray(cost, dtype=float), np.asarray(accuracy, dtype=float)
    if cost.shape != accuracy.shape or cost.ndim != 1:
        raise ValueError(f"cost and accuracy must have one value per point; got shapes {cost.shape} and {accuracy.shape}")
    front: list[int] = []
    for i in np.lexsort((np.arange(len(cost)), -accuracy, cost)):  # cheapest first; the more accurate first among equals
        last = front[-1] if front else None
        if last is None or accuracy[i] > accuracy[last] or (cost[i] == cost[last] and accuracy[i] == accuracy[last]):
            front.append(int(i))
    return front


def pareto(flops: Sequence[float], accuracy: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The FLOPs and accuracy of the points on the front (`pareto_front`), by increasing FLOPs."""
    keep = pareto_front(flops, accuracy)
    return np.asarray(flops, dtype=float)[keep], np.asarray(accuracy, dtype=float)[keep]


def significance(interval) -> str:
    """How a paired difference with its 95 % interval ``(mean, low, high)`` reads in prose: "a
    significant difference" when the interval excludes zero, else "within the noise"."""
    _, low, high = (float(x) for x in interval)
    return "a significant difference" if low > 0 or high < 0 else "within the noise"
