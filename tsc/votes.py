"""The votes themselves: which completion a majority or a weighted vote picks.

Torch-free and on the ground floor, so the strategies (`tsc.strategies.parallel`) and the
analysis that replays votes on stored samples (`tsc.analysis`) run the very same code.
"""

from __future__ import annotations

import random
from collections.abc import Sequence


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


def weighted_choice(keys: Sequence[str | None], scores: Sequence[float], rng: random.Random | None = None) -> tuple[int | None, dict]:
    """The weighted vote itself: (index of the chosen completion, each key's total score).

    A key's weight is the sum of its completions' scores; the heaviest key wins (the first
    seen on ties, or a random one of them when ``rng`` is given) and the answer is its
    highest-scoring completion (the first of them on ties). None when no completion has a key.
    """
    weights: dict[str, float] = {}  # insertion order = first appearance, which breaks ties
    for key, score in zip(keys, scores):
        if key is not None:
            weights[key] = weights.get(key, 0.0) + score
    if not weights:
        return None, weights
    heaviest = max(weights.values())
    leaders = [key for key, weight in weights.items() if weight == heaviest]
    winner = rng.choice(leaders) if rng else leaders[0]
    members = [i for i, key in enumerate(keys) if key == winner]
    return max(members, key=lambda i: (scores[i], -i)), weights
