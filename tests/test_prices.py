"""Price models (tsc.compute): a ledger in dollars under an API's token prices, a rented
machine, and a fixed price per task; bad prices are refused in one clear line."""

from __future__ import annotations

import math

import pytest

from tsc.compute import Ledger, PerTask, Price, SelfHosted, TokenPrice

LEDGER = Ledger(
    prompt_tokens=1_000, reused_tokens=3_000, generated_tokens=4_000, verifier_tokens=500, policy_flops=10**12, verifier_flops=10**11
)


def test_token_price_bills_each_kind_of_token_at_its_rate():
    price = TokenPrice(input=2.0, output=8.0, cached_input=0.5)
    # computed prompt tokens as input, reused ones as cached input, generated as output, the verifier's reading as input
    expected = (1_000 * 2.0 + 3_000 * 0.5 + 4_000 * 8.0 + 500 * 2.0) / 1e6
    assert LEDGER.cost(price) == pytest.approx(expected)
    assert price.cost(LEDGER) == LEDGER.cost(price)


def test_cached_input_defaults_to_the_input_price():
    assert TokenPrice(input=2.0, output=8.0).cost(LEDGER) == pytest.approx((4_500 * 2.0 + 4_000 * 8.0) / 1e6)


def test_reasoning_tokens_are_billed_as_output():
    # a model that thinks 10x longer before the same answer pays 10x the output tokens, nothing else
    short, long = Ledger(prompt_tokens=100, generated_tokens=50), Ledger(prompt_tokens=100, generated_tokens=500)
    price = TokenPrice(input=1.0, output=4.0)
    assert long.cost(price) - short.cost(price) == pytest.approx(450 * 4.0 / 1e6)


def test_scaled_price_is_a_batch_discount():
    price = TokenPrice(input=3.0, output=15.0, cached_input=0.3, name="x")
    half = price.scaled(0.5)
    assert (half.input, half.output, half.cached_input, half.name) == (1.5, 7.5, 0.15, "x")
    assert LEDGER.cost(half) == pytest.approx(LEDGER.cost(price) / 2)
    assert TokenPrice(input=1.0, output=2.0).scaled(2).cached_input is None


def test_self_hosted_costs_the_time_its_flops_take():
    machine = SelfHosted(dollars_per_hour=3.6, decode_flops_per_second=1e9)
    assert machine.seconds(LEDGER) == pytest.approx(1.1e12 / 1e9)  # one rate for reading and writing
    assert LEDGER.cost(machine) == pytest.approx(1_100 * 3.6 / 3600)
    assert machine.per_token(1_000) == pytest.approx(1e-6)


def test_self_hosted_prices_reading_and_writing_apart():
    """Policy FLOPs split by computed prompt and generated tokens (1,000 and 4,000 here): a
    fifth is reading, at the prefill rate with the verifier's; four fifths writing."""
    machine = SelfHosted(dollars_per_hour=3.6, decode_flops_per_second=1e9, prefill_flops_per_second=1e10)
    reading, writing = 0.2e12 + 1e11, 0.8e12
    assert machine.seconds(LEDGER) == pytest.approx(reading / 1e10 + writing / 1e9)
    prompt_heavy = Ledger(prompt_tokens=4_000, generated_tokens=1_000, policy_flops=10**12)
    assert prompt_heavy.cost(machine) < LEDGER.cost(machine)  # the same FLOPs, more of them read: cheaper
    half_busy = SelfHosted(3.6, 1e9, 1e10, utilisation=0.5)
    assert LEDGER.cost(half_busy) == pytest.approx(2 * LEDGER.cost(machine)) and half_busy.per_token(1_000) == pytest.approx(2e-6)


def test_self_hosted_from_timed_runs():
    run = Ledger(policy_flops=5 * 10**9, seconds=2.0)
    machine = SelfHosted.measured(1.0, run)
    assert machine.decode_flops_per_second == pytest.approx(2.5e9) and machine.reading_rate == machine.decode_flops_per_second
    assert run.cost(machine) == pytest.approx(2.0 / 3600)  # the run itself costs its own wall time
    reading = Ledger(prompt_tokens=100, policy_flops=4 * 10**9, seconds=0.1)
    assert SelfHosted.measured(1.0, run, reading).prefill_flops_per_second == pytest.approx(4e10)


def test_per_task_price_ignores_the_work():
    assert Ledger().cost(PerTask(0.25)) == 0.25 and LEDGER.cost(PerTask(0.25)) == 0.25


def test_the_price_models_implement_the_protocol():
    for price in (TokenPrice(input=1, output=2), SelfHosted(1.0, 1e9), PerTask(1.0)):
        assert isinstance(price, Price)


@pytest.mark.parametrize(
    "build, field",
    [
        (lambda: TokenPrice(input=-1.0, output=8.0), "input"),
        (lambda: TokenPrice(input=2.0, output=math.nan), "output"),
        (lambda: TokenPrice(input=2.0, output=math.inf), "output"),
        (lambda: TokenPrice(input="2", output=8.0), "input"),
        (lambda: TokenPrice(input=True, output=8.0), "input"),
        (lambda: TokenPrice(input=2.0, output=8.0, cached_input=-0.5), "cached_input"),
        (lambda: TokenPrice(input=2.0, output=8.0).scaled(-0.5), "factor"),
        (lambda: SelfHosted(dollars_per_hour=-2.0, decode_flops_per_second=1e9), "dollars_per_hour"),
        (lambda: SelfHosted(dollars_per_hour=2.0, decode_flops_per_second=0.0), "decode_flops_per_second"),
        (lambda: SelfHosted(2.0, 1e9, prefill_flops_per_second=-1.0), "prefill_flops_per_second"),
        (lambda: SelfHosted(2.0, 1e9, utilisation=0.0), "utilisation"),
        (lambda: SelfHosted(2.0, 1e9, utilisation=1.5), "utilisation"),
        (lambda: SelfHosted(dollars_per_hour=2.0, decode_flops_per_second=1e9).per_token(0), "tokens_per_second"),
        (lambda: PerTask(dollars=-0.01), "dollars"),
        (lambda: PerTask(dollars=None), "dollars"),
    ],
)
def test_bad_prices_are_refused_in_one_line(build, field):
    with pytest.raises(ValueError, match=field) as error:
        build()
    assert "\n" not in str(error.value) and "got" in str(error.value)


def test_a_ledger_without_timing_cannot_measure_a_machine():
    with pytest.raises(ValueError, match="timed run"):
        SelfHosted.measured(1.0, Ledger(policy_flops=10**9))


def test_a_server_ledger_of_unknown_size_has_no_self_hosted_cost():
    ledger = Ledger(prompt_tokens=10, generated_tokens=10, flops_known=False)
    with pytest.raises(ValueError, match="TokenPrice"):
        ledger.cost(SelfHosted(1.0, 1e9))
    assert ledger.cost(TokenPrice(input=1.0, output=1.0)) == pytest.approx(20e-6)


@pytest.mark.parametrize("bad", [2.5, "gpt-4o", None, {"input": 2.0}])
def test_ledger_cost_refuses_what_is_not_a_price(bad):
    with pytest.raises(ValueError, match="price must be a TokenPrice"):
        LEDGER.cost(bad)
