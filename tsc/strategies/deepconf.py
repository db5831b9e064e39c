"""DeepConf: vote with the traces the model was sure of, and stop writing the others.

Fu et al. (2025), *Deep Think with Confidence*. A sampler's log-probabilities say how sure
the model was at every token. A token's **confidence** is minus the mean of the ``top_logprobs``
largest log-probabilities of its next-token distribution (`tsc.core.token_confidence`): high
when the mass sits on a few tokens. A trace's **group confidence** is the mean over a sliding
window of ``group`` tokens, and a trace is scored by its **lowest** group (the weakest stretch
of its reasoning) or by its **tail** (the last ``group`` tokens, where the answer is written);
a trace shorter than the window is scored by the mean of all its tokens, as the paper's code
does.

- **Offline** (``online=False``): draw ``n`` traces, keep those whose confidence reaches the
  (1 − ``keep``) quantile of the traces' confidences (the most confident ``keep`` share), and
  vote among them, each weighted by its confidence.
- **Online** (the default): draw ``warmup`` traces in full; the (1 − ``keep``) quantile of
  their confidences is the threshold s. Warm-up traces at or above s vote. Then draw
  ``per_round`` traces at a time, each cut off as it is written once a window of its tokens
  falls below s (`Policy.sample`'s ``confidence_stop``; a cut trace costs only what it wrote
  and does not vote), until the leader holds at least ``consensus`` of the vote's weight or
  ``n`` traces were drawn.

Every round draws the next samples of the problem's own random stream (``offset``), so the
traces are prefixes of those majority voting with the same seed draws, and the comparison
with it is paired sample for sample. The paper's setting is long traces (thousands of tokens,
a window of 2,048), a warm-up of 16 and budgets of 512; Chapter 7's traces are a few dozen
tokens with a budget of 16, so the warm-up, the window and ``keep`` are chosen on a dev split
there. A policy that cannot cut as it writes (a server) writes the trace whole, and the ledger
pays for all of it; the trace is still treated as cut.
"""

from __future__ import annotations

import math
from typing import Any

from tsc.compute import Ledger
from tsc.core import Completion, Policy, Problem, Result, confidence_cut, is_int, is_real, token_confidence, window_means
from tsc.strategies.base import batch_prompts, check_knobs, make_result
from tsc.votes import weighted_choice

MEASURES = ("lowest", "tail")


def check_deepconf(*, n=None, warmup=None, keep=None, group=None, top_logprobs=None, consensus=None, per_round=None, measure=None) -> None:
    """Raise a ValueError naming the DeepConf knob that is out of range, and its range."""

    def share(x) -> bool:
        return is_real(x) and 0 < x <= 1

    for name, value in (("group", group), ("top_logprobs", top_logprobs), ("per_round", per_round)):
        if value is not None and (not is_int(value) or value < 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if warmup is not None and (not is_int(warmup) or warmup < 1 or (n is not None and warmup > n)):
        raise ValueError(f"warmup (traces drawn before the threshold is set) must be an integer from 1 to n={n}, got {warmup!r}")
    if keep is not None and not share(keep):
        raise ValueError(f"keep (the share of most confident traces that vote) must be in (0, 1], got {keep!r}")
    if consensus is not None and not (share(consensus) and consensus > 0.5):
        raise ValueError(f"consensus (the leader's share of the weighted vote that stops sampling) must be in (0.5, 1], got {consensus!r}")
    if measure is not None and measure not in MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}, got {measure!r}")


def trace_confidence(top_logprobs, *, group: int, measure: str = "lowest") -> float:
    """A trace's confidence from its tokens' ``top_logprobs``: its lowest window mean, or its
    tail's mean (the last ``group`` tokens); the mean of all tokens when it is shorter."""
    confidences = [token_confidence(top) for top in top_logprobs]
    if not confidences:
        return 0.0
    if len(confidences) < group:
        return sum(confidences) / len(confidences)
    if measure == "tail":
        return sum(confidences[-group:]) / group
    return min(window_means(confidences, group))


def quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` with linear interpolation between order statistics
    (numpy's default), written out so that a replay computes the same float."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def deepconf(
    problem: Problem,
    policy: Policy,
    *,
    n: int,
    online: bool = True,
    warmup: int = 4,
    keep: float = 0.9,
    group: int = 8,
    top_logprobs: int = 5,
    measure: str = "lowest",
    consensus: float = 0.95,
    per_round: int = 2,
    temperature: float = 1.0,
    seed: int = 0,
    max_new_tokens: int = 64,
) -> Result:
    """DeepConf on one problem (see the module's docs): at most ``n`` traces, online by default.

    ``trace`` holds how many traces were drawn (``samples``), how many were cut off (``cut``),
    the threshold (``threshold``; offline: the quantile that kept the voters), each trace's
    confidence (``confidences``) and whether it voted (``voted``), the ``rounds`` and why it
    stopped (``"consensus"`` or ``"budget"``).
    """
    return deepconf_many(
        [problem], policy, seeds=[seed], n=n, online=online, warmup=warmup, keep=keep, group=group, top_logprobs=top_logprobs,
        measure=measure, consensus=consensus, per_round=per_round, temperature=temperature, max_new_tokens=max_new_tokens,
    )[0]  # fmt: skip


def deepconf_many(
    problems: list,
    policy: Policy,
    *,
    seeds: list[int],
    n: int,
    online: bool = True,
    warmup: int = 4,
    keep: float = 0.9,
    group: int = 8,
    top_logprobs: int = 5,
    measure: str = "lowest",
    consensus: float = 0.95,
    per_round: int = 2,
    temperature: float = 1.0,
    max_new_tokens: int = 64,
) -> list[Result]:
    """`deepconf` on many problems, each round one policy call for the problems still
    sampling: the same traces, answers and ledgers as one problem at a time."""
    check_knobs(n=n, temperature=temperature, max_new_tokens=max_new_tokens)
    check_deepconf(n=n, warmup=warmup, keep=keep, group=group, top_logprobs=top_logprobs, consensus=consensus, per_round=per_round,
                   measure=measure)  # fmt: skip
    prompts = batch_prompts(problems, policy, seeds)
    ledgers = [Ledger() for _ in problems]
    traces: list[list[Completion]] = [[] for _ in problems]
    thresholds = [0.0] * len(problems)  # set from each problem's warm-up (offline: from all its traces)
    rounds = [0] * len(problems)

    def draw(active: list[int], count: int, stop: bool) -> None:
        cut: dict[str, Any] = {"confidence_stop": (group, [thresholds[i] for i in active])} if stop else {}  # one threshold per prompt
        rows = policy.sample(
            [prompts[i] for i in active], n=count, temperature=temperature, seed=[seeds[i] for i in active],
            offset=len(traces[active[0]]), max_new_tokens=max_new_tokens, ledger=[ledgers[i] for i in active],
            top_logprobs=top_logprobs, **cut,
        )  # fmt: skip
        for i, row in zip(active, rows):
            if any(len(c.top_logprobs) != len(c.token_logprobs) or not c.top_logprobs for c in row):
                raise ValueError(f"{type(policy).__name__} returned no top_logprobs: DeepConf reads the model's log-probabilities")
            traces[i] += row
            rounds[i] += 1

    # 1. the warm-up (online) or every trace (offline), in one call for all problems
    draw(list(range(len(problems))), warmup if online else n, stop=False)
    for i in range(len(problems)):
        scores = [trace_confidence(c.top_logprobs, group=group, measure=measure) for c in traces[i]]
        thresholds[i] = quantile(scores, 1 - keep)

    # 2. online: more traces, cut below the threshold, until the weighted vote is decided
    def going(i: int) -> bool:  # the budget is not spent and the weighted vote is not decided
        return len(traces[i]) < n and _share(_vote(problems[i], traces[i], thresholds[i], group, measure, warm=warmup)[-1]) < consensus

    active = [i for i in range(len(problems)) if online and going(i)]
    while active:  # the problems still sampling have drawn equally many traces
        draw(active, min(per_round, n - len(traces[active[0]])), stop=True)
        active = [i for i in active if going(i)]
    results = []
    for i, problem in enumerate(problems):
        row = traces[i]
        confidences, voted, cut, weights, chosen, votes = _vote(problem, row, thresholds[i], group, measure, warm=warmup if online else n)
        decided = _share(votes) >= consensus
        trace = {
            "samples": len(row), "cut": sum(cut), "threshold": thresholds[i], "confidences": confidences, "voted": voted,
            "rounds": rounds[i], "stopped": "consensus" if decided and len(row) < n else "budget", "online": online,
        }  # fmt: skip
        results.append(make_result(problem, [c.text for c in row], chosen, weights, ledgers[i], "deepconf", trace))
    return results


def _vote(problem, row: list[Completion], threshold: float, group: int, measure: str, *, warm: int) -> tuple:
    """Each trace's confidence, whether it votes, whether it was cut off and its weight; the
    chosen trace and each answer key's weight. A warm-up (or offline) trace votes when its
    confidence reaches the threshold; a later trace votes unless it was cut, by the sampler or
    (a policy that cannot cut) by the same rule here."""
    confidences, voted, cut = [], [], []
    for j, c in enumerate(row):
        confidences.append(trace_confidence(c.top_logprobs, group=group, measure=measure))
        at = confidence_cut(c.top_logprobs, group, threshold) if j >= warm else None
        cut.append(j >= warm and (c.cut_off or (at is not None and at < c.num_tokens)))
        voted.append(confidences[-1] >= threshold if j < warm else not cut[-1])
    weights = [s if v else 0.0 for s, v in zip(confidences, voted)]
    chosen, votes = weighted_choice([problem.answer_key(c.text) if v else None for c, v in zip(row, voted)], weights)
    return confidences, voted, cut, weights, chosen, votes


def _share(votes: dict[str, float]) -> float:
    """The leader's share of the weighted vote (0 when nobody voted)."""
    total = sum(votes.values())
    return max(votes.values()) / total if total > 0 else 0.0
