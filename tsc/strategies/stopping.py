"""Adaptive compute for voting: sample in rounds and stop as soon as the vote is decided.

Majority voting (self-consistency) spends ``n`` samples on every question, but on a question
the model finds easy the first few samples already agree, and the rest only confirm them.
`early_stop` draws ``window`` samples at a time and, after each round, stops when either

1. **the vote is decided**: the leading answer cannot be overtaken (nor tied, where a tie
   would go to another answer) by the samples still left of the ``n`` allowed, so majority
   of ``n`` would choose it whatever they say; or
2. **the posterior is sure enough**: with a uniform prior on the leading answer's share
   among the top two, Beta(leader + 1, runner-up + 1), the probability that the leader is
   truly ahead reaches ``threshold`` (the Beta stopping rule of Adaptive-Consistency,
   Aggarwal et al. 2023), computed exactly (`lead_fraction`). Li et al. 2024's ESC is a
   different rule: it stops when the latest window of samples is unanimous, whatever came
   before, while the Beta rule reads the counts of the whole vote.

Rule 1 alone (``threshold=1``) never changes an answer: `early_stop` then returns exactly
majority of ``n``'s answer on the same samples, with fewer of them drawn. Each round draws
samples ``k, k+1, ...`` of the problem's own random stream (``offset`` in `Policy.sample`),
so the samples are the ones a single call of ``n`` would have drawn, and the comparison
with `majority_vote` at the same seed is exact, problem by problem (`draw_more` draws one
problem's next samples the same way, for the strategies that decide sample by sample).

`stop_when_decided` is the baseline every cleverer controller must beat (Chapter 8): rule 1
checked after every sample, or, with ``lead``, stopping as soon as the leader is ``lead``
votes ahead of the runner-up (the agreement rule of Li et al. 2024's ESC in its simplest
form, which may differ from the full vote).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from tsc.compute import Ledger
from tsc.core import Completion, Policy, Problem, Result, is_real
from tsc.strategies.base import batch_prompts, check_knobs, check_problem, is_int, make_result
from tsc.votes import majority_choice

DEFAULT_THRESHOLD = 0.95  # Adaptive-Consistency's Beta rule uses 0.95
DEFAULT_WINDOW = 4  # samples drawn per round


def check_stopping(*, threshold=None, window=None) -> None:
    """Raise a ValueError naming the stopping knob that is out of range, and its range."""
    if threshold is not None and (not is_real(threshold) or not 0.5 <= threshold <= 1):
        raise ValueError(
            f"threshold must be a probability from 0.5 to 1 (the leader's posterior chance of being ahead; "
            f"1 stops only when the vote is decided), got {threshold!r}"
        )
    if window is not None and (not is_int(window) or window < 1):
        raise ValueError(f"window (samples drawn per round) must be a positive integer, got {window!r}")


def tally(keys: Sequence[str | None]) -> dict[str, int]:
    """Votes per answer key, in order of first appearance (malformed samples, None, do not vote)."""
    counts: dict[str, int] = {}
    for key in keys:
        if key is not None:
            counts[key] = counts.get(key, 0) + 1
    return counts


def lead_fraction(leader: int, runner_up: int) -> Fraction:
    """P(the leading answer is truly more likely than the runner-up | their votes), exactly.

    With a uniform prior on the leader's share of the two, the share is
    Beta(leader + 1, runner_up + 1), and P(share > 1/2) = P(Binomial(m, 1/2) <= leader) with
    m = leader + runner_up + 1: a sum of binomial coefficients over 2^m, computed in integers.
    ``lead_fraction(4, 0)`` is 31/32 (four agreeing samples), ``lead_fraction(3, 1)`` is 13/16,
    ``lead_fraction(1, 0)`` is 3/4. Exactness matters: a stopping threshold is compared with
    these values, and a float that lands a hair below 3/4 decides whether one sample is a vote.
    """
    if not (is_int(leader) and is_int(runner_up)) or leader < 0 or runner_up < 0:
        raise ValueError(f"leader and runner_up must be vote counts (integers >= 0), got {leader!r} and {runner_up!r}")
    m = int(leader) + int(runner_up) + 1
    total, term = 0, 1  # term = C(m, j), updated in integers
    for j in range(int(leader) + 1):
        total += term
        term = term * (m - j) // (j + 1)
    return Fraction(total, 2**m)


def lead_probability(leader: int, runner_up: int) -> float:
    """`lead_fraction` as the nearest float (for tables and traces; rules compare the fraction)."""
    return float(lead_fraction(leader, runner_up))


def attainable(n: int) -> list[Fraction]:
    """Every value `lead_fraction` takes with at most ``n`` votes in all: a threshold equal to
    one of them decides on a tie of exact arithmetic, so a grid of thresholds avoids them."""
    return sorted({lead_fraction(a, b) for total in range(1, n + 1) for a in range(total + 1) for b in range(total - a + 1) if a >= b})


def decided(counts: dict[str, int], remaining: int) -> bool:
    """Whether majority voting over the votes ``counts`` (`tally`, in order of first
    appearance) plus ``remaining`` more samples must choose the answer leading now, whatever
    the remaining samples say (ties go to the answer seen first, as in
    `tsc.votes.majority_choice`)."""
    if not counts:
        return remaining == 0
    order = list(counts)  # first appearance, which breaks ties
    lead = max(counts.values())
    leader = order.index(next(key for key in order if counts[key] == lead))
    for place, key in enumerate(order):
        # another answer wins if every remaining sample goes to it and it passes, or ties and came first
        if place != leader and (counts[key] + remaining > lead or (counts[key] + remaining == lead and place < leader)):
            return False
    # an answer not seen yet could take every remaining sample; a tie would go to the leader (seen first)
    return remaining <= lead


def should_stop(keys: Sequence[str | None], *, n: int, threshold: float) -> bool:
    """Whether `early_stop`, having drawn ``keys`` of at most ``n`` samples, stops now: the
    budget is spent, the vote is decided, or (``threshold`` < 1) the leader's posterior
    chance of being ahead of the runner-up has reached ``threshold``."""
    if len(keys) >= n or decided(tally(keys), n - len(keys)):
        return True
    if threshold >= 1:
        return False
    votes = sorted(tally(keys).values(), reverse=True) + [0, 0]
    return votes[0] > 0 and lead_fraction(votes[0], votes[1]) >= Fraction(threshold)  # exact: no rounding decides


def stop_point(keys: Sequence[str | None], *, n: int, threshold: float = DEFAULT_THRESHOLD, window: int = DEFAULT_WINDOW) -> int:
    """How many samples `early_stop` draws when its samples' answer keys are ``keys`` (the
    first ``n`` of a longer draw): replays the rounds on stored samples, the same rule."""
    check_knobs(n=n)
    check_stopping(threshold=threshold, window=window)
    if len(keys) < n:
        raise ValueError(f"stop_point needs the keys of all n={n} samples the strategy may draw, got {len(keys)}")
    drawn = 0
    while True:
        drawn = min(n, drawn + window)
        if should_stop(keys[:drawn], n=n, threshold=threshold):
            return drawn


def early_stop(
    problem: Problem,
    policy: Policy,
    *,
    n: int,
    threshold: float = DEFAULT_THRESHOLD,
    window: int = DEFAULT_WINDOW,
    temperature: float = 1.0,
    seed: int = 0,
    max_new_tokens: int = 64,
) -> Result:
    """Majority voting that stops sampling once the vote is decided (see the module's docs).

    ``n`` is the most samples it may draw, ``window`` how many per round, ``threshold`` the
    posterior probability that the leading answer is ahead at which it stops (1: only when
    the vote is decided, which always gives majority of ``n``'s answer). The answer is the
    majority of the samples drawn; ``trace`` holds how many (``samples``), in how many
    ``rounds``, why it stopped (``"decided"``, ``"posterior"`` or ``"budget"``) and the final
    ``lead_probability``.
    """
    return early_stop_many(
        [problem], policy, seeds=[seed], n=n, threshold=threshold, window=window, temperature=temperature, max_new_tokens=max_new_tokens
    )[0]


def early_stop_many(
    problems: list,
    policy: Policy,
    *,
    seeds: list[int],
    n: int,
    threshold: float = DEFAULT_THRESHOLD,
    window: int = DEFAULT_WINDOW,
    temperature: float = 1.0,
    max_new_tokens: int = 64,
) -> list[Result]:
    """`early_stop` on many problems, each round one policy call for the problems still
    voting: the same samples, answers and ledgers as one problem at a time."""
    check_knobs(n=n, temperature=temperature, max_new_tokens=max_new_tokens)
    check_stopping(threshold=threshold, window=window)
    prompts = batch_prompts(problems, policy, seeds)
    ledgers = [Ledger() for _ in problems]
    texts: list[list[str]] = [[] for _ in problems]
    keys: list[list[str | None]] = [[] for _ in problems]
    rounds = [0] * len(problems)
    active, drawn = list(range(len(problems))), 0
    while active:
        # 1. the next round of every problem still voting: samples drawn..drawn+size-1 of its stream
        size = min(window, n - drawn)
        rows = policy.sample(
            [prompts[i] for i in active], n=size, temperature=temperature, seed=[seeds[i] for i in active],
            offset=drawn, max_new_tokens=max_new_tokens, ledger=[ledgers[i] for i in active],
        )  # fmt: skip
        drawn += size
        for i, row in zip(active, rows):
            texts[i] += [c.text for c in row]
            keys[i] += [problems[i].answer_key(c.text) for c in row]
            rounds[i] += 1
        # 2. a problem stops when its vote is decided or its leader is probably ahead
        active = [i for i in active if not should_stop(keys[i], n=n, threshold=threshold)]
    results = []
    for problem, drawn_texts, row_keys, ledger, count in zip(problems, texts, keys, ledgers, rounds):
        votes = tally(row_keys)
        ranked = sorted(votes.values(), reverse=True) + [0, 0]
        why = "decided" if decided(votes, n - len(row_keys)) and len(row_keys) < n else "budget" if len(row_keys) >= n else "posterior"
        trace = {"samples": len(drawn_texts), "rounds": count, "stopped": why, "lead_probability": lead_probability(ranked[0], ranked[1])}
        scores = [float(votes[k]) if k is not None else 0.0 for k in row_keys]
        results.append(make_result(problem, drawn_texts, majority_choice(row_keys), scores, ledger, "early_stop", trace))
    return results


# --- one sample at a time ---------------------------------------------------------------------------


def draw_more(
    problem: Problem, policy: Policy, *, start: int, count: int, temperature: float, seed: int, max_new_tokens: int, ledger: Ledger
) -> list[Completion]:
    """Samples ``start`` to ``start + count - 1`` of ``problem``'s stream under ``seed``: the
    same completions as positions ``start...`` of one call drawing ``start + count``."""
    prompt = policy.format(problem)
    try:
        [row] = policy.sample(
            [prompt], n=count, temperature=temperature, seed=[seed], offset=start, max_new_tokens=max_new_tokens, ledger=ledger
        )
    except TypeError as error:
        if "offset" not in str(error):
            raise
        raise ValueError(
            f"{type(policy).__name__}.sample takes no offset=: drawing one round at a time needs a policy that can continue "
            "a prompt's random stream (tsc.lm.policy.LocalPolicy can)"
        ) from None
    return list(row)


def _check_lead(lead) -> None:
    if lead is not None and (not is_int(lead) or lead < 1):
        raise ValueError(f"lead (votes the leader must be ahead of the runner-up) must be an integer >= 1 or None, got {lead!r}")


def _stops(counts: dict[str, int], remaining: int, lead: int | None) -> bool:
    if decided(counts, remaining):
        return True
    if lead is None or not counts:
        return False
    votes = sorted(counts.values(), reverse=True) + [0]
    return votes[0] - votes[1] >= lead


def stop_when_decided(
    problem: Problem,
    policy: Policy,
    *,
    n: int,
    lead: int | None = None,
    temperature: float = 1.0,
    seed: int = 0,
    max_new_tokens: int = 64,
) -> Result:
    """Majority voting over at most ``n`` samples that stops as soon as the vote is decided,
    or (with ``lead``) once the leader is ``lead`` votes ahead of the runner-up.

    Without ``lead`` the answer is always majority voting's over ``n`` samples with the same
    seed, usually for fewer samples. Each round draws the fewest samples that could end the
    vote (a round of one where one sample could), so the samples and the answer are those of
    drawing one at a time. ``trace["samples"]`` is how many were drawn.
    """
    check_knobs(n=n, temperature=temperature, seed=seed, max_new_tokens=max_new_tokens)
    _check_lead(lead)
    check_problem(problem, policy)
    ledger = Ledger()
    texts: list[str] = []
    keys: list[str | None] = []
    while len(texts) < n and not _stops(tally(keys), n - len(texts), lead):
        counts = tally(keys)
        # the fewest further samples after which the rule could fire (all going to the leader)
        step = 1
        while len(texts) + step < n:
            best = dict(counts)
            top = max(best, key=lambda k: best[k]) if best else "?"
            best[top] = best.get(top, 0) + step
            if _stops(best, n - len(texts) - step, lead):
                break
            step += 1
        row = draw_more(
            problem, policy, start=len(texts), count=step, temperature=temperature, seed=seed, max_new_tokens=max_new_tokens, ledger=ledger
        )
        for completion in row:
            texts.append(completion.text)
            keys.append(problem.answer_key(completion.text))
            if _stops(tally(keys), n - len(texts), lead):
                break
    votes = [float(keys.count(key)) if key is not None else 0.0 for key in keys]
    return make_result(problem, texts, majority_choice(keys), votes, ledger, "stop_when_decided", {"samples": len(texts)})
