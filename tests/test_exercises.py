"""Exercise checkers: placeholders read "not attempted", reference solutions "correct", and
every wrong answer (wrong value, wrong type, a crash) "incorrect" with a useful message,
never an exception."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsc.analysis import samples_for_coverage
from tsc.exercises import (
    Feedback,
    check_aggregate,
    check_auc,
    check_pass_at_k,
    check_samples_needed,
    check_verifier,
    check_weighted_vote,
)

STATUSES = {"not attempted", "incorrect", "correct"}

# --- Exercise 1.1: pass@k ---------------------------------------------------------------


def reference_pass_at_k(n, c, k):
    return 1 - math.comb(n - c, k) / math.comb(n, k)


def biased_pass_at_k(n, c, k):
    return 1 - (1 - c / n) ** k


def off_by_one_pass_at_k(n, c, k):
    return 1 - math.prod(1 - k / i for i in range(n - c, n + 1)) if n - c >= k else 1.0


def placeholder(*args):
    return None


def test_pass_at_k_placeholder_is_not_attempted():
    feedback = check_pass_at_k(placeholder)
    assert feedback.status == "not attempted" and not feedback.correct
    assert "not attempted" in feedback.message.lower()


def test_pass_at_k_reference_is_correct():
    feedback = check_pass_at_k(reference_pass_at_k)
    assert feedback.status == "correct" and feedback.correct
    assert str(feedback).startswith("✅")


def test_pass_at_k_biased_estimator_gets_a_hint():
    feedback = check_pass_at_k(biased_pass_at_k)
    assert feedback.status == "incorrect"
    assert "biased" in feedback.message and "1-(1-c/n)^k" in feedback.message
    assert str(feedback).startswith("❌")


def test_pass_at_k_off_by_one_says_what_was_expected():
    feedback = check_pass_at_k(off_by_one_pass_at_k)
    assert feedback.status == "incorrect"
    assert re.search(r"n=\d+, c=\d+, k=\d+ expected [0-9.]+, got [0-9.]+", feedback.message)


def test_pass_at_k_crash_is_reported_not_raised():
    def crashes(n, c, k):
        if n - c < k:
            raise ZeroDivisionError("no failures to choose from")
        return reference_pass_at_k(n, c, k)

    feedback = check_pass_at_k(crashes)
    assert feedback.status == "incorrect"
    assert "ZeroDivisionError" in feedback.message and "n=10, c=8, k=3" in feedback.message


@pytest.mark.parametrize(
    "value",
    [
        "0.5",
        [0.5],
        (0.5,),
        True,
        {"p": 0.5},
        float("nan"),
        float("inf"),
        complex(0.5, 0),
        pytest.param(10**400, id="huge-int"),
        pytest.param(-(10**400), id="huge-negative-int"),
    ],
)
def test_pass_at_k_wrong_types_are_incorrect(value):
    feedback = check_pass_at_k(lambda n, c, k: value)
    assert feedback.status == "incorrect"
    assert "expected" in feedback.message.lower()


@pytest.mark.parametrize("thing", [0.5, "pass_at_k", [reference_pass_at_k]])
def test_pass_at_k_needs_a_function(thing):
    feedback = check_pass_at_k(thing)
    assert feedback.status == "incorrect" and "function" in feedback.message


def test_pass_at_k_wrong_arity_is_incorrect():
    assert check_pass_at_k(lambda n, c: 0.5).status == "incorrect"


def test_pass_at_k_partly_none_is_incorrect():
    feedback = check_pass_at_k(lambda n, c, k: None if c == 0 else reference_pass_at_k(n, c, k))
    assert feedback.status == "incorrect"


# --- Exercise 1.2: samples for a coverage goal -----------------------------------------

LAW = {"a": -1.0, "b": 1.0, "goal": 0.8}  # exp(-1/k) = 0.8 at k = 1/ln(1.25) = 4.48


def test_samples_needed_placeholder_is_not_attempted():
    assert check_samples_needed(None, **LAW).status == "not attempted"


@pytest.mark.parametrize("answer", [samples_for_coverage(0.8, -1.0, 1.0), 4.48, 5])
def test_samples_needed_accepts_the_exact_value_and_its_ceiling(answer):
    assert check_samples_needed(answer, **LAW).status == "correct"


@pytest.mark.parametrize("answer, direction", [(6, "too many"), (4, "too few"), (3.5, "too few"), (0, "too few"), (-5, "too few")])
def test_samples_needed_off_by_one_is_incorrect(answer, direction):
    feedback = check_samples_needed(answer, **LAW)
    assert feedback.status == "incorrect"
    assert direction in feedback.message and "4.5" in feedback.message


@pytest.mark.parametrize("answer", ["5", [5], True, float("nan"), float("inf"), pytest.param(10**400, id="huge-int"), object()])
def test_samples_needed_wrong_types_are_incorrect(answer):
    feedback = check_samples_needed(answer, **LAW)
    assert feedback.status == "incorrect"


# --- Exercise 1.3: a Countdown verifier -------------------------------------------------


def reference_verify(numbers, target, text):
    """A verifier written from scratch, as a student would (it shares no code with tsc)."""
    body = text.split(".")[0]
    pool = list(numbers)
    if not body.strip():
        return False
    for step in body.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*([-+*/])\s*(\d+)\s*=\s*(\d+)\s*", step)
        if not match:
            return False
        a, op, b, c = int(match[1]), match[2], int(match[3]), int(match[4])
        for x in (a, b):
            if x not in pool:
                return False
            pool.remove(x)
        value = {"+": a + b, "-": a - b, "*": a * b, "/": a // b if b and a % b == 0 else None}[op]
        if value is None or value < 0 or value != c:
            return False
        pool.append(c)
    return pool == [target]


def final_value_only(numbers, target, text):
    """A common wrong answer: it only checks that the last result equals the target."""
    found = re.findall(r"=\s*(\d+)", text.split(".")[0])
    return bool(found) and int(found[-1]) == target


def test_verifier_placeholder_is_not_attempted():
    assert check_verifier(placeholder).status == "not attempted"


def test_verifier_reference_is_correct():
    feedback = check_verifier(reference_verify)
    assert feedback.status == "correct", feedback.message


def test_verifier_that_only_checks_the_final_value_is_incorrect():
    feedback = check_verifier(final_value_only)
    assert feedback.status == "incorrect"
    assert "expected False, got True" in feedback.message and "numbers" in feedback.message


def test_verifier_that_crashes_on_gibberish_is_incorrect():
    def naive(numbers, target, text):
        return int(text.split("=")[-1].rstrip(".")) == target  # ValueError on "banana"

    feedback = check_verifier(naive)
    assert feedback.status == "incorrect"
    assert "raised ValueError" in feedback.message and "never crash" in feedback.message


@pytest.mark.parametrize("value", ["True", 1, [True], 1.0])
def test_verifier_must_return_bools(value):
    feedback = check_verifier(lambda numbers, target, text: value)
    assert feedback.status == "incorrect" and "True or False" in feedback.message


def test_verifier_needs_a_function():
    assert check_verifier("oracle").status == "incorrect"


# --- every checker, arbitrary answers ---------------------------------------------------

arbitrary = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),
    st.floats(),
    st.text(max_size=10),
    st.lists(st.integers(), max_size=3),
    st.complex_numbers(),
)


@given(value=arbitrary)
def test_checkers_never_raise(value):
    for feedback in (
        check_pass_at_k(lambda n, c, k: value),
        check_pass_at_k(value),
        check_samples_needed(value, **LAW),
        check_verifier(lambda numbers, target, text: value),
        check_verifier(value),
    ):
        assert isinstance(feedback, Feedback) and feedback.status in STATUSES
        assert feedback.message and str(feedback)
        if value is not None:
            assert feedback.status != "not attempted"


def test_feedback_renders_in_notebooks():
    feedback = check_pass_at_k(reference_pass_at_k)
    assert feedback._repr_markdown_() == str(feedback) == repr(feedback)
    assert str(check_pass_at_k(placeholder)).startswith("…")


# --- Chapter 6: aggregation, AUC, weighted vote -------------------------------------------


def _aggregate(step_scores, how):
    if not step_scores:
        return 0.0
    return {"min": min, "last": lambda s: s[-1], "product": math.prod}[how](step_scores)


def _auc(scores, labels):
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return float("nan")
    return sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))


def _weighted(keys, scores):
    weights = {}
    for key, score in zip(keys, scores):
        if key is not None:
            weights[key] = weights.get(key, 0.0) + score
    if not weights:
        return None
    winner = max(weights, key=weights.get)
    return max((i for i, k in enumerate(keys) if k == winner), key=lambda i: (scores[i], -i))


@pytest.mark.parametrize(
    "check, reference, wrong, hint",
    [
        (check_aggregate, _aggregate, lambda s, how: min(s), "raised"),
        (check_aggregate, _aggregate, lambda s, how: min(s) if s else 0.0, "expected"),
        (check_auc, _auc, lambda s, y: 0.5, "expected"),
        (check_weighted_vote, _weighted, lambda k, s: max(range(len(s)), key=s.__getitem__), "expected index"),
    ],
)
def test_chapter_6_checkers_accept_the_reference_and_explain_a_wrong_answer(check, reference, wrong, hint):
    assert check(None).status == "not attempted"
    assert check(lambda *args: None).status == "not attempted"
    assert check(reference).correct
    feedback = check(wrong)
    assert feedback.status == "incorrect" and hint in feedback.message


@pytest.mark.parametrize("check", [check_aggregate, check_auc, check_weighted_vote])
@pytest.mark.parametrize("student", [42, "f", lambda *a: "x", lambda *a: 1 / 0, lambda *a: float("nan"), lambda: 0])
def test_chapter_6_checkers_never_raise(check, student):
    feedback = check(student)
    assert feedback.status in ("incorrect", "not attempted") and feedback.message


# --- Chapter 5 ----------------------------------------------------------------------------


def test_check_puct_accepts_the_rule_and_explains_common_slips():
    import math

    from tsc.exercises import check_puct

    assert check_puct(lambda q, p, n, c, k: None).status == "not attempted"
    assert check_puct(None).status == "not attempted"
    assert check_puct(lambda q, p, n, c, k: q + k * p * math.sqrt(n) / (1 + c), pick="unvisited").correct
    slip = check_puct(lambda q, p, n, c, k: q + k * p * math.sqrt(n) / max(c, 1))
    assert slip.status == "incorrect" and "1 + child visits" in slip.message
    assert "square root" in check_puct(lambda q, p, n, c, k: q + k * p * n / (1 + c)).message
    assert check_puct(lambda q, p, n, c, k: 1 / 0).status == "incorrect"
    assert check_puct(3).status == "incorrect"


def test_check_beam_keep():
    from tsc.exercises import check_beam_keep

    def keep(candidates, width):
        seen, kept = set(), []
        for i in sorted(range(len(candidates)), key=lambda i: (-candidates[i][1], i)):
            text, _, finished = candidates[i]
            if not finished and text not in seen:
                seen.add(text)
                kept.append(i)
        return kept[:width]

    assert check_beam_keep(keep).correct
    assert check_beam_keep(lambda c, w: None).status == "not attempted"
    greedy = check_beam_keep(lambda c, w: sorted(range(len(c)), key=lambda i: -c[i][1])[:w])
    assert greedy.status == "incorrect" and "finished" in greedy.message
    assert check_beam_keep(lambda c, w: "no").status == "incorrect"


def test_check_reencoded():
    from tsc.exercises import check_reencoded

    assert check_reencoded(lambda p, s: sum(p + sum(s[:d]) for d in range(len(s)))).correct
    assert check_reencoded(lambda p, s: None).status == "not attempted"
    over = check_reencoded(lambda p, s: sum(p + sum(s[: d + 1]) for d in range(len(s))))
    assert over.status == "incorrect" and "not the step itself" in over.message
    assert check_reencoded(lambda p, s: 1.5).status == "incorrect"


# --- the named slips of Ex 1.2 and Ex 1.3 (issue 26) ---------------------------------------


def test_samples_needed_names_an_approximate_logarithm_before_the_tolerance():
    """ln(goal) ≈ goal − 1 lands within the 5 % tolerance for a goal near 1; it is still named."""
    law = {"a": -2.0, "b": 1.0, "goal": 0.95}
    expected = samples_for_coverage(**law)
    slip = ((law["goal"] - 1) / law["a"]) ** (-1 / law["b"])
    assert abs(slip - expected) <= 0.05 * expected  # inside the tolerance ...
    feedback = check_samples_needed(slip, **law)
    assert feedback.status == "incorrect" and "math.log(goal)" in feedback.message  # ... and named anyway
    assert check_samples_needed(round(expected, 1), **law).correct  # a rounded right answer still passes
    assert math.ceil(expected) != round(slip)  # (here the slip is not the whole-number answer by chance)


@pytest.mark.parametrize(
    "slip, words",
    [
        ("floor", "Floor division"),
        ("absolute", "absolute value"),
        ("zero", "dividing by zero"),
        ("spaces", "inside a step"),
        ("arithmetic", "arithmetic"),
        ("unused", "must be used"),
        ("available", "currently available"),
    ],
)
def test_verifier_names_each_slip(slip, words):
    from tsc.exercises.ch01 import reference_verify as reference

    feedback = check_verifier(lambda numbers, target, text: reference(numbers, target, text, slip=slip))
    assert feedback.status == "incorrect" and words in feedback.message, feedback.message


@pytest.mark.parametrize(
    "name, context", [("ex-1-1", {}), ("ex-1-2", LAW), ("ex-1-2", {"a": -2.0, "b": 1.0, "goal": 0.95}), ("ex-1-3", {})]
)
def test_chapter_1_selftests_pass(name, context):
    from tsc.exercises import selftest

    selftest(name, **context)


def test_remembered_computes_once_and_never_answers_for_a_new_object_at_a_freed_id():
    from tsc.exercises.feedback import remembered

    memo, calls = {}, []
    first = object()
    assert remembered(memo, (id(first), 1), (first,), lambda: calls.append(1) or "a") == "a"
    assert remembered(memo, (id(first), 1), (first,), lambda: calls.append(1) or "b") == "a"
    other = object()
    memo[(id(other), 1)] = ((first,), "stale")  # as if `other` had been given `first`'s freed id
    assert remembered(memo, (id(other), 1), (other,), lambda: "fresh") == "fresh"
    assert len(calls) == 1
