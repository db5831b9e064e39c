"""Chapter 4's exercise checkers: the reference passes, placeholders read "not attempted", and
the wrong answers students most likely write are rejected with a message that names the
mistake (never an exception)."""

from __future__ import annotations

import math

import pytest

from tsc.exercises import check_allocation_choice, check_break_even, check_chinchilla, check_exchange
from tsc.exercises.ch04 import best_allocation, reference_break_even, reference_exchange

# --- 4.1 Chinchilla -------------------------------------------------------------------------


def test_chinchilla_reference_and_placeholder():
    assert check_chinchilla(lambda n: (20 * n, 6 * n * 20 * n)).correct
    assert check_chinchilla(None).status == "not attempted"
    assert check_chinchilla(lambda n: None).status == "not attempted"


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda n: (20 * n, 2 * n * 20 * n), "forward pass"),  # the inference rule, 2N per token
        (lambda n: (n / 20, 6 * n * n / 20), "per parameter"),  # the ratio upside down
        (lambda n: (20 * n, 6 * n * 20), "C = 6·N·D = 120·N²"),  # 20 tokens, not 20 per parameter
        (lambda n: (20 * n, 6 * n), "one training token"),  # per token, not per run
        (lambda n: 6 * n * 20 * n, "two numbers"),  # flops only
        (lambda n: 1 / 0, "ZeroDivisionError"),
        ("120 N^2", "Expected a function"),
    ],
)
def test_chinchilla_wrong_answers(wrong, hint):
    feedback = check_chinchilla(wrong)
    assert feedback.status == "incorrect" and hint in feedback.message, feedback.message


# --- 4.2 exchange rate ----------------------------------------------------------------------


def test_exchange_reference_and_placeholder():
    assert check_exchange(reference_exchange).correct
    assert check_exchange(lambda *a: None).status == "not attempted"
    assert math.isclose(reference_exchange(1e12, 6e8, 1e14, 6e6), 10.0)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda ts, ss, tb, sb: ss / sb, "per 10×"),  # not normalised per decade of training
        (lambda ts, ss, tb, sb: (sb / ss) ** (1 / math.log10(tb / ts)), "Upside down"),
        (lambda ts, ss, tb, sb: (ss / sb) ** (1 / math.log(tb / ts)), "log base 10"),
        (lambda ts, ss, tb, sb: "10x", "one number"),
    ],
)
def test_exchange_wrong_answers(wrong, hint):
    feedback = check_exchange(wrong)
    assert feedback.status == "incorrect" and hint in feedback.message, feedback.message


# --- 4.3 break-even -------------------------------------------------------------------------


def test_break_even_reference_and_placeholder():
    assert check_break_even(reference_break_even).correct
    assert check_break_even(lambda *a: None).status == "not attempted"
    assert reference_break_even(1e12, 1e9, 1e13, 1e8) == pytest.approx(1e4)


def test_break_even_accepts_a_whole_number_of_queries():
    def ceiling(ta, qa, tb, qb):  # the first query from which B is no dearer
        return math.inf if qb >= qa else math.ceil((tb - ta) / (qa - qb))

    assert check_break_even(ceiling).correct
    assert check_break_even(lambda *case: float(ceiling(*case))).correct


def test_break_even_rounded_down_is_named_and_the_numbers_differ_on_the_page():
    feedback = check_break_even(lambda ta, qa, tb, qb: math.inf if qb >= qa else math.floor((tb - ta) / (qa - qb)))
    assert feedback.status == "incorrect" and "Rounded down" in feedback.message, feedback.message
    assert "17,052.63158" in feedback.message and "17,053" in feedback.message  # enough digits to see the difference


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda ta, qa, tb, qb: (tb - ta) / (qa - qb), "return math.inf"),  # no check: a division by zero, or a negative volume
        (lambda ta, qa, tb, qb: (tb - ta) / (qa - qb) if qa != qb else math.inf, "never catches up"),  # negative for dearer queries
        (lambda ta, qa, tb, qb: tb / qa if qb < qa else math.inf, "count what A spent"),
        (lambda ta, qa, tb, qb: (tb - ta) / qa if qb < qa else math.inf, "each query saves only the difference"),
        (lambda ta, qa, tb, qb: (tb + ta) / (qa - qb) if qb < qa else math.inf, "the trainings subtract"),
        (lambda ta, qa, tb, qb: -1 if qb >= qa else (tb - ta) / (qa - qb), "return math.inf"),
        (lambda ta, qa, tb, qb: "never", "a number of queries"),
    ],
)
def test_break_even_wrong_answers(wrong, hint):
    feedback = check_break_even(wrong)
    assert feedback.status == "incorrect" and hint in feedback.message, feedback.message


# --- 4.4 allocation by size -----------------------------------------------------------------

TABLE = {
    3: {"greedy": (0.55, 1e8), "best_of_n 4": (0.62, 4e8), "beam 4x2": (0.60, 6e8)},
    4: {"greedy": (0.16, 1e8), "best_of_n 4": (0.28, 4e8), "beam 4x2": (0.36, 7e8)},
    5: {"greedy": (0.08, 1e8), "best_of_n 4": (0.15, 4e8), "beam 4x2": (0.22, 8e8)},
}
SHARES = {3: 0.6, 4: 0.25, 5: 0.15}
BUDGET = 4.5e8


def check(choice):
    return check_allocation_choice(choice, table=TABLE, shares=SHARES, budget=BUDGET)


def test_allocation_reference_and_placeholder():
    best, value = best_allocation(TABLE, SHARES, BUDGET)
    assert check(best).correct and value > 0.4
    assert check(None).status == "not attempted"


@pytest.mark.parametrize(
    "wrong, hint",
    [
        ({3: "best_of_n 4", 4: "best_of_n 4", 5: "best_of_n 4"}, "One strategy for every size"),  # the fixed baseline
        ({3: "best_of_n 4", 4: "beam 4x2", 5: "beam 4x2"}, "most accurate candidate everywhere is over budget"),
        ({3: "beam 4x2", 4: "best_of_n 4", 5: "greedy"}, "Weight each size by its share"),  # 3.7e8 unweighted, 4.75e8 weighted
        ({3: "greedy", 4: "greedy"}, "missing 5"),
        ({3: "greedy", 4: "greedy", 5: "mcts"}, "not a candidate"),
        (["greedy", "greedy", "greedy"], "Expected a dict"),
    ],
)
def test_allocation_wrong_answers(wrong, hint):
    feedback = check(wrong)
    assert feedback.status == "incorrect" and hint in feedback.message, feedback.message


def test_the_chapters_self_tests_pass():
    from tsc.exercises import selftest

    for name in ("ex-4-1", "ex-4-2", "ex-4-3"):
        assert selftest(name).startswith(name)
    assert selftest("ex-4-4", table=TABLE, shares=SHARES, budget=BUDGET).startswith("ex-4-4")
