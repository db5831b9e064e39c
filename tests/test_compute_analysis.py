"""The compute ledger, FLOP formulas, pass@k, intervals, fits and majority choice."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsc.analysis import (
    SampleTable,
    best_of_accuracy,
    bootstrap,
    exponentiated_power_law,
    fit_exponentiated_power_law,
    majority_choice,
    paired_difference,
    pass_at_k,
    samples_for_coverage,
    weighted_vote_accuracy,
    wilson,
)
from tsc.compute import Ledger, forward_flops, training_flops
from tsc.votes import weighted_choice

# --- pass@k -----------------------------------------------------------------------------


def brute_force_pass_at_k(n: int, c: int, k: int) -> float:
    """The share of all k-subsets of n samples (c of them correct) that hold a correct one."""
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(samples, k))
    return sum(any(s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", range(1, 9))
def test_pass_at_k_matches_brute_force(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute_force_pass_at_k(n, c, k), abs=1e-12), (n, c, k)


def test_pass_at_k_edge_cases():
    assert pass_at_k(10, 0, 1) == 0.0
    assert pass_at_k(10, 0, 10) == 0.0
    assert pass_at_k(10, 8, 3) == 1.0  # n - c = 2 < k: every 3-subset holds a correct one
    assert pass_at_k(10, 10, 1) == 1.0
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    # large n stays finite and in range (the product form never forms huge binomials)
    value = pass_at_k(10_000, 7, 500)
    assert 0 < value < 1
    assert value == pytest.approx(1 - math.comb(10_000 - 7, 500) / math.comb(10_000, 500), rel=1e-9)


@given(n=st.integers(1, 200), data=st.data())
def test_pass_at_k_is_monotone_in_k_and_c(n, data):
    c = data.draw(st.integers(0, n))
    values = [pass_at_k(n, c, k) for k in range(1, n + 1)]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert all(a <= b + 1e-12 for a, b in zip(values, values[1:]))
    if c < n:
        k = data.draw(st.integers(1, n))
        assert pass_at_k(n, c, k) <= pass_at_k(n, c + 1, k) + 1e-12


@pytest.mark.parametrize("n, c, k", [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6), (0, 0, 1), (5, 2, -1)])
def test_pass_at_k_rejects_bad_arguments(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


# --- intervals --------------------------------------------------------------------------


@given(total=st.integers(1, 5000), data=st.data())
def test_wilson_interval_contains_the_estimate(total, data):
    successes = data.draw(st.integers(0, total))
    low, high = wilson(successes, total)
    p = successes / total
    assert 0.0 <= low <= p <= high <= 1.0


def test_wilson_known_values_and_width():
    low, high = wilson(50, 100)
    assert (low, high) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)
    narrow, wide = wilson(500, 1000), wilson(5, 10)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == 1.0


def test_bootstrap_is_reproducible_and_brackets_the_mean():
    values = np.random.default_rng(0).random(50)
    mean, low, high = bootstrap(values, seed=3)
    assert mean == pytest.approx(values.mean())
    assert low < mean < high
    assert (mean, low, high) == bootstrap(values, seed=3)
    assert bootstrap(values, seed=4)[1:] != (low, high)
    # a roughly 95 % interval for a mean of 50 uniforms: half-width about 1.96 * 0.29 / sqrt(50)
    assert 0.05 < high - low < 0.25


def test_bootstrap_columns_and_constant_values():
    table = np.column_stack([np.zeros(20), np.ones(20), np.arange(20) % 2])
    mean, low, high = bootstrap(table, n_boot=500, seed=0)
    assert mean.shape == low.shape == high.shape == (3,)
    assert list(mean) == [0.0, 1.0, 0.5]
    assert low[0] == high[0] == 0.0 and low[1] == high[1] == 1.0
    assert low[2] < 0.5 < high[2]
    with pytest.raises(ValueError):
        bootstrap([])


# --- fits -------------------------------------------------------------------------------


@pytest.mark.parametrize("a, b", [(-2.0, 0.5), (-0.7, 0.3), (-5.0, 1.2)])
def test_fit_recovers_exponentiated_power_law(a, b):
    ks = np.array([1, 2, 4, 8, 16, 32, 64])
    fitted_a, fitted_b = fit_exponentiated_power_law(ks, np.exp(a * ks ** (-b)))
    assert fitted_a == pytest.approx(a, rel=1e-6)
    assert fitted_b == pytest.approx(b, rel=1e-6)


@pytest.mark.parametrize("goal", [0.3, 0.5, 0.9, 0.99])
def test_samples_for_coverage_inverts_the_law(goal):
    a, b = -2.0, 0.5
    k = samples_for_coverage(goal, a, b)
    assert k > 0
    assert exponentiated_power_law(k, a, b) == pytest.approx(goal, rel=1e-9)
    # more samples are needed for a higher goal
    assert samples_for_coverage(min(goal + 0.005, 0.999), a, b) > k


@pytest.mark.parametrize("goal", [0.0, 1.0, -0.5, 1.5])
def test_samples_for_coverage_rejects_impossible_goals(goal):
    with pytest.raises(ValueError):
        samples_for_coverage(goal, -2.0, 0.5)


# --- majority choice --------------------------------------------------------------------


def test_majority_choice_picks_the_most_common_key():
    assert majority_choice(["a", "b", "b"]) == 1
    assert majority_choice(["a", None, "b", None, "b", None]) == 2  # malformed (None) do not vote
    assert majority_choice([None, None]) is None
    assert majority_choice([]) is None
    assert majority_choice([None, "x"]) == 1


def test_majority_choice_ties():
    keys = ["x", "y", "y", "x", "z"]
    assert majority_choice(keys) == 0  # ties go to the key seen first
    assert majority_choice(["y", "x", "x", "y"]) == 0
    picks = {majority_choice(keys, random.Random(seed)) for seed in range(40)}
    assert picks == {0, 1}  # random tie-breaks, always the first completion of a leading key


# --- the ledger and the FLOP formulas ---------------------------------------------------


def test_forward_flops_on_a_hand_computed_example():
    # N=100, 2 layers, d=8, 3 prompt + 2 generated tokens: 2*100*5 + 2 layers * (QK^T + AV:
    # 2*8*t each) summed over t = 1..5 = 1000 + 2*32*15 = 1960
    assert forward_flops(100, 2, 8, 3, 2) == 1960
    assert forward_flops(100, 2, 8, 5, 0) == 1960  # reading or writing a token costs the same
    assert training_flops(100, 2, 8, 5) == 3 * 1960
    assert forward_flops(100, 2, 8, 0, 0) == 0


def test_ledger_arithmetic():
    ledger = Ledger()
    assert (ledger.tokens, ledger.flops, ledger.calls) == (0, 0, 0)
    ledger.charge_policy(prompt_tokens=10, generated_tokens=5, flops=1000, seconds=0.5, samples=2)
    ledger.charge_policy(prompt_tokens=1, generated_tokens=2, flops=30, seconds=0.25, samples=1)
    ledger.charge_verifier(tokens=7, flops=70)
    assert ledger.tokens == 18  # policy tokens only
    assert ledger.flops == 1100
    assert (ledger.policy_flops, ledger.verifier_flops, ledger.verifier_tokens) == (1030, 70, 7)
    assert (ledger.calls, ledger.samples, ledger.seconds) == (3, 3, 0.75)

    other = Ledger(
        prompt_tokens=1, generated_tokens=1, policy_flops=1, verifier_tokens=1, verifier_flops=1, calls=1, seconds=1.0, samples=1
    )
    total = ledger + other
    assert (total.tokens, total.flops, total.calls, total.samples, total.verifier_tokens) == (20, 1102, 4, 4, 8)
    assert total.seconds == pytest.approx(1.75)
    assert ledger.tokens == 18  # adding does not change the operands

    as_json = ledger.to_json()
    assert as_json["tokens"] == 18 and as_json["flops"] == 1100
    assert as_json["policy_flops"] == 1030 and as_json["verifier_flops"] == 70
    assert as_json["prompt_tokens"] == 11 and as_json["generated_tokens"] == 7
    assert as_json["samples"] == 3 and as_json["calls"] == 3 and as_json["seconds"] == 0.75


def _table(correct, keys=None):
    correct = np.asarray(correct, dtype=bool)
    keys = keys or tuple(tuple(f"k{j}" for j in range(correct.shape[1])) for _ in range(correct.shape[0]))
    zeros = np.zeros(correct.shape)
    return SampleTable(problems=tuple(range(len(correct))), texts=(), keys=keys, correct=correct, tokens=zeros, logprobs=zeros,
                       temperature=1.0, seed=0, ledger=Ledger())  # fmt: skip


def test_best_of_with_the_oracle_is_coverage_and_with_no_information_is_pass_at_1():
    correct = [[1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0], [1, 1, 0, 0]]
    table = _table(correct)
    ks = [1, 2, 4]
    oracle = best_of_accuracy(table, np.asarray(correct, float), ks, trials=400)
    exact = [np.mean([pass_at_k(4, sum(row), k) for row in correct]) for k in ks]
    assert np.allclose(oracle["mean"], exact, atol=0.03)
    blind = best_of_accuracy(table, np.zeros((4, 4)), ks, trials=400)  # ties broken at random
    assert np.allclose(blind["mean"], np.mean(correct), atol=0.03)
    anti = best_of_accuracy(table, -np.asarray(correct, float), [4], trials=10)  # always picks a wrong one if any
    assert anti["mean"][0] == pytest.approx(0.0)
    assert np.all(oracle["low"] <= oracle["mean"]) and np.all(oracle["mean"] <= oracle["high"])
    with pytest.raises(ValueError, match="shape"):
        best_of_accuracy(table, np.zeros((4, 3)), ks)


def test_weighted_vote_accuracy_counts_weight_not_heads():
    # problem 0: three wrong samples share key "w" (weight 3 x 0.2), one right sample has 0.9
    keys = (("w", "w", "w", "r"),)
    table = _table([[0, 0, 0, 1]], keys)
    trusting = weighted_vote_accuracy(table, np.array([[0.2, 0.2, 0.2, 0.9]]), [4], trials=5)
    doubting = weighted_vote_accuracy(table, np.array([[0.4, 0.4, 0.4, 0.9]]), [4], trials=5)
    assert trusting["mean"][0] == 1.0 and doubting["mean"][0] == 0.0
    key_of = table.keys[0]
    assert weighted_choice(list(key_of), [0.2, 0.2, 0.2, 0.9]) == (3, {"w": pytest.approx(0.6), "r": 0.9})
    assert weighted_choice([None, None], [1.0, 1.0]) == (None, {})


def test_paired_difference_cancels_what_problems_share():
    correct = [[1, 1, 0, 0], [0, 0, 0, 1], [1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1]]
    table = _table(correct)
    oracle = best_of_accuracy(table, np.asarray(correct, float), [2], trials=300)
    blind = best_of_accuracy(table, np.zeros((5, 4)), [2], trials=300)
    diff = paired_difference(oracle, blind)
    assert diff["mean"][0] == pytest.approx(oracle["mean"][0] - blind["mean"][0])
    assert diff["low"][0] > 0  # the oracle never does worse on any problem
    assert diff["per_problem"].shape == (5, 1) and np.all(diff["per_problem"] >= -0.05)
