"""Parallel strategies: draw completions independently, then choose one.

greedy and sample are the baselines (one completion); best_of_n asks a verifier to pick among
n samples; majority_vote (self-consistency, Wang et al. 2022) picks the answer most samples
agree on, with no verifier at all. Each takes a problem and a policy, keyword-only knobs, and
returns a `Result` whose ledger holds exactly what the policy and verifier spent.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from tsc.compute import Ledger
from tsc.core import Result


def _draw(problem, policy, *, n: int, temperature: float, seed: int, max_new_tokens: int, ledger: Ledger) -> list[str]:
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n (the number of samples) must be a positive integer, got {n!r}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature!r}")
    [row] = policy.sample([policy.format(problem)], n=n, temperature=temperature, seed=seed, max_new_tokens=max_new_tokens, ledger=ledger)
    return [c.text for c in row]


def _result(problem, texts: list[str], chosen: int | None, scores: list[float], ledger: Ledger, strategy: str) -> Result:
    answer = texts[chosen] if chosen is not None else None
    return Result(
        answer=answer,
        correct=answer is not None and problem.check(answer),
        ledger=ledger,
        candidates=tuple(texts),
        scores=tuple(scores),
        chosen=chosen,
        strategy=strategy,
    )


def majority_choice(keys: Sequence[str | None], rng: random.Random | None = None) -> int | None:
    """Index of a completion whose key got the most votes (None if no completion has a key).

    Ties go to the key seen first, or to a random one of them when ``rng`` is given.
    """
    tally: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        if key is not None:
            tally.setdefault(key, []).append(index)
    if not tally:
        return None
    best = max(len(v) for v in tally.values())
    leaders = [v for v in tally.values() if len(v) == best]
    return (rng.choice(leaders) if rng else leaders[0])[0]


def greedy(problem, policy, *, max_new_tokens: int = 64, **_ignored) -> Result:
    """The single most likely completion (temperature 0): the no-extra-thinking baseline."""
    ledger = Ledger()
    texts = _draw(problem, policy, n=1, temperature=0.0, seed=0, max_new_tokens=max_new_tokens, ledger=ledger)
    return _result(problem, texts, 0, [1.0], ledger, "greedy")


def sample(problem, policy, *, temperature: float = 1.0, seed: int = 0, max_new_tokens: int = 64, **_ignored) -> Result:
    """One completion sampled at ``temperature``: what each of best-of-N's draws looks like."""
    ledger = Ledger()
    texts = _draw(problem, policy, n=1, temperature=temperature, seed=seed, max_new_tokens=max_new_tokens, ledger=ledger)
    return _result(problem, texts, 0, [1.0], ledger, "sample")


def best_of_n(problem, policy, *, n: int, verifier, temperature: float = 1.0, seed: int = 0, max_new_tokens: int = 64) -> Result:
    """Sample ``n`` completions and return the one the verifier scores highest (first on ties).

    With the oracle as verifier this measures coverage (pass@n): the problem counts as solved
    if any sample is correct.
    """
    if verifier is None:
        raise ValueError("best_of_n needs a verifier (e.g. tsc.verifiers.Oracle())")
    ledger = Ledger()
    texts = _draw(problem, policy, n=n, temperature=temperature, seed=seed, max_new_tokens=max_new_tokens, ledger=ledger)
    scores = [float(s) for s in verifier.score(problem, texts, ledger=ledger)]
    chosen = max(range(n), key=lambda i: (scores[i], -i))
    return _result(problem, texts, chosen, scores, ledger, "best_of_n")


def majority_vote(problem, policy, *, n: int, temperature: float = 1.0, seed: int = 0, max_new_tokens: int = 64) -> Result:
    """Sample ``n`` completions and return one whose answer key got the most votes.

    The key comes from the task (`problem.answer_key`): the final number for arithmetic, the
    canonical expression for Countdown. Malformed completions do not vote; if none is
    well formed the answer is None. Ties go to the key that appeared first.
    """
    ledger = Ledger()
    texts = _draw(problem, policy, n=n, temperature=temperature, seed=seed, max_new_tokens=max_new_tokens, ledger=ledger)
    keys = [problem.answer_key(t) for t in texts]
    votes = [float(sum(k == key for k in keys)) if key is not None else 0.0 for key in keys]
    return _result(problem, texts, majority_choice(keys), votes, ledger, "majority_vote")
