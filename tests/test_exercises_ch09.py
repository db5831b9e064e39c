"""Chapter 9's exercise checkers: the reference solutions pass, the placeholders read as not
attempted, and the wrong answers a class is most likely to write are each rejected with a
message that points at the mistake (the mistakes live beside the checkers, in
`tsc.exercises.ch09`, and are what the chapter's self-tests run too)."""

from __future__ import annotations

import numpy as np
import pytest

from tsc import synthesis
from tsc.exercises import check_choice, check_half_width, check_undominated, selftest
from tsc.exercises.ch09 import (
    CHOICE_MISTAKES,
    HALF_WIDTH_MISTAKES,
    UNDOMINATED_MISTAKES,
    ref_choice,
    ref_half_width,
    ref_undominated,
)


def toy_task():
    names = [("greedy", "single", [1, 0, 0, 0, 1, 0], 1e8), ("best_of_n 8", "parallel", [1, 1, 0, 1, 1, 0], 5e8),
             ("beam 4x4", "search", [1, 1, 1, 1, 1, 0], 2e9), ("thinker", "adaptive", [1, 1, 1, 1, 1, 1], 4e8)]  # fmt: skip
    rows = [{"name": n, "strategy": n.split()[0], "family": f, "knobs": {}, "correct": c, "flops": [x] * 6} for n, f, c, x in names]
    return {"model": "m", "verifier": "prm", "problems": [[[1, 2], 3]] * 6, "sizes": [3] * 6, "rows": rows}


def map_points(seed=0, n=30):
    """A map-sized set of strategies with dollars and seconds, ties and twins included."""
    rng = np.random.default_rng(seed)
    points = [
        {"name": f"s{i}", "family": "parallel", "accuracy": float(rng.choice([0.2, 0.25, 0.3, 0.35, 0.4])),
         "flops": float(rng.choice([1e8, 3e8, 1e9])), "dollars": float(rng.choice([1e-5, 2e-5, 5e-5])),
         "seconds": float(rng.choice([0.1, 0.3, 1.0]))}
        for i in range(n)
    ]  # fmt: skip
    points.append(dict(points[0], name="twin of s0"))
    return points


# --- 9.1 -------------------------------------------------------------------------------------


def test_half_width_reference_and_placeholder():
    assert check_half_width(lambda *args: None).status == "not attempted"
    assert check_half_width(None).status == "not attempted"
    assert check_half_width(ref_half_width).correct


@pytest.mark.parametrize("name", HALF_WIDTH_MISTAKES)
def test_half_width_mistakes_are_named(name):
    wrong, words = HALF_WIDTH_MISTAKES[name]
    feedback = check_half_width(wrong)
    assert feedback.status == "incorrect" and all(w in feedback.message for w in words), feedback.message


# --- 9.2 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_undominated_reference_agrees_with_the_package(seed):
    points = map_points(seed)
    assert ref_undominated(points) == [points[i]["name"] for i in synthesis.undominated(points)]


def test_undominated_reference_and_placeholder():
    assert check_undominated(lambda *args: None).status == "not attempted"
    assert check_undominated(None).status == "not attempted"
    assert check_undominated(ref_undominated).correct
    assert check_undominated(lambda pts: list(reversed(ref_undominated(pts)))).correct  # any order
    assert check_undominated(lambda pts: tuple(ref_undominated(pts))).correct
    feedback = check_undominated(ref_undominated, map_points())
    assert feedback.correct and "FLOPs alone" in feedback.message, feedback.message


@pytest.mark.parametrize("name", UNDOMINATED_MISTAKES)
def test_undominated_mistakes_are_named(name):
    wrong, words = UNDOMINATED_MISTAKES[name]
    for points in (None, map_points()):
        feedback = check_undominated(wrong, points)
        assert feedback.status == "incorrect" and all(w in feedback.message for w in words), feedback.message


def test_undominated_on_the_map_alone_catches_a_wrong_answer_there():
    points = map_points(1)
    wrong = {"name": "right on the small cases, wrong on the map"}

    def sneaky(pts):  # the reference, except on a map-sized input
        return ref_undominated(pts)[:-1] if len(pts) > 10 else ref_undominated(pts)

    feedback = check_undominated(sneaky, points)
    assert feedback.status == "incorrect" and "the map's" in feedback.message, (wrong, feedback.message)


# --- 9.3 -------------------------------------------------------------------------------------


def test_choice_reference_and_placeholder():
    assert check_choice(lambda *args: None).status == "not attempted"
    assert check_choice(ref_choice).correct
    feedback = check_choice(ref_choice, toy_task())
    assert feedback.correct and "other half" in feedback.message and "hindsight" in feedback.message


@pytest.mark.parametrize("name", CHOICE_MISTAKES)
def test_choice_mistakes_are_named(name):
    wrong, words = CHOICE_MISTAKES[name]
    feedback = check_choice(wrong, toy_task())
    assert feedback.status == "incorrect" and all(w in feedback.message for w in words), feedback.message


@pytest.mark.parametrize("name, context", [("ex-9-1", {}), ("ex-9-2", {"points": map_points()}), ("ex-9-3", {"task": toy_task()})])
def test_the_chapters_self_tests_pass(name, context):
    assert selftest(name, **context).startswith(name)
