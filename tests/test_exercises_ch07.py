"""Chapter 7's exercise checkers: the reference is correct, the placeholder not attempted, and
the wrong answers students are most likely to write are rejected with a message that points at
the mistake (never an exception)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsc.economics import replay, stop_by_windows, stored_samples
from tsc.exercises import Feedback, check_frontier, check_token_cost, check_window_rule

# --- 7.1: a ledger in dollars --------------------------------------------------------------


def reference_cost(ledger, price):
    cached = price.input if price.cached_input is None else price.cached_input
    return (
        ledger.prompt_tokens * price.input
        + ledger.reused_tokens * cached
        + ledger.generated_tokens * price.output
        + ledger.verifier_tokens * price.input
    ) / 1e6


def test_token_cost_reference_and_placeholder():
    assert check_token_cost(reference_cost).correct
    assert check_token_cost(lambda ledger, price: None).status == "not attempted"
    assert check_token_cost(None).status == "not attempted"


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda l, p: reference_cost(l, p) * 1e6, "per million tokens"),  # forgot the million
        (  # reused tokens at the full input price
            lambda l, p: ((l.prompt_tokens + l.reused_tokens + l.verifier_tokens) * p.input + l.generated_tokens * p.output) / 1e6,
            "cached_input, not at the full input price",
        ),
        (  # reused tokens left out
            lambda l, p: ((l.prompt_tokens + l.verifier_tokens) * p.input + l.generated_tokens * p.output) / 1e6,
            "cheaper, not free",
        ),
        (  # everything at the input price
            lambda l, p: reference_cost(l, p) + l.generated_tokens * (p.input - p.output) / 1e6,
            "thinking included",
        ),
        (  # the verifier forgotten
            lambda l, p: reference_cost(l, p) - l.verifier_tokens * p.input / 1e6,
            "verifier_tokens as input",
        ),
    ],
)
def test_token_cost_likely_mistakes_get_their_hint(wrong, hint):
    feedback = check_token_cost(wrong)
    assert feedback.status == "incorrect" and hint in feedback.message, feedback.message


def test_token_cost_crash_on_a_missing_cache_price_is_explained():
    def crashes(ledger, price):
        return (
            ledger.prompt_tokens * price.input + ledger.reused_tokens * price.cached_input + ledger.generated_tokens * price.output
        ) / 1e6

    feedback = check_token_cost(crashes)
    assert feedback.status == "incorrect" and "TypeError" in feedback.message and "cached_input is None" in feedback.message


# --- 7.2: the Pareto frontier --------------------------------------------------------------


def reference_frontier(costs, accuracies):
    points = range(len(costs))
    keep = [
        i
        for i in points
        if not any(
            costs[j] <= costs[i] and accuracies[j] >= accuracies[i] and (costs[j] < costs[i] or accuracies[j] > accuracies[i])
            for j in points
        )
    ]
    return sorted(keep, key=lambda i: costs[i])


def sweep_not_strict(costs, accuracies):  # keeps a costlier point of equal accuracy
    best, keep = -1.0, []
    for i in sorted(range(len(costs)), key=lambda i: (costs[i], -accuracies[i])):
        if accuracies[i] >= best:
            keep.append(i)
            best = accuracies[i]
    return keep


def test_frontier_reference_and_placeholder():
    assert check_frontier(reference_frontier).correct
    assert check_frontier(lambda c, a: None).status == "not attempted"


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda c, a: sorted(reference_frontier(c, a), key=lambda i: -a[i]), "from the cheapest"),  # sorted by accuracy
        (lambda c, a: reference_frontier([-x for x in c], a), "most expensive"),  # cost treated as good
        (sweep_not_strict, "beaten"),
        (lambda c, a: sorted({min(range(len(c)), key=c.__getitem__), max(range(len(c)), key=a.__getitem__)}, key=c.__getitem__), "between"),
        (lambda c, a: [c[i] for i in reference_frontier(c, a)], "list of indices"),  # costs instead of indices
        (  # "beaten" without "strictly better in one": two equal points remove each other
            lambda c, a: sorted(
                [i for i in range(len(c)) if not any(j != i and c[j] <= c[i] and a[j] >= a[i] for j in range(len(c)))], key=c.__getitem__
            ),
            "Equal points removed each other",
        ),
    ],
)
def test_frontier_likely_mistakes_get_their_hint(wrong, hint):
    feedback = check_frontier(wrong)
    assert feedback.status == "incorrect" and hint in feedback.message, feedback.message


def test_frontier_accepts_numpy_indices():
    assert check_frontier(lambda c, a: np.array(reference_frontier(c, a))).correct


# --- 7.3: ESC's window rule ----------------------------------------------------------------


def reference_rule(keys, window):
    last = keys[-window:]
    return len(last) == window and last[0] is not None and all(k == last[0] for k in last)


def test_window_rule_reference_and_placeholder():
    assert check_window_rule(reference_rule).correct
    assert check_window_rule(lambda keys, window: None).status == "not attempted"


@pytest.mark.parametrize(
    "wrong, expect",
    [
        (lambda keys, w: len(set(keys)) == 1, "whatever the first said"),  # every sample so far, not the latest window
        (lambda keys, w: len(set(keys[-w:])) == 1, "malformed"),  # None counted as an answer
        (lambda keys, w: max(keys[-w:].count(k) for k in keys[-w:]) * 2 > w, "one sample disagrees"),  # majority, not unanimity
        (lambda keys, w: len(set(keys[:w])) == 1 and keys[0] is not None, "latest window"),  # the first window only
        (lambda keys, w: "yes" if reference_rule(keys, w) else "no", "True or False"),
        (lambda keys, w: keys[-1] is not None and all(k == keys[-1] for k in keys[-w:]), "window is not full"),  # fires too early
    ],
)
def test_window_rule_likely_mistakes(wrong, expect):
    feedback = check_window_rule(wrong)
    assert feedback.status == "incorrect" and expect in feedback.message, feedback.message


def test_stop_by_windows_replays_a_rule():
    samples = stored_samples(
        dict(keys=[[0, 0, 1, 1, 1, 1], [0, 1, 0, 1, 0, 1]], right=[1, 0], tokens=np.ones((2, 6), dtype=int), prompt_tokens=[2, 2])
    )
    out = replay(samples, stop_by_windows(reference_rule, 2))
    assert list(out["samples"]) == [2, 6] and list(out["correct"]) == [0.0, 1.0]  # a 3-3 tie goes to the answer seen first
    with pytest.raises(ValueError, match="window"):
        stop_by_windows(reference_rule, 0)


arbitrary = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5), st.lists(st.integers(), max_size=3))


@given(value=arbitrary)
def test_checkers_never_raise(value):
    for feedback in (
        check_token_cost(lambda ledger, price: value),
        check_token_cost(value),
        check_frontier(lambda c, a: value),
        check_frontier(value),
        check_window_rule(lambda keys, window: value),
        check_window_rule(value),
    ):
        assert isinstance(feedback, Feedback) and feedback.status in {"not attempted", "incorrect", "correct"}
        if value is not None:
            assert feedback.status != "not attempted"


@pytest.mark.parametrize("name", ["ex-7-1", "ex-7-2", "ex-7-3"])
def test_the_chapters_self_tests_pass(name):
    from tsc.exercises import selftest

    assert name in selftest(name)
