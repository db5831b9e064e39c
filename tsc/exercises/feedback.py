"""What every exercise checker shares: `Feedback`, running a student's function on the cases
(`run_cases`), reading a student's values safely, and the checkers' self-tests.

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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any


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


def show(value, limit: int = 60) -> str:
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


def call(fn: Callable, *args) -> tuple[object, str | None]:
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


def run_cases(
    fn, signature: str, cases: Sequence, *, raised: Callable[[Any, str], str], arguments: Callable[[Any], tuple] = tuple
) -> list | Feedback:
    """What a student's function ``fn`` returns on each of ``cases``, or the `Feedback` to
    give instead: "not attempted" for the untouched placeholder (None, or a function that
    returns None every time), "incorrect" when ``fn`` is not a function (it should be
    ``signature``) or when a call raises (``raised(case, error)`` is the message).
    ``arguments(case)`` is what ``fn`` is called with: by default the case itself."""
    if fn is None:
        return NOT_ATTEMPTED
    if not callable(fn):
        return Feedback("incorrect", f"Expected a function {signature}; got {show(fn)}.")
    answers = []
    for case in cases:
        value, error = call(fn, *arguments(case))
        if error:
            return Feedback("incorrect", raised(case, error))
        answers.append(value)
    if all(a is None for a in answers):
        return NOT_ATTEMPTED
    return answers


def remembered(memo: dict, key: tuple, keep: tuple, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per ``key`` (an experiment a checker runs to know the answer). The
    objects whose ids the key holds (a policy, a verifier) are kept with the value, so a new
    object that happens to get a freed one's id is computed afresh, never given its answer."""
    held = memo.get(key)
    if held is None or any(a is not b for a, b in zip(held[0], keep)):
        held = memo[key] = (keep, compute())
    return held[1]


def as_number(value) -> float | None:
    """``value`` as a finite float if it is one real number (a Python or numpy scalar, or a
    0-dimensional array or tensor), else None. Bools, complex numbers and strings are not."""
    if getattr(value, "ndim", None) == 0 and callable(getattr(value, "item", None)):
        try:
            value = value.item()
        except Exception:
            return None
    if is_bool(value) or not isinstance(value, numbers.Real):
        return None
    try:
        number = float(value)
    except (OverflowError, TypeError, ValueError):  # e.g. 10**400: float cannot take it
        return None
    return number if math.isfinite(number) else None


def is_bool(value) -> bool:
    """True or False, Python's or numpy's."""
    return isinstance(value, bool) or type(value).__name__ in ("bool_", "bool")


# Each chapter's module registers, per exercise, a self-test: the checker run on the reference
# solution and on the mistakes a class would make (`selftest`). The chapters' hidden cells call
# `tsc.exercises.selftest("ex-C-K", **context)` instead of carrying the test's code.
SELFTESTS: dict[str, Callable[..., None]] = {}


def registers_selftest(name: str) -> Callable:
    """Register the decorated function as exercise ``name``'s self-test (see `selftest`)."""

    def register(fn: Callable[..., None]) -> Callable[..., None]:
        if name in SELFTESTS:
            raise ValueError(f"exercise {name!r} has two self-tests")
        SELFTESTS[name] = fn
        return fn

    return register


def selftest(name: str, **context) -> str:
    """Prove that exercise ``name``'s checker works: it reads the untouched placeholder as
    "not attempted", accepts the reference solution and rejects each mistake a class would
    make with a message that names it. ``context`` is what the exercise is checked against in
    the chapter (its problems, its fitted numbers). Raises an AssertionError naming what the
    checker got wrong; returns a one-line summary."""
    if name not in SELFTESTS:
        raise ValueError(f"no self-test for exercise {name!r}; known: {', '.join(sorted(SELFTESTS)) or 'none'}")
    SELFTESTS[name](**context)
    return f"{name}: the checker accepts the reference and rejects the mistakes it names"


def rejects(feedback: Feedback, *words: str) -> bool:
    """Whether ``feedback`` marks an answer wrong with a message containing every one of ``words``."""
    return feedback.status == "incorrect" and all(w in feedback.message for w in words)


def accepts_and_rejects(check: Callable[..., Feedback], reference: Callable, mistakes: Iterable[tuple], *context) -> None:
    """The self-test of a checker of functions: the untouched placeholder reads as "not
    attempted", ``reference`` is accepted, and each mistake ``(wrong function, *words)`` is
    rejected with a message containing the words. ``context`` follows the function in every call."""
    assert check(lambda *args, **kwargs: None, *context).status == "not attempted", "the placeholder is not read as not attempted"
    feedback = check(reference, *context)
    assert feedback.correct, f"the reference is rejected: {feedback.message}"
    for wrong, *words in mistakes:
        feedback = check(wrong, *context)
        assert rejects(feedback, *words), f"a mistake is not rejected with the words {words}: {feedback}"
