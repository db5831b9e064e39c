"""Checkers for the exercises of Chapter 9, Synthesis: What Inference Scaling Teaches About the
Nature of Thinking."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from tsc.analysis import pareto_front
from tsc.exercises.feedback import NOT_ATTEMPTED, Feedback, as_number, call, show
from tsc.synthesis import best_fixed, halves, summarize

# --- Exercise 9.1: the noise on the map -------------------------------------------------------

HALF_WIDTH_CASES: list[tuple[float, int]] = [(0.3, 500), (0.5, 100), (0.05, 180), (0.9, 1000), (0.62, 60)]


def _half_width(p: float, n: int, z: float = 1.96) -> float:
    return z * math.sqrt(p * (1 - p) / n)


def check_half_width(fn: Callable) -> Feedback:
    """Compare ``fn(accuracy, problems)`` with the half-width of the 95 % normal-approximation
    interval of a share, 1.96 · sqrt(p (1 − p) / n)."""
    if fn is None:
        return NOT_ATTEMPTED
    if not callable(fn):
        return Feedback("incorrect", f"Expected a function half_width(accuracy, problems); got {show(fn)}.")
    values = []
    for p, n in HALF_WIDTH_CASES:
        value, error = call(fn, p, n)
        if error:
            return Feedback("incorrect", f"half_width({p}, {n}) raised {error}.")
        values.append(value)
    if all(v is None for v in values):
        return NOT_ATTEMPTED
    for (p, n), value in zip(HALF_WIDTH_CASES, values):
        number = as_number(value)
        if number is None:
            return Feedback("incorrect", f"half_width({p}, {n}) should return one number; got {show(value)}.")
        expected = _half_width(p, n)
        if math.isclose(number, expected, rel_tol=1e-6):
            continue
        where = f"half_width({p}, {n}): expected {expected:.4f}, got {number:.4f}."
        if math.isclose(number, expected / 1.96, rel_tol=1e-6):
            return Feedback("incorrect", f"{where} That is one standard error; a 95 % interval reaches 1.96 standard errors either side.")
        if math.isclose(number, _half_width(p, n, 1.645), rel_tol=1e-3):
            return Feedback("incorrect", f"{where} 1.645 standard errors make a 90 % interval; a 95 % one needs 1.96.")
        if math.isclose(number, 1.96 * p * (1 - p) / n, rel_tol=1e-6) or math.isclose(number, p * (1 - p) / n, rel_tol=1e-6):
            return Feedback("incorrect", f"{where} p (1 − p) / n is the variance of the share; take its square root first.")
        if math.isclose(number, 1.96 * math.sqrt(p / n), rel_tol=1e-6) or math.isclose(number, 1.96 * math.sqrt((1 - p) / n), rel_tol=1e-6):
            return Feedback("incorrect", f"{where} The variance of a share is p (1 − p) / n: both p and 1 − p belong in it.")
        return Feedback("incorrect", f"{where} Use 1.96 × sqrt(p × (1 − p) / n).")
    p, n = HALF_WIDTH_CASES[0]
    return Feedback(
        "correct",
        f"Correct on all {len(HALF_WIDTH_CASES)} cases: at {p:.0%} solved on {n} problems the interval is ±{_half_width(p, n):.1%}, "
        "so two strategies a point or two apart on the map are within the noise unless compared problem by problem.",
    )


# --- Exercise 9.2: the Pareto front -----------------------------------------------------------

FRONT_CASES: list[tuple[list[float], list[float]]] = [
    ([1e8, 2e8, 4e8, 8e8], [0.2, 0.3, 0.25, 0.4]),  # a dearer, worse point in the middle
    ([5e8, 1e8, 3e8, 9e8, 2e8], [0.5, 0.1, 0.45, 0.5, 0.3]),  # unsorted; a dearer point only as good
    ([1e8, 1e8, 2e8], [0.3, 0.2, 0.35]),  # equal FLOPs, the worse of the two dropped
    ([2e8, 1e8, 2e8], [0.4, 0.3, 0.4]),  # identical twins: neither dominates the other, both on the front
    ([3e8, 1e9, 1e7], [0.6, 0.55, 0.1]),  # the cheapest is on the front however bad
    ([2e8], [0.4]),  # one point
    ([1e8, 2e8, 3e8, 4e8, 5e8], [0.9, 0.8, 0.7, 0.6, 0.5]),  # only the first
]


def check_front(fn: Callable) -> Feedback:
    """Compare ``fn(flops, accuracy)`` with the indices of the Pareto front in order of FLOPs
    (`tsc.analysis.pareto_front`)."""
    if fn is None:
        return NOT_ATTEMPTED
    if not callable(fn):
        return Feedback("incorrect", f"Expected a function front(flops, accuracy); got {show(fn)}.")
    answers = []
    for flops, accuracy in FRONT_CASES:
        value, error = call(fn, list(flops), list(accuracy))
        if error:
            return Feedback("incorrect", f"front({flops}, {accuracy}) raised {error}.")
        answers.append(value)
    if all(a is None for a in answers):
        return NOT_ATTEMPTED
    for (flops, accuracy), value in zip(FRONT_CASES, answers):
        expected = pareto_front(flops, accuracy)
        where = f"For flops {flops} and accuracy {accuracy}: expected the indices {expected}, got {show(value)}."
        try:
            got = [int(i) for i in value]
            if any(float(i) != int(i) for i in value):
                raise ValueError
        except (TypeError, ValueError):
            return Feedback("incorrect", f"{where} Return a list of indices (ints) into the points, cheapest first.")
        if got == expected:
            continue
        if sorted(got) == sorted(expected):
            return Feedback("incorrect", f"{where} Right points, wrong order: list them from the cheapest to the dearest.")
        if set(got) > set(expected):
            return Feedback(
                "incorrect",
                f"{where} Your front keeps a point that another beats: drop a point when some point has at least its "
                "accuracy at no more FLOPs (a dearer point only as accurate is not on the front).",
            )
        twins = [i for i in set(expected) - set(got) if any(j != i and (flops[j], accuracy[j]) == (flops[i], accuracy[i]) for j in got)]
        if set(got) < set(expected) and twins:
            return Feedback(
                "incorrect",
                f"{where} Your front drops the identical twin of a point on it: two points with the same FLOPs and "
                "accuracy do not beat each other, so both are on the front (`tsc.analysis.pareto_front`'s tie rule).",
            )
        if set(got) < set(expected):
            return Feedback(
                "incorrect",
                f"{where} Your front misses a point nothing beats: the cheapest point is always on it, and so is every "
                "point more accurate than all cheaper ones.",
            )
        return Feedback("incorrect", f"{where} Sort by FLOPs and keep a point when it is more accurate than every cheaper one.")
    return Feedback("correct", f"Correct on all {len(FRONT_CASES)} cases, ties and unsorted points included.")


# --- Exercise 9.3: choose on one half, report on the other ------------------------------------


def _choice_cases() -> list[tuple[list[dict], float]]:
    def point(name, family, accuracy, flops):
        return {
            "name": name,
            "strategy": name.split()[0],
            "family": family,
            "accuracy": accuracy,
            "low": accuracy,
            "high": accuracy,
            "flops": flops,
            "problems": 100,
        }

    rows = [
        point("greedy", "single", 0.2, 7e7),
        point("best_of_n 8", "parallel", 0.33, 6e8),
        point("beam 4x4", "search", 0.36, 1.2e9),  # better but over the budget
        point("self_refine 4", "sequential", 0.31, 4e8),
        point("compute_optimal", "adaptive", 0.4, 6.5e8),  # adaptive: not a fixed strategy
    ]
    thrifty = [  # the cheapest is poor value, and a middling one the best value per FLOP
        point("sample", "single", 0.01, 5e7),
        point("majority 4", "parallel", 0.3, 2e8),
        point("best_of_n 16", "parallel", 0.38, 6e8),
    ]
    return [(thrifty, 7e8), (rows, 7e8), (rows, 1e8), (rows, 5e9), (rows[::-1], 7e8)]


def _held_out(task: dict, budget: float, name: str, seed: int = 0) -> dict:
    choose, report = halves(task, seed=seed)
    dev, test = summarize(task, mask=choose), summarize(task, mask=report)
    chosen = next(p for p in test if p["name"] == name)
    hindsight = test[best_fixed(test, budget)]
    return {"dev": dev, "chosen": chosen, "hindsight": hindsight}


def check_choice(fn: Callable, task: dict | None = None, *, budget: float = 7e8) -> Feedback:
    """Compare ``fn(points, budget)`` (the name of the most accurate fixed strategy at no more
    than ``budget`` mean FLOPs per problem) with `tsc.synthesis.best_fixed` on small cases and,
    given a map ``task``, on one half of its problems; the choice is then scored on the other
    half, against the best fixed strategy chosen there with hindsight."""
    if fn is None:
        return NOT_ATTEMPTED
    if not callable(fn):
        return Feedback("incorrect", f"Expected a function choose(points, budget); got {show(fn)}.")
    cases = _choice_cases()
    if task is not None:
        choose, _ = halves(task, seed=0)
        cases.append((summarize(task, mask=choose), budget))
    answers = []
    for points, b in cases:
        value, error = call(fn, [dict(p) for p in points], b)
        if error:
            return Feedback("incorrect", f"choose(points, {b:.3g}) raised {error}.")
        answers.append(value)
    if all(a is None for a in answers):
        return NOT_ATTEMPTED
    for (points, b), value in zip(cases, answers):
        names = [p["name"] for p in points]
        expected = points[best_fixed(points, b)]
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and 0 <= value < len(points):
            return Feedback(
                "incorrect", f"choose(points, {b:.3g}) returned the index {value}; return the point's name, e.g. {expected['name']!r}."
            )
        if value not in names:
            return Feedback("incorrect", f"choose(points, {b:.3g}) should return one of the names {names}; got {show(value)}.")
        got = points[names.index(value)]
        if got["accuracy"] == expected["accuracy"] and got["flops"] <= b and got["family"] != "adaptive":
            continue
        where = f"At {b:.3g} FLOPs per problem you chose {value!r}; the best fixed strategy within budget is {expected['name']!r}."
        if got["family"] == "adaptive":
            return Feedback("incorrect", f"{where} {value!r} is adaptive, not a fixed strategy: leave out the rows of family 'adaptive'.")
        if got["flops"] > b:
            return Feedback("incorrect", f"{where} {value!r} spends {got['flops']:.3g} FLOPs per problem, over the budget.")
        if got["flops"] == min(p["flops"] for p in points):
            return Feedback("incorrect", f"{where} You took the cheapest strategy; take the most accurate one the budget allows.")
        return Feedback(
            "incorrect",
            f"{where} Compare accuracy, not accuracy per FLOP: any strategy within the budget is affordable, "
            "and the most accurate of them wins.",
        )
    if task is None:
        return Feedback("correct", f"Correct on all {len(cases)} cases.")
    result = _held_out(task, budget, answers[-1])
    c, h = result["chosen"], result["hindsight"]
    d = next(p for p in result["dev"] if p["name"] == c["name"])
    return Feedback(
        "correct",
        f"Correct. Chosen on half the problems: {c['name']!r}, which solved {d['accuracy']:.1%} there; on the other half it solves "
        f"{c['accuracy']:.1%} "
        f"({c['low']:.1%} to {c['high']:.1%}) at {c['flops']:.2g} FLOPs, against {h['accuracy']:.1%} for {h['name']!r}, "
        "the best fixed strategy there chosen with hindsight.",
    )


__all__ = ["check_choice", "check_front", "check_half_width"]
