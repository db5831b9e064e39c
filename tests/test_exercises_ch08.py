"""Chapter 8's exercise checkers: the reference solutions pass, the placeholders read as not
attempted, and the three wrong answers a student is most likely to write are each rejected
with a message that points at the mistake."""

from __future__ import annotations

import math

import pytest

from tsc.exercises import check_information_gain, check_posterior, check_stopping_rule
from tsc.experiments import path_of
from tsc.strategies.free_energy import AnswerModel, Belief, information_gain, posterior

# --- 8.1 information gain ---------------------------------------------------------------------


def entropy(p):
    return -sum(x * math.log(x) for x in p if x > 0)


def predictive(prior, likelihood):
    return [sum(q * row[o] for q, row in zip(prior, likelihood)) for o in range(len(likelihood[0]))]


def ref_information_gain(prior, likelihood):
    return entropy(predictive(prior, likelihood)) - sum(q * entropy(row) for q, row in zip(prior, likelihood))


def test_information_gain_reference_and_placeholder():
    assert check_information_gain(ref_information_gain).correct
    assert check_information_gain(information_gain).correct  # the package's own
    assert check_information_gain(lambda prior, likelihood: None).status == "not attempted"
    assert check_information_gain(None).status == "not attempted"
    assert check_information_gain(3).status == "incorrect"


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda prior, lk: entropy(predictive(prior, lk)), "ambiguity"),  # forgot the ambiguity
        (lambda prior, lk: ref_information_gain(prior, lk) / math.log(2), "bits"),  # log base 2
        (lambda prior, lk: -ref_information_gain(prior, lk), "never negative"),  # the subtraction reversed
        (lambda prior, lk: sum(q * entropy(row) for q, row in zip(prior, lk)), "never negative"),  # the ambiguity alone
        (lambda prior, lk: 1 / 0, "raised ZeroDivisionError"),
    ],
)
def test_information_gain_wrong_answers(wrong, hint):
    feedback = check_information_gain(wrong)
    assert feedback.status == "incorrect" and hint in feedback.message, feedback.message


# --- 8.2 the belief after a vote --------------------------------------------------------------


def ref_posterior(counts, a, b, gamma):
    lg, n = math.lgamma, sum(counts)
    logs = [0.0] + [
        lg(a + c) + lg(b + n - c) - lg(a) - lg(b + n) + lg(gamma + n) - lg(gamma + n - c) - math.log(gamma) - lg(c) for c in counts
    ]
    w = [math.exp(x - max(logs)) for x in logs]
    return [x / sum(w) for x in w]


def test_posterior_reference_matches_the_package():
    assert check_posterior(ref_posterior).correct
    assert check_posterior(lambda counts, a, b, gamma: posterior(Belief(tuple(counts)), AnswerModel(a=a, b=b, gamma=gamma))).correct
    assert check_posterior(lambda counts, a, b, gamma: None).status == "not attempted"


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda counts, a, b, g: [0.0] + [c / sum(counts) for c in counts], "vote share"),  # votes are not beliefs
        (lambda counts, a, b, g: [c / sum(counts) for c in counts], "something else"),  # no "something else"
        (  # the Beta part only
            lambda counts, a, b, g: (lambda logs: [math.exp(x) / sum(math.exp(y) for y in logs) for x in logs])(
                [0.0]
                + [math.lgamma(a + c) + math.lgamma(b + sum(counts) - c) - math.lgamma(a) - math.lgamma(b + sum(counts)) for c in counts]
            ),
            "Dirichlet-process factor",
        ),
        (lambda counts, a, b, g: [x * 2 for x in ref_posterior(counts, a, b, g)], "sum to"),  # not normalised
    ],
)
def test_posterior_wrong_answers(wrong, hint):
    feedback = check_posterior(wrong)
    assert feedback.status == "incorrect" and hint in feedback.message, feedback.message


# --- 8.3 a stopping rule ----------------------------------------------------------------------

needs_results = pytest.mark.skipif(not path_of("ch08_arithmetic").exists(), reason="ch08_arithmetic has not been computed")


def ref_rule(counts, remaining):
    votes = counts + [0, 0]
    return votes[0] - votes[1] >= 2


@needs_results
def test_stopping_rule_reference():
    assert check_stopping_rule(ref_rule).correct, check_stopping_rule(ref_rule).message
    assert check_stopping_rule(lambda counts, remaining: None).status == "not attempted"


@needs_results
@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda counts, remaining: True, "one sample is no vote"),  # stops at once
        (lambda counts, remaining: False, "never stops early"),  # never stops
        (lambda counts, remaining: counts[0] - counts[1] >= 2, "counts is []"),  # crashes before the first sample
        (lambda counts, remaining: (counts + [0])[0] >= 1 and len(counts) > 0 and remaining < 15, "too soon"),  # stops at 2
        (lambda counts, remaining: "stop" if counts else False, "True (stop) or False"),
        (lambda counts, remaining: remaining <= 8, "fixed budget"),  # majority of 8 presented as a stopping rule
        (lambda counts, remaining: remaining <= 12, "fixed budget"),
    ],
)
def test_stopping_rule_wrong_answers(wrong, hint):
    feedback = check_stopping_rule(wrong)
    assert feedback.status == "incorrect" and hint in feedback.message, feedback.message


@needs_results
@pytest.mark.parametrize("name", ["ex-8-1", "ex-8-2", "ex-8-3"])
def test_the_chapters_self_tests_pass(name):
    from tsc.exercises import selftest

    assert name in selftest(name)


@needs_results
def test_the_stopping_rule_is_graded_on_a_stratified_dev_split():
    """Not the first questions of the held-out table (all of the easiest size), but training
    questions of every size in equal parts."""
    import json

    from tsc.experiments import path_of

    record = json.loads(path_of("ch08_arithmetic").read_text(encoding="utf-8"))
    table = record["data"]["rule_table"]
    assert record["config"]["rule_questions"] == len(table["keys"]) and "size" in table
    sizes = table["size"]
    assert {s: sizes.count(s) for s in set(sizes)} == {s: len(sizes) // 3 for s in (2, 3, 4)}
