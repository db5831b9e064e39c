"""tsc.tradeoff: curves on one FLOPs axis, iso-accuracy and exchange rates, deployment, efficiency."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tsc.allocation as fitting
import tsc.tradeoff as tt
from tsc.analysis import pareto, pass_at_k


def test_sample_flops_read_the_prompt_once():
    row = {"prefill_flops": [100, 300], "sample_flops": [10, 30]}
    assert tt.sample_flops(row, [1, 4]).tolist() == [220.0, 280.0]
    assert tt.sample_flops(row, [2], mask=np.array([True, False])).tolist() == [120.0]


def test_per_problem_oracle_is_pass_at_k():
    row = {"correct": [0, 3, 8], "majority": [[0, 0], [0.5, 1.0], [1, 1]]}
    values = tt.per_problem(row, [1, 4], 8)
    assert values[1, 1] == pytest.approx(pass_at_k(8, 3, 4)) and values[0].tolist() == [0, 0] and values[2].tolist() == [1, 1]
    assert tt.per_problem(row, [1, 4], 8, how="majority")[1].tolist() == [0.5, 1.0]
    assert tt.per_problem(row, [4], 8, how="majority", measured=[1, 4])[:, 0].tolist() == [0, 1.0, 1]
    with pytest.raises(ValueError, match="stored at k"):
        tt.per_problem(row, [4], 8, how="majority")  # which column is k = 4? say measured=
    with pytest.raises(ValueError, match="oracle"):
        tt.per_problem(row, [1], 8, how="vibes")


def test_flops_to_reach_interpolates_in_log_flops():
    acc, flops = [0.1, 0.3, 0.5], [1e6, 1e7, 1e8]
    assert tt.flops_to_reach(0.2, acc, flops) == pytest.approx(math.sqrt(1e6 * 1e7))
    assert tt.flops_to_reach(0.5, acc, flops) == pytest.approx(1e8)
    assert math.isnan(tt.flops_to_reach(0.6, acc, flops))  # never reached
    assert math.isnan(tt.flops_to_reach(0.05, acc, flops))  # reached before the first budget: unknown
    assert tt.accuracy_at(math.sqrt(1e6 * 1e7), acc, flops) == pytest.approx(0.2)
    assert math.isnan(tt.accuracy_at(1e5, acc, flops)) and math.isnan(tt.accuracy_at(1e9, acc, flops))


def test_frontier_and_exchange_slope():
    train = np.array([1e12, 1e13, 1e14, 2e13])
    test = 1e9 * (train / 1e12) ** -1.2  # 10x training saves 10**1.2 ~ 15.8x test compute
    test[3] = 1e10  # dominated: more training and more test FLOPs than the 1e13 model
    assert tt.frontier(train, test).tolist() == [0, 1, 2]
    assert tt.exchange_slope(train, test) == pytest.approx(-1.2)
    assert math.isnan(tt.exchange_slope(train, np.array([1e9, np.nan, np.nan, np.nan])))
    # a smaller model that needs fewer test FLOPs too: no trade-off, one frontier point
    assert tt.frontier([1e12, 1e13], [1e8, 2e8]).tolist() == [0]


def synthetic_grid(count: int = 60, seed: int = 0) -> dict:
    """Four checkpoints whose per-sample success rate grows with training; cost with size."""
    rng = np.random.default_rng(seed)
    rows = []
    for j, (train, cost, rate) in enumerate([(1e12, 1e7, 0.02), (1e13, 2e7, 0.1), (1e14, 4e7, 0.35), (3e13, 1e8, 0.1)]):
        p = np.clip(rate * rng.lognormal(0, 0.5, count), 0, 1)
        rows.append(
            {
                "name": f"m{j}",
                "size": f"m{j}",
                "step": 1125,
                "train_flops": train,
                "prefill_flops": [cost / 2] * count,
                "sample_flops": [cost] * count,
                "correct": rng.binomial(64, p).tolist(),
                "majority": [[0.0] * 4] * count,
            }
        )
    return {"ks": [1, 4, 16, 64], "samples": 64, "sizes": [3] * count, "checkpoints": rows}


def test_iso_accuracy():
    grid = synthetic_grid()
    test = tt.iso_accuracy(grid, 0.5)
    assert test.shape == (4,) and np.isfinite(test[2])


def test_deployment_cheapest_and_break_even():
    train, per_query = [1e12, 1e13, 1e14], [1e9, 1e8, float("nan")]
    assert tt.cheapest(train, per_query, [1, 1e3, 1e5]).tolist() == [0, 0, 1]
    assert tt.break_even(1e12, 1e9, 1e13, 1e8) == pytest.approx(1e4)
    assert tt.break_even(1e12, 1e8, 1e13, 1e8) == math.inf
    assert tt.break_even(1e13, 1e9, 1e12, 1e8) == 0.0  # less training and cheaper queries: from the start
    assert tt.deployment_envelope(train, per_query) == [(0, 0.0), (1, pytest.approx(1e4))]
    # three options: the middle one takes over first, then the biggest
    envelope = tt.deployment_envelope([1e12, 1e13, 1e14], [1e9, 1e8, 1e7])
    assert [i for i, _ in envelope] == [0, 1, 2] and envelope[2][1] == pytest.approx(1e6)
    # an option never cheapest (its break-even comes after a better one's) is skipped
    assert [i for i, _ in tt.deployment_envelope([1e12, 1e14, 1e13], [1e9, 9e8, 1e8])] == [0, 2]
    assert tt.deployment_envelope([1e12], [float("nan")]) == []


def test_pareto_flops_for_and_efficiency():
    f, a = pareto([1e8, 2e8, 3e8, 4e8], [0.2, 0.1, 0.3, 0.3])
    assert f.tolist() == [1e8, 3e8] and a.tolist() == [0.2, 0.3]
    assert fitting.flops_for(0.25, [1e8, 3e8], [0.2, 0.3]) == pytest.approx(math.sqrt(3e16))
    assert fitting.flops_for(0.1, [1e8, 3e8], [0.2, 0.3]) == 1e8 and fitting.flops_for(0.4, [1e8, 3e8], [0.2, 0.3]) == math.inf
    rng = np.random.default_rng(0)
    count = 400
    base_correct = np.vstack([rng.random(count) < 0.2, rng.random(count) < 0.4]).astype(float)
    base_flops = np.vstack([np.full(count, 1e8), np.full(count, 1e9)])
    # an allocation that matches the dear strategy's accuracy at a quarter of its FLOPs
    correct, flops = base_correct[1], np.full(count, 2.5e8)
    result = fitting.efficiency(correct, flops, base_correct, base_flops, n_boot=200)
    assert result["ratio"] == pytest.approx(4.0) and result["low"] < 4.0 < result["high"] * 1.0001


def test_pair_exchange():
    grid = synthetic_grid()
    r = tt.pair_exchange(grid, "m1", "m2", 0.5, n_boot=50)
    test = tt.iso_accuracy(grid, 0.5)
    expected = (test[1] / test[2]) ** (1 / math.log10(1e14 / 1e13))
    assert r["rate"] == pytest.approx(expected) and r["low"] <= r["rate"] <= r["high"] and r["training_ratio"] == pytest.approx(10)
    assert not r["censored"] and math.isnan(r["bound"])
    hard = tt.pair_exchange(grid, "m0", "m2", 0.9, n_boot=20)  # the weakest model never gets there within 64 samples
    assert hard["censored"] and hard["rate"] == math.inf and hard["high"] == math.inf and 0 < hard["bound"] < math.inf
