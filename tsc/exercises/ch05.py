"""Checkers for the exercises of Chapter 5, Tree Search in Language Models."""

from __future__ import annotations

import math
from collections.abc import Callable

from tsc.exercises.feedback import NOT_ATTEMPTED, Feedback, as_number, call, show

# --- Exercise 5.1: the PUCT score of MCTS ----------------------------------------------------

PUCT_CASES = [
    # (q, prior, parent_visits, child_visits, c_puct)
    (0.5, 0.25, 16, 3, 1.0), (0.0, 1.0, 1, 0, 1.0), (0.9, 0.1, 100, 40, 1.5),
    (0.2, 0.6, 9, 0, 2.0), (0.7, 0.3, 0, 0, 1.0), (0.4, 0.5, 25, 4, 0.0),
]  # fmt: skip


def _puct(q: float, prior: float, parent_visits: int, child_visits: int, c_puct: float) -> float:
    return q + c_puct * prior * math.sqrt(parent_visits) / (1 + child_visits)


def check_puct(fn: Callable) -> Feedback:
    """Compare a student's ``fn(q, prior, parent_visits, child_visits, c_puct)`` with PUCT:
    ``q + c_puct · prior · √parent_visits / (1 + child_visits)``."""
    if fn is None:
        return NOT_ATTEMPTED
    if not callable(fn):
        return Feedback("incorrect", f"Expected a function puct(q, prior, parent_visits, child_visits, c_puct); got {show(fn)}.")
    results = []
    for case in PUCT_CASES:
        value, error = call(fn, *case)
        if error:
            return Feedback("incorrect", f"puct{case} raised {error}.")
        results.append(value)
    if all(r is None for r in results):
        return NOT_ATTEMPTED
    for case, value in zip(PUCT_CASES, results):
        number, expected = as_number(value), _puct(*case)
        if number is None:
            return Feedback("incorrect", f"puct{case} should return one number; got {show(value)}.")
        if abs(number - expected) > 1e-9:
            q, prior, parent, child, c = case
            hint = ""
            if abs(number - (q + c * prior * math.sqrt(parent) / max(child, 1))) < 1e-9:
                hint = " Divide by 1 + child visits: an unvisited child must not divide by zero."
            elif abs(number - (q + c * prior * parent / (1 + child))) < 1e-9:
                hint = " The parent's visits enter as a square root."
            return Feedback("incorrect", f"puct{case}: expected {expected:.4g}, got {number:.4g}.{hint}")
    return Feedback("correct", f"Correct on all {len(PUCT_CASES)} cases, the unvisited child and c_puct = 0 included.")


# --- Exercise 5.2: which partial solutions a beam keeps --------------------------------------

KEEP_CASES = [
    # (candidates as (text, score, finished), width, expected indices, what the case checks)
    ([("a,", 0.2, False), ("b,", 0.9, False), ("c,", 0.5, False)], 2, [1, 2], "the two best"),
    ([("a,", 0.9, False), ("b.", 0.95, True), ("c,", 0.1, False)], 2, [0, 2], "a finished candidate is set aside"),
    ([("a,", 0.7, False), ("a,", 0.7, False), ("b,", 0.6, False)], 2, [0, 2], "a repeated text is kept once"),
    ([("a,", 0.5, False), ("b,", 0.5, False), ("c,", 0.5, False)], 2, [0, 1], "ties go to the earlier candidate"),
    ([("a.", 0.5, True)], 3, [], "nothing unfinished: nothing to keep"),
    ([("a,", 0.3, False), ("b,", 0.2, False)], 4, [0, 1], "fewer candidates than the width"),
]


def _keep(candidates: list[tuple[str, float, bool]], width: int) -> list[int]:
    seen, kept = set(), []
    for i in sorted(range(len(candidates)), key=lambda i: (-candidates[i][1], i)):
        text, _, finished = candidates[i]
        if not finished and text not in seen:
            seen.add(text)
            kept.append(i)
    return kept[:width]


def check_beam_keep(fn: Callable) -> Feedback:
    """Compare a student's ``fn(candidates, width) -> list of indices`` with the beam's rule:
    the ``width`` best-scoring unfinished candidates with distinct texts, best first."""
    if fn is None:
        return NOT_ATTEMPTED
    if not callable(fn):
        return Feedback("incorrect", f"Expected a function keep(candidates, width); got {show(fn)}.")
    results = []
    for candidates, width, _, _ in KEEP_CASES:
        value, error = call(fn, [tuple(c) for c in candidates], width)
        if error:
            return Feedback("incorrect", f"keep({candidates}, {width}) raised {error}.")
        results.append(value)
    if all(r is None for r in results):
        return NOT_ATTEMPTED
    for (candidates, width, expected, what), value in zip(KEEP_CASES, results):
        try:
            got = [int(i) for i in value]
        except Exception:
            return Feedback("incorrect", f"keep({candidates}, {width}) should return a list of indices; got {show(value)}.")
        if got != expected:
            return Feedback("incorrect", f"keep({candidates}, {width}): {what}; expected {expected}, got {got}.")
    return Feedback("correct", f"Correct on all {len(KEEP_CASES)} cases.")


# --- Exercise 5.3: what re-encoding costs a search -------------------------------------------

PREFILL_CASES = [((12, [6, 7, 7]), 12 + 18 + 25), ((10, []), 0), ((10, [5]), 10), ((8, [4, 4, 4, 4]), 8 + 12 + 16 + 20)]


def check_reencoded(fn: Callable) -> Feedback:
    """Compare a student's ``fn(prompt_tokens, step_tokens)`` with the prompt tokens a search
    re-encodes when it writes the steps one call at a time without prefix reuse: each call
    reads the prompt and every step written before it."""
    if fn is None:
        return NOT_ATTEMPTED
    if not callable(fn):
        return Feedback("incorrect", f"Expected a function reencoded(prompt_tokens, step_tokens); got {show(fn)}.")
    results = []
    for (prompt, steps), _ in PREFILL_CASES:
        value, error = call(fn, prompt, list(steps))
        if error:
            return Feedback("incorrect", f"reencoded({prompt}, {steps}) raised {error}.")
        results.append(value)
    if all(r is None for r in results):
        return NOT_ATTEMPTED
    for ((prompt, steps), expected), value in zip(PREFILL_CASES, results):
        number = as_number(value)
        if number is None or number != int(number):
            return Feedback("incorrect", f"reencoded({prompt}, {steps}) should return a whole number of tokens; got {show(value)}.")
        if int(number) != expected:
            hint = " The call that writes a step reads the steps before it, not the step itself." if int(number) > expected else ""
            return Feedback("incorrect", f"reencoded({prompt}, {steps}): expected {expected}, got {int(number)}.{hint}")
    return Feedback("correct", f"Correct on all {len(PREFILL_CASES)} cases.")
