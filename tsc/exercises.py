"""Checkers for the classroom exercises: clear feedback, never an exception.

Each checker takes what the student wrote (a function or a value), returns a `Feedback`
whose ``status`` is ``"not attempted"``, ``"incorrect"`` or ``"correct"``, and prints its
message when shown in a notebook. A placeholder that returns None reads as "not attempted
yet"; a wrong type, a crash inside the student's code or a wrong value reads as "incorrect"
with what was expected and what came back.
"""

from __future__ import annotations

import math
import numbers
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from tsc.analysis import pass_at_k, samples_for_coverage
from tsc.tasks.countdown import Countdown


@dataclass(frozen=True)
class Feedback:
    status: str
    message: str

    @property
    def correct(self) -> bool:
        return self.status == "correct"

    def __str__(self) -> str:
        mark = {"correct": "✅", "incorrect": "❌", "not attempted": "…"}[self.status]
        return f"{mark} {self.message}"

    def _repr_markdown_(self) -> str:
        return str(self)

    __repr__ = __str__


NOT_ATTEMPTED = Feedback("not attempted", "Not attempted yet: replace the placeholder in the cell above, run it, then run this cell again.")


def _show(value, limit: int = 60) -> str:
    """What a student's value is, in a few words: its repr (cut short) and, when the repr
    could mislead (``'0.5'``, ``array(0.5)``), its type and shape. Never raises."""
    try:
        text = repr(value)
    except Exception:  # a broken __repr__, or an int beyond Python's 4,300-digit limit
        text = "a number too large to print" if isinstance(value, int) else f"<{type(value).__name__}>"
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    if value is None or type(value) in (bool, int, float):
        return text
    try:
        shape = tuple(value.shape) if hasattr(value, "shape") else None
    except Exception:
        shape = None
    return f"{text} (a {type(value).__name__}{f' of shape {shape}' if shape is not None else ''})"


def _call(fn: Callable, *args) -> tuple[object, str | None]:
    """fn(*args), or (None, a one-line description of what it raised)."""
    try:
        return fn(*args), None
    except (Exception, SystemExit) as error:  # the student's code may raise anything, even exit()
        try:
            where = f" (line {traceback.extract_tb(error.__traceback__)[-1].lineno})"
        except Exception:
            where = ""
        try:
            detail = " ".join(str(error).split())
        except Exception:
            detail = ""
        detail = detail[:117] + "..." if len(detail) > 120 else detail
        return None, f"{type(error).__name__}: {detail}{where}" if detail else f"{type(error).__name__}{where}"


def _as_number(value) -> float | None:
    """``value`` as a finite float if it is one real number (a Python or numpy scalar, or a
    0-dimensional array or tensor), else None. Bools, complex numbers and strings are not."""
    if getattr(value, "ndim", None) == 0 and callable(getattr(value, "item", None)):
        try:
            value = value.item()
        except Exception:
            return None
    if _is_bool(value) or not isinstance(value, numbers.Real):
        return None
    try:
        number = float(value)
    except (OverflowError, TypeError, ValueError):  # e.g. 10**400: float cannot take it
        return None
    return number if math.isfinite(number) else None


def _is_bool(value) -> bool:
    """True or False, Python's or numpy's."""
    return isinstance(value, bool) or type(value).__name__ in ("bool_", "bool")


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
        return Feedback("incorrect", f"Expected a function pass_at_k(n, c, k); got {_show(fn)}.")
    results = []
    for n, c, k in PASS_AT_K_CASES:
        value, error = _call(fn, n, c, k)
        if error:
            return Feedback("incorrect", f"Calling your function with n={n}, c={c}, k={k} raised {error}.")
        results.append(value)
    if all(r is None for r in results):
        return NOT_ATTEMPTED
    for (n, c, k), value in zip(PASS_AT_K_CASES, results):
        number = _as_number(value)
        if number is None:
            return Feedback("incorrect", f"For n={n}, c={c}, k={k} expected a probability (one float between 0 and 1); got {_show(value)}.")
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
    number = _as_number(answer)
    if number is None:
        return Feedback("incorrect", f"Expected a number of samples (one number); got {_show(answer)}.")
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
        return Feedback("incorrect", f"Expected a function verify(numbers, target, text); got {_show(fn)}.")
    answers = []
    for problem, text, what in VERIFIER_CASES:
        value, error = _call(fn, list(problem.numbers), problem.target, text)
        if error:
            case = f"{what} ({text!r}, numbers {list(problem.numbers)}, target {problem.target})"
            advice = "A verifier should return False for bad text, never crash."
            return Feedback("incorrect", f"On {case} your verifier raised {error}. {advice}")
        answers.append(value)
    if all(a is None for a in answers):
        return NOT_ATTEMPTED
    for (problem, text, what), value in zip(VERIFIER_CASES, answers):
        expected = problem.check(text)
        if not _is_bool(value):
            return Feedback("incorrect", f"On {what} expected True or False; got {_show(value)}.")
        value = bool(value)
        if value != expected:
            case = f"{what} ({text!r}, numbers {list(problem.numbers)}, target {problem.target})"
            return Feedback("incorrect", f"On {case} expected {expected}, got {value}.")
    return Feedback("correct", f"Your verifier agrees with the oracle on all {len(VERIFIER_CASES)} cases.")


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
        return Feedback("incorrect", f"Expected a function aggregate(step_scores, how); got {_show(fn)}.")
    results = []
    for scores, how, _ in AGGREGATE_CASES:
        value, error = _call(fn, list(scores), how)
        if error:
            return Feedback("incorrect", f"aggregate({scores}, {how!r}) raised {error}.")
        results.append(value)
    if all(r is None for r in results):
        return NOT_ATTEMPTED
    for (scores, how, expected), value in zip(AGGREGATE_CASES, results):
        number = _as_number(value)
        if number is None:
            return Feedback("incorrect", f"aggregate({scores}, {how!r}) should return one number; got {_show(value)}.")
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
        return Feedback("incorrect", f"Expected a function auc(scores, labels); got {_show(fn)}.")
    cases = _auc_cases()
    results = []
    for scores, labels in cases:
        value, error = _call(fn, list(scores), list(labels))
        if error:
            return Feedback("incorrect", f"auc({scores[:4]}..., {labels[:4]}...) raised {error}.")
        results.append(value)
    if all(r is None for r in results):
        return NOT_ATTEMPTED
    for (scores, labels), value in zip(cases, results):
        number = _as_number(value)
        expected = auc(scores, labels)
        shown = f"scores {scores}, labels {[int(x) for x in labels]}" if len(scores) <= 6 else f"{len(scores)} scores"
        if number is None:
            return Feedback("incorrect", f"For {shown} expected one number between 0 and 1; got {_show(value)}.")
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
        return Feedback("incorrect", f"Expected a function weighted_vote(keys, scores); got {_show(fn)}.")
    results = []
    for keys, scores, _, _ in WEIGHTED_CASES:
        value, error = _call(fn, list(keys), list(scores))
        if error:
            return Feedback("incorrect", f"weighted_vote({keys}, {scores}) raised {error}.")
        results.append(value)
    if all(r is None for r in results):
        return NOT_ATTEMPTED
    for (keys, scores, expected, what), value in zip(WEIGHTED_CASES, results):
        if expected is None:
            if value is not None:
                return Feedback("incorrect", f"weighted_vote({keys}, {scores}): {what}, so expected None; got {_show(value)}.")
            continue
        number = _as_number(value)
        if number is None or number != int(number):
            return Feedback("incorrect", f"weighted_vote({keys}, {scores}) should return an index (an int); got {_show(value)}.")
        if int(number) != expected:
            return Feedback("incorrect", f"weighted_vote({keys}, {scores}): {what}; expected index {expected}, got {int(number)}.")
    return Feedback("correct", f"Correct on all {len(WEIGHTED_CASES)} cases.")


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
        return Feedback("incorrect", f"Expected a function puct(q, prior, parent_visits, child_visits, c_puct); got {_show(fn)}.")
    results = []
    for case in PUCT_CASES:
        value, error = _call(fn, *case)
        if error:
            return Feedback("incorrect", f"puct{case} raised {error}.")
        results.append(value)
    if all(r is None for r in results):
        return NOT_ATTEMPTED
    for case, value in zip(PUCT_CASES, results):
        number, expected = _as_number(value), _puct(*case)
        if number is None:
            return Feedback("incorrect", f"puct{case} should return one number; got {_show(value)}.")
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
        return Feedback("incorrect", f"Expected a function keep(candidates, width); got {_show(fn)}.")
    results = []
    for candidates, width, _, _ in KEEP_CASES:
        value, error = _call(fn, [tuple(c) for c in candidates], width)
        if error:
            return Feedback("incorrect", f"keep({candidates}, {width}) raised {error}.")
        results.append(value)
    if all(r is None for r in results):
        return NOT_ATTEMPTED
    for (candidates, width, expected, what), value in zip(KEEP_CASES, results):
        try:
            got = [int(i) for i in value]
        except Exception:
            return Feedback("incorrect", f"keep({candidates}, {width}) should return a list of indices; got {_show(value)}.")
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
        return Feedback("incorrect", f"Expected a function reencoded(prompt_tokens, step_tokens); got {_show(fn)}.")
    results = []
    for (prompt, steps), _ in PREFILL_CASES:
        value, error = _call(fn, prompt, list(steps))
        if error:
            return Feedback("incorrect", f"reencoded({prompt}, {steps}) raised {error}.")
        results.append(value)
    if all(r is None for r in results):
        return NOT_ATTEMPTED
    for ((prompt, steps), expected), value in zip(PREFILL_CASES, results):
        number = _as_number(value)
        if number is None or number != int(number):
            return Feedback("incorrect", f"reencoded({prompt}, {steps}) should return a whole number of tokens; got {_show(value)}.")
        if int(number) != expected:
            hint = " The call that writes a step reads the steps before it, not the step itself." if int(number) > expected else ""
            return Feedback("incorrect", f"reencoded({prompt}, {steps}): expected {expected}, got {int(number)}.{hint}")
    return Feedback("correct", f"Correct on all {len(PREFILL_CASES)} cases.")
