"""Checkers for the exercises of Chapter 6, Self-Refinement and Verification."""

from __future__ import annotations

from collections.abc import Callable

from tsc.exercises.feedback import NOT_ATTEMPTED, Feedback, as_number, call, show

# --- Exercise 6.1: one score from a process reward model's step scores ---------------------

AGGREGATE_CASES: list[tuple[list[float], str, float]] = [
    ([0.9, 0.8, 0.95], "min", 0.8),
    ([0.9, 0.8, 0.95], "last", 0.95),
    ([0.9, 0.8, 0.95], "product", 0.9 * 0.8 * 0.95),
    ([0.2], "min", 0.2),
    ([0.2], "last", 0.2),
    ([0.2], "product", 0.2),
    ([0.99, 0.1, 0.99, 0.99], "min", 0.1),
    ([0.99, 0.1, 0.99, 0.99], "last", 0.99),
    ([0.5, 0.5, 0.5, 0.5], "product", 0.0625),
    ([], "min", 0.0),
    ([], "last", 0.0),
    ([], "product", 0.0),
]


def check_aggregate(fn: Callable) -> Feedback:
    """Compare a student's ``fn(step_scores, how)`` with min / last / product aggregation
    (0.0 for a completion with no steps)."""
    if fn is None:
        return NOT_ATTEMPTED
    if not callable(fn):
        return Feedback("incorrect", f"Expected a function aggregate(step_scores, how); got {show(fn)}.")
    results = []
    for scores, how, _ in AGGREGATE_CASES:
        value, error = call(fn, list(scores), how)
        if error:
            return Feedback("incorrect", f"aggregate({scores}, {how!r}) raised {error}.")
        results.append(value)
    if all(r is None for r in results):
        return NOT_ATTEMPTED
    for (scores, how, expected), value in zip(AGGREGATE_CASES, results):
        number = as_number(value)
        if number is None:
            return Feedback("incorrect", f"aggregate({scores}, {how!r}) should return one number; got {show(value)}.")
        if abs(number - expected) > 1e-9:
            hint = " A completion with no steps has nothing to vouch for it: score it 0." if not scores else ""
            return Feedback("incorrect", f"aggregate({scores}, {how!r}): expected {expected:.4g}, got {number:.4g}.{hint}")
    return Feedback("correct", f"Correct on all {len(AGGREGATE_CASES)} cases: min, last and product, and the empty completion.")


# --- Exercise 6.2: the area under the ROC curve ---------------------------------------------


def _auc_cases() -> list[tuple[list[float], list[bool]]]:
    import random

    rng = random.Random(6)
    cases = [
        ([0.9, 0.8, 0.3, 0.1], [True, True, False, False]),  # perfect ranking: 1.0
        ([0.1, 0.3, 0.8, 0.9], [True, True, False, False]),  # reversed: 0.0
        ([0.5, 0.5, 0.5, 0.5], [True, False, True, False]),  # all tied: 0.5
        ([0.7, 0.7, 0.2], [True, False, False]),  # one tie between classes counts half
    ]
    for size in (10, 40):
        labels = [rng.random() < 0.4 for _ in range(size)]
        labels[0], labels[1] = True, False
        cases.append(([round(rng.random(), 1) for _ in range(size)], labels))  # rounding makes ties
    return cases


def check_auc(fn: Callable) -> Feedback:
    """Compare a student's ``fn(scores, labels)`` with the AUC (ties count half)."""
    from tsc.analysis import auc

    if fn is None:
        return NOT_ATTEMPTED
    if not callable(fn):
        return Feedback("incorrect", f"Expected a function auc(scores, labels); got {show(fn)}.")
    cases = _auc_cases()
    results = []
    for scores, labels in cases:
        value, error = call(fn, list(scores), list(labels))
        if error:
            return Feedback("incorrect", f"auc({scores[:4]}..., {labels[:4]}...) raised {error}.")
        results.append(value)
    if all(r is None for r in results):
        return NOT_ATTEMPTED
    for (scores, labels), value in zip(cases, results):
        number = as_number(value)
        expected = auc(scores, labels)
        shown = f"scores {scores}, labels {[int(x) for x in labels]}" if len(scores) <= 6 else f"{len(scores)} scores"
        if number is None:
            return Feedback("incorrect", f"For {shown} expected one number between 0 and 1; got {show(value)}.")
        if abs(number - expected) > 1e-9:
            hint = " Count a tie between a correct and a wrong completion as half a win." if len(set(scores)) < len(scores) else ""
            return Feedback("incorrect", f"For {shown} expected {expected:.4f}, got {number:.4f}.{hint}")
    return Feedback("correct", f"Correct on all {len(cases)} cases, ties included.")


# --- Exercise 6.3: the weighted vote ---------------------------------------------------------

WEIGHTED_CASES: list[tuple[list, list[float], int | None, str]] = [
    (["a", "b", "a", "c"], [0.1, 0.9, 0.1, 0.3], 1, "one trusted sample outweighs two doubted ones"),
    (["a", "b", "a", "a"], [0.4, 0.9, 0.4, 0.4], 0, "three samples at 0.4 outweigh one at 0.9 (the first of equal members)"),
    (["a", "a", "b"], [0.2, 0.7, 0.8], 1, "the winning key's best-scored member is returned"),
    ([None, "b", None], [0.9, 0.1, 0.9], 1, "a malformed sample (key None) has no vote"),
    ([None, None], [0.5, 0.5], None, "no sample has a key: no answer"),
    (["x", "y"], [0.5, 0.5], 0, "a tie between keys goes to the key seen first"),
]


def check_weighted_vote(fn: Callable) -> Feedback:
    """Compare a student's ``fn(keys, scores) -> index or None`` with the weighted vote."""
    if fn is None:
        return NOT_ATTEMPTED
    if not callable(fn):
        return Feedback("incorrect", f"Expected a function weighted_vote(keys, scores); got {show(fn)}.")
    results = []
    for keys, scores, _, _ in WEIGHTED_CASES:
        value, error = call(fn, list(keys), list(scores))
        if error:
            return Feedback("incorrect", f"weighted_vote({keys}, {scores}) raised {error}.")
        results.append(value)
    if all(r is None for r in results):
        return NOT_ATTEMPTED
    for (keys, scores, expected, what), value in zip(WEIGHTED_CASES, results):
        if expected is None:
            if value is not None:
                return Feedback("incorrect", f"weighted_vote({keys}, {scores}): {what}, so expected None; got {show(value)}.")
            continue
        number = as_number(value)
        if number is None or number != int(number):
            return Feedback("incorrect", f"weighted_vote({keys}, {scores}) should return an index (an int); got {show(value)}.")
        if int(number) != expected:
            return Feedback("incorrect", f"weighted_vote({keys}, {scores}): {what}; expected index {expected}, got {int(number)}.")
    return Feedback("correct", f"Correct on all {len(WEIGHTED_CASES)} cases.")
