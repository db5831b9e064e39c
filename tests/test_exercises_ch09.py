"""Chapter 9's exercise checkers: the reference solutions pass, the placeholders read as not
attempted, and the wrong answers a student is most likely to write are each rejected with a
message that points at the mistake."""

from __future__ import annotations

import math

import pytest

from tsc.analysis import pareto_front
from tsc.exercises import check_choice, check_front, check_half_width


def ref_half_width(accuracy, problems):
    return 1.96 * math.sqrt(accuracy * (1 - accuracy) / problems)


def ref_front(flops, accuracy):
    order = sorted(range(len(flops)), key=lambda i: (flops[i], -accuracy[i]))
    front = []
    for i in order:
        twin = front and (flops[i], accuracy[i]) == (flops[front[-1]], accuracy[front[-1]])
        if not front or accuracy[i] > accuracy[front[-1]] or twin:
            front.append(i)
    return front


def drops_twins(flops, accuracy):  # the strict > alone: of two identical points only the first
    front = []
    for i in sorted(range(len(flops)), key=lambda i: (flops[i], -accuracy[i])):
        if not front or accuracy[i] > accuracy[front[-1]]:
            front.append(i)
    return front


def ref_choice(points, budget):
    fixed = [p for p in points if p["family"] != "adaptive" and p["flops"] <= budget]
    return max(fixed, key=lambda p: (p["accuracy"], -p["flops"]))["name"]


def toy_task():
    names = [("greedy", "single", [1, 0, 0, 0, 1, 0], 1e8), ("best_of_n 8", "parallel", [1, 1, 0, 1, 1, 0], 5e8),
             ("beam 4x4", "search", [1, 1, 1, 1, 1, 0], 2e9), ("thinker", "adaptive", [1, 1, 1, 1, 1, 1], 4e8)]  # fmt: skip
    rows = [{"name": n, "strategy": n.split()[0], "family": f, "knobs": {}, "correct": c, "flops": [x] * 6} for n, f, c, x in names]
    return {"model": "m", "verifier": "prm", "problems": [[[1, 2], 3]] * 6, "sizes": [3] * 6, "rows": rows}


# --- 9.1 -------------------------------------------------------------------------------------


def test_half_width_reference_and_placeholder():
    assert check_half_width(lambda *args: None).status == "not attempted"
    assert check_half_width(None).status == "not attempted"
    assert check_half_width(ref_half_width).correct


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda p, n: math.sqrt(p * (1 - p) / n), "standard error"),
        (lambda p, n: 1.645 * math.sqrt(p * (1 - p) / n), "90 %"),
        (lambda p, n: 1.96 * p * (1 - p) / n, "square root"),
        (lambda p, n: 1.96 * math.sqrt(p / n), "1 − p"),
        (lambda p, n: "0.04", "one number"),
        (lambda p, n: 1 / 0, "raised"),
    ],
)
def test_half_width_mistakes_are_named(wrong, hint):
    feedback = check_half_width(wrong)
    assert feedback.status == "incorrect" and hint in feedback.message


# --- 9.2 -------------------------------------------------------------------------------------


def test_front_reference_and_placeholder():
    assert check_front(lambda *args: None).status == "not attempted"
    assert check_front(ref_front).correct
    assert check_front(lambda f, a: pareto_front(f, a)).correct


def keep_all(flops, accuracy):
    return sorted(range(len(flops)), key=lambda i: flops[i])


def keep_ties(flops, accuracy):  # >= instead of >: a dearer point only as good stays
    front = []
    for i in sorted(range(len(flops)), key=lambda i: (flops[i], -accuracy[i])):
        if not front or accuracy[i] >= accuracy[front[-1]]:
            front.append(i)
    return front


def by_accuracy(flops, accuracy):
    return sorted(ref_front(flops, accuracy), key=lambda i: -accuracy[i])


def values(flops, accuracy):
    return [accuracy[i] for i in ref_front(flops, accuracy)]


def best_only(flops, accuracy):
    return [max(range(len(flops)), key=lambda i: (accuracy[i], -flops[i]))]


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (keep_all, "keeps a point that another beats"),
        (keep_ties, "only as accurate"),
        (drops_twins, "identical twin"),
        (by_accuracy, "wrong order"),
        (values, "indices"),
        (best_only, "cheapest point is always on it"),
        (lambda f, a: 3, "indices"),
    ],
)
def test_front_mistakes_are_named(wrong, hint):
    feedback = check_front(wrong)
    assert feedback.status == "incorrect" and hint in feedback.message, feedback.message


# --- 9.3 -------------------------------------------------------------------------------------


def test_choice_reference_and_placeholder():
    assert check_choice(lambda *args: None).status == "not attempted"
    assert check_choice(ref_choice).correct
    feedback = check_choice(ref_choice, toy_task())
    assert feedback.correct and "other half" in feedback.message and "hindsight" in feedback.message


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda pts, b: max((p for p in pts if p["family"] != "adaptive"), key=lambda p: p["accuracy"])["name"], "over the budget"),
        (lambda pts, b: max((p for p in pts if p["flops"] <= b), key=lambda p: p["accuracy"])["name"], "adaptive"),
        (lambda pts, b: min(pts, key=lambda p: p["flops"])["name"], "cheapest"),
        (
            lambda pts, b: max((p for p in pts if p["family"] != "adaptive" and p["flops"] <= b), key=lambda p: p["accuracy"] / p["flops"])[
                "name"
            ],
            "per FLOP",
        ),
        (lambda pts, b: [p["name"] for p in pts].index(ref_choice(pts, b)), "index"),
        (lambda pts, b: "the best one", "one of the names"),
    ],
)
def test_choice_mistakes_are_named(wrong, hint):
    feedback = check_choice(wrong, toy_task())
    assert feedback.status == "incorrect" and hint in feedback.message, feedback.message
