"""Checkers for the exercises of Chapter 1, The New Scaling Law."""

from __future__ import annotations

import math
from collections.abc import Callable

from tsc.analysis import pass_at_k, samples_for_coverage
from tsc.exercises.feedback import NOT_ATTEMPTED, Feedback, as_number, call, is_bool, show
from tsc.tasks.countdown import Countdown

# --- Exercise 1.1: the unbiased pass@k estimator -------------------------------------------

PASS_AT_K_CASES = [
    (10, 0, 1), (10, 3, 1), (10, 3, 2), (10, 3, 5), (10, 8, 3),
    (10, 10, 4), (32, 1, 8), (32, 5, 16), (100, 7, 50), (5, 2, 5),
]  # fmt: skip


PLUG_IN_HINT = " That is 1-(1-c/n)^k, the plug-in estimate: it treats samples as drawn with replacement and is biased low."


def check_pass_at_k(fn: Callable) -> Feedback:
    """Compare a student's ``fn(n, c, k)`` with the unbiased estimator of Chen et al. (2021)."""
    if fn is None:
        return NOT_ATTEMPTED
    if not callable(fn):
        return Feedback("incorrect", f"Expected a function pass_at_k(n, c, k); got {show(fn)}.")
    results = []
    for n, c, k in PASS_AT_K_CASES:
        value, error = call(fn, n, c, k)
        if error:
            return Feedback("incorrect", f"Calling your function with n={n}, c={c}, k={k} raised {error}.")
        results.append(value)
    if all(r is None for r in results):
        return NOT_ATTEMPTED
    for (n, c, k), value in zip(PASS_AT_K_CASES, results):
        number = as_number(value)
        if number is None:
            return Feedback("incorrect", f"For n={n}, c={c}, k={k} expected a probability (one float between 0 and 1); got {show(value)}.")
        value = number
        expected = pass_at_k(n, c, k)
        if abs(value - expected) > 1e-6:
            biased = 1 - (1 - c / n) ** k
            plug_in = abs(value - biased) < 1e-6
            hint = PLUG_IN_HINT if plug_in else ""
            return Feedback("incorrect", f"For n={n}, c={c}, k={k} expected {expected:.6f}, got {value:.6f}.{hint}")
    return Feedback("correct", f"Correct on all {len(PASS_AT_K_CASES)} cases, including c=0 and n-c<k.")


# --- Exercise 1.2: how many samples for a coverage goal -------------------------------------


def check_samples_needed(answer, *, a: float, b: float, goal: float, tolerance: float = 0.05) -> Feedback:
    """Is ``answer`` the number of samples the fitted law exp(a·k^-b) needs to reach ``goal``?"""
    if answer is None:
        return NOT_ATTEMPTED
    number = as_number(answer)
    if number is None:
        return Feedback("incorrect", f"Expected a number of samples (one number); got {show(answer)}.")
    try:
        expected = samples_for_coverage(goal, a, b)
        if not math.isfinite(expected):
            raise ValueError(f"the law never reaches {goal}")
    except (ValueError, ZeroDivisionError, OverflowError, TypeError) as error:  # the law given to the checker is unusable
        return Feedback("incorrect", f"Cannot check: the law exp(a·k^(-b)) with a={a!r}, b={b!r}, goal={goal!r} has no answer ({error}).")
    answer = number
    if abs(answer - expected) <= tolerance * expected or abs(answer - math.ceil(expected)) < 1e-9:
        return Feedback("correct", f"Correct: the fit reaches {goal:.0%} coverage at k ≈ {expected:.1f} samples.")
    direction = "too many" if answer > expected else "too few"
    how = f"solve exp(a·k^(-b)) = {goal} for k (take logs twice)"
    return Feedback("incorrect", f"{answer!r} is {direction}: {how}. Expected about {expected:.1f}.")


# --- Exercise 1.3: a Countdown verifier written from scratch --------------------------------

VERIFIER_CASES: list[tuple[Countdown, str, str]] = [
    (Countdown((13, 4, 7, 2), 48), "13-7=6,6*4=24,24*2=48.", "a correct solution"),
    (Countdown((13, 4, 7, 2), 48), "13-7=6, 6*4=24, 24*2=48.", "a correct solution with spaces"),
    (Countdown((13, 4, 7, 2), 48), "13-7=6,6*4=24,24*2=49.", "a last step computed wrongly"),
    (Countdown((13, 4, 7, 2), 48), "13-7=6,6*4=24.", "a solution that leaves a number unused"),
    (Countdown((13, 4, 7, 2), 24), "13-7=6,6*4=24.", "a solution that reaches the target but leaves 2 unused"),
    (Countdown((13, 4, 7, 2), 48), "13-7=6,6*4=24,24*2=48,48-0=48.", "an extra step that uses a number not on the table"),
    (Countdown((3, 5, 8), 2), "3-5=-2,8+-2=6.", "a negative intermediate (malformed)"),
    (Countdown((3, 5, 8), 16), "5-3=2,8*2=16.", "a correct 3-number solution"),
    (Countdown((3, 5, 8), 0), "3-5=0,8*0=0.", "a subtraction that goes below zero"),
    (Countdown((3, 6, 9), 18), "9/6=1,1*3=3.", "an inexact division"),
    (Countdown((3, 6, 9), 18), "6/3=2,9*2=18.", "an exact division"),
    (Countdown((5, 5, 2), 50), "5*5=25,25*2=50.", "a repeated number used twice (it appears twice)"),
    (Countdown((5, 2, 3), 50), "5*5=25,25*2=50.", "a number used twice that appears once"),
    (Countdown((1, 2, 3), 6), "", "an empty completion"),
    (Countdown((1, 2, 3), 6), "1+2=3,3+3=6", "a correct solution without the final full stop"),
    (Countdown((1, 2, 3), 6), "banana", "gibberish"),
    (Countdown((1, 2, 3), 6), "1+2=3,3+3=6.1+1=2", "text after the full stop (ignored)"),
    (Countdown((1, 2, 3), 6), "1+2=3,3*2=6.", "an operand taken from the wrong place"),
]


def check_verifier(fn: Callable) -> Feedback:
    """Compare a student's ``fn(numbers, target, text) -> bool`` with the oracle on tricky cases."""
    if fn is None:
        return NOT_ATTEMPTED
    if not callable(fn):
        return Feedback("incorrect", f"Expected a function verify(numbers, target, text); got {show(fn)}.")
    answers = []
    for problem, text, what in VERIFIER_CASES:
        value, error = call(fn, list(problem.numbers), problem.target, text)
        if error:
            case = f"{what} ({text!r}, numbers {list(problem.numbers)}, target {problem.target})"
            advice = "A verifier should return False for bad text, never crash."
            return Feedback("incorrect", f"On {case} your verifier raised {error}. {advice}")
        answers.append(value)
    if all(a is None for a in answers):
        return NOT_ATTEMPTED
    for (problem, text, what), value in zip(VERIFIER_CASES, answers):
        expected = problem.check(text)
        if not is_bool(value):
            return Feedback("incorrect", f"On {what} expected True or False; got {show(value)}.")
        value = bool(value)
        if value != expected:
            case = f"{what} ({text!r}, numbers {list(problem.numbers)}, target {problem.target})"
            return Feedback("incorrect", f"On {case} expected {expected}, got {value}.")
    return Feedback("correct", f"Your verifier agrees with the oracle on all {len(VERIFIER_CASES)} cases.")
