"""Samples drawn once, scored by verifiers, and charged the way best-of-N charges them.

Best-of-k, weighted voting and majority voting at every k <= n can all be estimated from one
table of n samples per problem (`tsc.analysis.best_of_accuracy` and friends). To put those
curves on the book's one FLOPs axis, the table must cost what `tsc.strategies.best_of_n`
costs: the prompt is read once for all samples, and a reward model whose trunk is the
policy's own layers takes those layers' hidden states from the policy and computes only its
own top (`tsc.strategies.reuse`). `draw_scored` draws the samples and scores them inside the
same caches, with each problem on its own seed (`tsc.core.problem_seed`), so its texts are
those `best_of_n` draws for the same problem and seed and its ledgers are the ones
`best_of_n` would charge.

`ScoredTable.flops(k, verifier)` is then the FLOPs per problem of choosing among k samples:
the prompt once, plus k times the mean cost of writing one sample and, with a verifier,
of scoring it. The cost of a sample does not depend on which other samples are drawn
(tests check this against `best_of_n`'s own ledgers).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tsc.analysis import SampleTable
from tsc.compute import Ledger
from tsc.core import JudgesSamples, SharesPrefixes, problem_seed
from tsc.strategies.reuse import prefix_caches


@dataclass(frozen=True)
class ScoredTable:
    """A `SampleTable` with every sample's step scores by each verifier, and what they cost.

    ``steps[name][i][j]`` are verifier ``name``'s step scores of sample j of problem i;
    ``prompt_flops[i]`` the policy FLOPs of reading problem i's prompt; ``sample_flops[i]`` the
    mean policy FLOPs of writing one of its samples; ``verifier_flops[name][i]`` the mean FLOPs
    verifier ``name`` spent on one of them (with the policy's work shared where it can be).
    """

    table: SampleTable
    steps: dict[str, list[list[list[float]]]]
    prompt_flops: np.ndarray
    sample_flops: np.ndarray
    verifier_flops: dict[str, np.ndarray]

    def scores(self, name: str, how: str = "min") -> np.ndarray:
        """One score per sample (problems × n): verifier ``name``'s step scores combined by
        ``how`` (``"min"``, ``"last"`` or ``"product"``; 0 for a sample with no step)."""
        from tsc.strategies.search import AGGREGATES

        if name not in self.steps:
            raise ValueError(f"no verifier {name!r} in this table; it has {', '.join(self.steps) or 'none'}")
        if how not in AGGREGATES:
            raise ValueError(f"how must be one of {', '.join(map(repr, AGGREGATES))}, got {how!r}")
        combine = AGGREGATES[how]
        return np.array([[combine(s) if s else 0.0 for s in row] for row in self.steps[name]], dtype=float)

    def flops(self, k: float, verifier: str | None = None) -> np.ndarray:
        """FLOPs per problem (an array over problems) of drawing k samples and, with
        ``verifier``, scoring each: the prompt once, then k samples (and k verifier reads)."""
        per_sample = self.sample_flops + (self.verifier_flops[verifier] if verifier is not None else 0.0)
        return self.prompt_flops + k * per_sample

    def subset(self, mask: Sequence[bool] | np.ndarray) -> ScoredTable:
        """The rows where ``mask`` is true."""
        rows = np.flatnonzero(np.asarray(mask, dtype=bool))
        return ScoredTable(
            table=self.table.subset(mask),
            steps={name: [s[i] for i in rows] for name, s in self.steps.items()},
            prompt_flops=self.prompt_flops[rows],
            sample_flops=self.sample_flops[rows],
            verifier_flops={name: v[rows] for name, v in self.verifier_flops.items()},
        )


def draw_scored(
    problems: Sequence,
    policy,
    verifiers: Mapping[str, object],
    *,
    n: int,
    seed: int = 0,
    temperature: float = 1.0,
    max_new_tokens: int = 64,
    chunk: int = 256,
) -> ScoredTable:
    """Draw ``n`` samples for each problem (problem ``p`` on seed ``problem_seed(seed, p)``),
    grade them with the oracle and score them with every verifier in ``verifiers`` (name ->
    verifier), each problem inside the prefix caches, as `tsc.strategies.best_of_n` runs it.
    A verifier with ``score_steps`` gives every step's score; one without gives its one score
    per sample as a one-step list (the self verifier from the samples' own log-probabilities,
    free, as best-of-N scores them: `tsc.core.JudgesSamples`). Up to ``chunk`` samples
    (of several problems) are drawn in one policy call, inside one cache; each problem still
    draws from its own seed and is charged to its own ledger, so the texts and costs are those
    of one call per problem."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    for name, verifier in verifiers.items():
        if not callable(getattr(verifier, "score", None)):
            raise ValueError(f"verifier {name!r} must have score(problem, texts, ledger=...), e.g. a PRM; got {verifier!r}")
    problems = list(problems)
    texts, policy_ledgers = [], []
    steps: dict[str, list] = {name: [] for name in verifiers}
    verifier_ledgers: dict[str, list[Ledger]] = {name: [] for name in verifiers}
    shares = isinstance(policy, SharesPrefixes) and any(isinstance(v, SharesPrefixes) for v in verifiers.values())
    step = max(1, chunk // n)  # problems per policy call: their samples share one batch and one cache
    for start in range(0, len(problems), step):
        group = problems[start : start + step]
        ledgers = [Ledger() for _ in group]
        with prefix_caches(policy, only_to_share=not shares):
            rows = policy.sample(
                [policy.format(p) for p in group],
                n=n,
                temperature=temperature,
                seed=[problem_seed(seed, p) for p in group],
                max_new_tokens=max_new_tokens,
                ledger=ledgers,
            )
            for problem, row in zip(group, rows):
                row_texts = [c.text for c in row]
                for name, verifier in verifiers.items():
                    charged = Ledger()
                    with prefix_caches(policy, verifier, policy_open=True):
                        if callable(getattr(verifier, "score_steps", None)):
                            scored = verifier.score_steps(problem, row_texts, ledger=charged)
                        elif isinstance(verifier, JudgesSamples):  # the self verifier: free, from the samples' log-probabilities
                            scored = [[s] for s in verifier.score_samples(problem, row, ledger=charged)]
                        else:  # one score per sample: a one-step list
                            scored = [[s] for s in verifier.score(problem, row_texts, ledger=charged)]
                    steps[name].append([[float(s) for s in one] for one in scored])
                    verifier_ledgers[name].append(charged)
                texts.append((row_texts, row))
        policy_ledgers += ledgers
    rows = [row for _, row in texts]
    all_texts = tuple(tuple(t) for t, _ in texts)
    total = Ledger()
    for ledger in policy_ledgers:
        total = total + ledger
    table = SampleTable(
        problems=tuple(problems),
        texts=all_texts,
        keys=tuple(tuple(p.answer_key(t) for t in row) for p, row in zip(problems, all_texts)),
        correct=np.array([[p.check(t) for t in row] for p, row in zip(problems, all_texts)], dtype=bool).reshape(len(problems), n),
        tokens=np.array([[c.num_tokens for c in row] for row in rows]).reshape(len(problems), n),
        logprobs=np.array([[c.logprob for c in row] for row in rows]).reshape(len(problems), n),
        temperature=temperature,
        seed=seed,
        ledger=total,
    )
    if callable(getattr(policy, "flops", None)) and callable(getattr(policy, "encode", None)):
        prompt_flops = np.array([float(policy.flops(len(policy.encode([policy.format(p)])[0]), 0)) for p in problems])
    else:  # a policy that cannot price a prompt (a scripted fake): its tokens' share of the FLOPs
        prompt_flops = np.array([ledger.policy_flops * ledger.prompt_tokens / max(1, ledger.tokens) for ledger in policy_ledgers])
    sample_flops = np.array([(ledger.policy_flops - pf) / n for ledger, pf in zip(policy_ledgers, prompt_flops)])
    verifier_flops = {name: np.array([ledger.verifier_flops / n for ledger in ledgers]) for name, ledgers in verifier_ledgers.items()}
    return ScoredTable(table=table, steps=steps, prompt_flops=prompt_flops, sample_flops=sample_flops, verifier_flops=verifier_flops)


def priced(table: SampleTable, policy) -> ScoredTable:
    """``table`` (drawn by `tsc.analysis.draw` from ``policy``) with what each problem's
    prompt and samples cost, so that ``.flops(k)`` charges k samples as the prompt once plus
    k samples' own FLOPs (no verifier). Each sample is priced by its own length,
    ``policy.flops(prompt, written) − policy.flops(prompt, 0)``; the totals equal the
    table's ledger whenever each prompt was read once (a ValueError says when not: the
    table was drawn by another policy, or in chunks that re-read prompts)."""
    if not (callable(getattr(policy, "flops", None)) and callable(getattr(policy, "encode", None))):
        raise ValueError(f"priced needs a policy that can price a prompt (flops and encode), e.g. tsc.load_policy(); got {policy!r}")
    lengths = [len(ids) for ids in policy.encode([policy.format(p) for p in table.problems])]
    prompt_flops = np.array([float(policy.flops(length, 0)) for length in lengths])
    sample_flops = np.array(
        [np.mean([policy.flops(length, int(t)) - policy.flops(length, 0) for t in row]) for length, row in zip(lengths, table.tokens)]
    )
    total = prompt_flops.sum() + table.n * sample_flops.sum()
    if table.ledger.policy_flops and not math.isclose(total, table.ledger.policy_flops, rel_tol=1e-9):
        raise ValueError(
            f"the table's ledger charged {table.ledger.policy_flops:.6g} FLOPs but its prompts and samples price at {total:.6g}: "
            "price a table with the policy that drew it, drawn with each prompt read once"
        )
    return ScoredTable(table=table, steps={}, prompt_flops=prompt_flops, sample_flops=sample_flops, verifier_flops={})


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
    _, level = np.unique(-scores, return_inverse=True)  # level 0 holds the highest score
    members = np.bincount(level)
    right = np.bincount(level, weights=correct.astype(float), minlength=len(members))
    subsets = math.comb(n, k)
    above, chance = 0, 0.0
    for m, c in zip(members.tolist(), right.tolist()):
        top_here = math.comb(n - above, k) - math.comb(n - above - m, k)  # subsets whose best is this level
        chance += top_here / subsets * (c / m)
        above += m
    return chance


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
    _, level = np.unique(-scores, return_inverse=True)
    levels = np.unique(-scores)  # -score of each level, highest score first
    members = np.bincount(level)
    right = np.bincount(level, weights=correct.astype(float), minlength=len(members))
    subsets, above, chance = math.comb(n, m), 0, 0.0
    for value, count, c in zip((-levels).tolist(), members.tolist(), right.tolist()):
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
    from tsc.analysis import auc

    values = [auc(row, ok) for row, ok in zip(np.asarray(scores), np.asarray(correct)) if 0 < ok.sum() < len(ok)]
    return float(np.mean(values)) if values else float("nan")


def verifier_quality(scores: Mapping[str, np.ndarray], correct: np.ndarray, *, n_boot: int = 300) -> dict[str, dict]:
    """For each verifier's scores (problems × samples): the AUC over all samples and within a
    problem, each with a bootstrap interval over problems, and the calibration error."""
    from tsc.analysis import auc, bootstrap_statistic, calibration

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


def localisation(scored: ScoredTable, verifier: str, labels: Sequence[Sequence[Sequence[float]]], threshold: float) -> dict[str, float]:
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
            if scored.table.correct[i, j]:
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
