"""Sampling in rounds, and the simplest rule for when to stop.

An adaptive strategy looks at what it has drawn before it decides whether to draw more.
`draw_more` draws the next samples of a problem from the problem's own random stream
(`tsc.lm.Policy.sample` with a list of seeds and an ``offset``), so the first k samples an
adaptive strategy draws are exactly the first k that `majority_vote` with the same seed
draws in one call. An adaptive strategy and a fixed-n vote then differ only in when they
stop, and can be compared sample for sample.

`stop_when_decided` is the baseline that every cleverer controller must beat: majority
voting over at most ``n`` samples that stops as soon as the vote is decided (the leader can
no longer be overtaken by the samples left, so the answer is the one majority voting over all
``n`` would give), or, with ``lead``, as soon as the leader is ``lead`` votes ahead of the
runner-up (an answer-agreement rule in the spirit of Adaptive-Consistency and of
early-stopping self-consistency, which may differ from the full vote).
"""

from __future__ import annotations

from tsc.compute import Ledger
from tsc.core import Completion, Policy, Result
from tsc.strategies.parallel import check_knobs, check_problem, is_int, make_result
from tsc.tasks.base import Problem
from tsc.votes import majority_choice


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
            "a prompt's random stream (tsc.lm.Policy can)"
        ) from None
    return list(row)


def tally(keys: list[str | None]) -> dict[str, int]:
    """Votes per answer key, in order of first appearance (malformed samples, key None, do not vote)."""
    counts: dict[str, int] = {}
    for key in keys:
        if key is not None:
            counts[key] = counts.get(key, 0) + 1
    return counts


def vote_decided(counts: dict[str, int], remaining: int) -> bool:
    """Whether majority voting's answer can no longer change when ``remaining`` more samples
    come: no other key, seen or not, can reach the leader's votes (a tie goes to the key seen
    first, as in `tsc.votes.majority_choice`). ``counts`` in order of first appearance."""
    if not counts:
        return remaining == 0
    keys = list(counts)
    leader = max(keys, key=lambda k: (counts[k], -keys.index(k)))
    lead, first = counts[leader], keys.index(leader)
    if remaining > lead:  # a key not seen yet could still collect more votes than the leader
        return False
    for i, key in enumerate(keys):
        if key != leader and (counts[key] + remaining > lead or (counts[key] + remaining == lead and i < first)):
            return False
    return True


def _check_lead(lead) -> None:
    if lead is not None and (not is_int(lead) or lead < 1):
        raise ValueError(f"lead (votes the leader must be ahead of the runner-up) must be an integer >= 1 or None, got {lead!r}")


def _stops(counts: dict[str, int], remaining: int, lead: int | None) -> bool:
    if vote_decided(counts, remaining):
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
    while len(texts) < n:
        counts = tally(keys)
        # the fewest further samples after which the rule could fire (all going to the leader)
        step = 1
        while len(texts) + step < n:
            best = dict(counts)
            top = max(best, key=best.get) if best else "?"
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
        if _stops(tally(keys), n - len(texts), lead):
            break
    votes = [float(keys.count(key)) if key is not None else 0.0 for key in keys]
    return make_result(problem, texts, majority_choice(keys), votes, ledger, "stop_when_decided", {"samples": len(texts)})
