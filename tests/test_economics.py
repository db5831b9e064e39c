"""tsc.economics: list prices, throughput, cost per correct answer, the Pareto frontier,
early stopping replayed on stored samples, and the pricing simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fakes import ScriptedPolicy

from tsc.compute import Ledger, SelfHosted, TokenPrice
from tsc.core import Completion
from tsc.economics import (
    LIST_PRICES,
    choose_stopping,
    cost_per_correct,
    costs,
    ledgers,
    list_price,
    majority_correct,
    measure_latency,
    measure_prefill,
    measure_throughput,
    ratio,
    replay,
    replay_early_stop,
    simulate_pricing,
    stopping_grid,
    stored_samples,
)
from tsc.experiments.ch07 import compact_samples
from tsc.strategies.stopping import stop_point
from tsc.tasks.arithmetic import Arithmetic


def test_list_prices_are_valid_and_dated():
    for row in LIST_PRICES:
        price = list_price(row["model"])
        assert price.input == row["input"] and price.output >= price.input and price.cached_input <= price.input
        assert row["date"].startswith("2025") and row["checked"] in ("provider", "secondary") and row["source"].startswith("Pricing")
        assert row["accessed"] >= "2026" and "accessed" in price.name and row["date"] in price.name  # every price says when
    with pytest.raises(ValueError, match="known: GPT-4o"):
        list_price("gpt-9")


def test_measure_throughput_on_a_fake():
    policy = ScriptedPolicy(lambda prompt: ["1+2=3.", "1+2=3,3*3=9."])
    rows = measure_throughput(policy, ["a:", "b:"], batches=(1, 3), repeats=2)
    assert [r.batch for r in rows] == [1, 3]
    for r in rows:
        assert r.tokens > 0 and r.seconds > 0 and r.steps >= 6 and r.flops > 0
        assert r.tokens_per_second == r.tokens / r.seconds and r.seconds_per_request == r.seconds
        assert len(r.repeat_seconds) == 2 and r.seconds == min(r.repeat_seconds)
    with pytest.raises(ValueError, match="positive integers"):
        measure_throughput(policy, ["a:"], batches=(0,))
    with pytest.raises(ValueError, match="at least one prompt"):
        measure_throughput(policy, [], batches=(1,))


def test_measure_prefill_and_latency_on_a_fake():
    policy = ScriptedPolicy(lambda prompt: ["1+2=3.", "1+2=3,3*3=9."])
    reading = measure_prefill(policy, ["ab:", "cde:"], batch=4, repeats=2)
    assert reading.batch == 4 and reading.tokens == (4 + 5) * 2 and reading.steps == 1 and reading.flops > 0  # prompt tokens read
    assert len(reading.repeat_seconds) == 2 and reading.seconds == min(reading.repeat_seconds)
    latency = measure_latency(policy, "ab:", ns=(1, 4), repeats=2)
    assert sorted(latency) == [1, 4] and all(s > 0 for s in latency.values())
    with pytest.raises(ValueError, match="at least one prompt"):
        measure_prefill(policy, [])


def test_cost_per_correct():
    value, low, high = cost_per_correct([1.0, 1.0, 1.0, 1.0], [1, 0, 1, 0])
    assert value == 2.0 and low <= value <= high
    assert cost_per_correct([1.0, 2.0], [0, 0]) == (math.inf, math.inf, math.inf)
    assert cost_per_correct([1.0, 1.0, 1.0], [1, 0, 0])[2] == math.inf  # some resamples solve nothing
    with pytest.raises(ValueError, match="one cost and one verdict"):
        cost_per_correct([1.0], [1, 0])


def test_ratio_and_records():
    value, low, high = ratio([1, 2, 3], [2, 4, 6])
    assert value == low == high == 0.5
    records = {
        "prompt_tokens": [10, 20],
        "reused_tokens": [0, 5],
        "generated_tokens": [30, 40],
        "verifier_tokens": [0, 0],
        "policy_flops": [100, 200],
        "verifier_flops": [0, 50],
    }
    [a, b] = ledgers(records)
    assert a == Ledger(prompt_tokens=10, generated_tokens=30, policy_flops=100)
    assert b.reused_tokens == 5 and b.verifier_flops == 50
    price = TokenPrice(input=1.0, output=2.0, cached_input=0.5)
    assert costs(records, price) == pytest.approx([(10 + 60) / 1e6, (20 + 2.5 + 80) / 1e6])
    assert costs(records, SelfHosted(3600.0, 1.0)) == pytest.approx([100, 250])
    with pytest.raises(ValueError, match="verifier_flops"):
        ledgers({k: v for k, v in records.items() if k != "verifier_flops"})


SAMPLES = stored_samples(
    {
        "keys": [[0, 0, 0, 0, 0, 0, 0, 0], [0, 1, 0, 1, 2, -1, 1, 1], [-1, -1, 0, 1, 2, 3, 4, 5]],
        "right": [0, 1, -1],
        "tokens": [[5] * 8, [6] * 8, [7] * 8],
        "prompt_tokens": [3, 3, 3],
    }
)


def test_samples_replay_the_strategy_rule():
    assert SAMPLES.n == 8
    assert majority_correct(SAMPLES, 0, 1) and not majority_correct(SAMPLES, 1, 4) and majority_correct(SAMPLES, 1, 8)
    assert not majority_correct(SAMPLES, 2, 8) and SAMPLES.keys[1][5] is None and not SAMPLES.correct[2].any()
    out = replay_early_stop(SAMPLES, threshold=0.95, window=4)
    for i in range(3):
        assert out["samples"][i] == stop_point(list(SAMPLES.keys[i]), n=8, threshold=0.95, window=4)
    assert list(out["samples"]) == [4, 8, 8]
    assert list(out["generated_tokens"]) == [20, 48, 56] and list(out["prompt_tokens"]) == [3, 6, 6]
    assert list(out["correct"]) == [1.0, 1.0, 0.0]
    everything = replay(SAMPLES, lambda keys, n: n)  # a rule that never stops early is majority of n
    assert list(everything["samples"]) == [8, 8, 8] and list(everything["correct"]) == [1.0, 1.0, 0.0]


def test_stopping_grid_and_choice():
    grid = stopping_grid(SAMPLES, windows=(2, 4), thresholds=(0.6, 0.95, 1.0))
    assert len(grid) == 6 and all(0 < r["token_fraction"] <= 1 for r in grid)
    full = [r for r in grid if r["threshold"] == 1.0]
    assert all(r["loss"] == 0 for r in full)  # a decided vote never changes the answer
    choice = choose_stopping(SAMPLES, max_loss=0.0, windows=(2, 4), thresholds=(0.6, 0.95, 1.0))
    chosen = next(r for r in grid if (r["window"], r["threshold"]) == (choice["window"], choice["threshold"]))
    assert chosen["loss"] <= 0 and chosen["token_fraction"] == min(r["token_fraction"] for r in grid if r["loss"] <= 0)


def test_compact_samples():
    q = Arithmetic("7*8-13")
    row = [Completion(t, len(t), 0.0) for t in ["7*8=56,56-13=43.", "bad", "7*8=56,56-13=44.", "7*8=56,56-13=43."]]
    data = compact_samples([q], [row])
    assert data == {"keys": [[0, -1, 1, 0]], "right": [0], "tokens": [[16, 3, 16, 16]]}


def test_simulate_pricing():
    rng = np.random.default_rng(0)
    hard = np.arange(400) % 2 == 1
    cost = np.where(hard, 8.0, 1.0) * rng.uniform(0.5, 1.5, 400)
    correct = np.where(hard, rng.random(400) < 0.3, rng.random(400) < 0.9)
    out = simulate_pricing(cost, correct, hard, hard_shares=[0.1, 0.5, 0.9], markup=1.5, questions=200, days=50)
    models = out["models"]
    # at the reference mix (half hard) every model earns about the same
    revenues = [models[m]["revenue"][1] for m in models]
    assert max(revenues) / min(revenues) < 1.1
    # per token: the margin is a constant share of cost; per task: fixed revenue, margin falls as questions get harder
    per_token, per_task, per_correct = models["per token"], models["per task"], models["per correct answer"]
    assert all(abs(m - 0.5 * c) < 1e-6 * c for m, c in zip(per_token["margin"], per_token["cost"]))
    assert per_task["revenue"][0] == per_task["revenue"][2] and per_task["margin"][2] < 0 < per_task["margin"][0]
    assert per_correct["margin"][2] < per_task["margin"][2]  # paid per right answer, the provider also carries failures
    assert all(lo <= m <= hi for m, lo, hi in zip(per_task["margin"], per_task["margin_low"], per_task["margin_high"]))
    with pytest.raises(ValueError, match="both hard and easy"):
        simulate_pricing(cost, correct, np.zeros(400, bool), hard_shares=[0.5])
    with pytest.raises(ValueError, match="markup"):
        simulate_pricing(cost, correct, hard, hard_shares=[0.5], markup=-1)


def test_price_runs_prices_every_run_with_intervals():
    from tsc.compute import TokenPrice
    from tsc.economics import price_runs

    base = {"reused_tokens": [0] * 4, "verifier_tokens": [0] * 4, "policy_flops": [1] * 4, "verifier_flops": [0] * 4}
    runs = {
        "cheap": {**base, "correct": [1, 0, 0, 1], "prompt_tokens": [10] * 4, "generated_tokens": [20] * 4},
        "dear": {**base, "correct": [1, 1, 1, 0], "prompt_tokens": [10] * 4, "generated_tokens": [200] * 4},
    }
    price = TokenPrice(input=1.0, output=2.0)
    cheap, dear = price_runs(runs, price)
    assert cheap["name"] == "cheap" and cheap["cost"] == (10 + 40) / 1e6
    assert cheap["accuracy"] == 0.5 and cheap["low"] <= 0.5 <= cheap["high"]
    assert dear["per_correct"] == dear["cost"] * 4 / 3
    assert cheap["cost_low"] <= cheap["cost"] <= cheap["cost_high"]
