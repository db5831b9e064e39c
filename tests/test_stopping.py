"""`early_stop`: majority voting that samples in rounds and stops once the vote is decided."""

from __future__ import annotations

import itertools
import json
import math
from fractions import Fraction

import pytest
from fakes import ScriptedPolicy
from hypothesis import given
from hypothesis import strategies as st

from tsc.core import problem_seed
from tsc.lm.checkpoint import ASSETS
from tsc.strategies import STRATEGIES, early_stop, majority_vote, solve_many
from tsc.strategies.stopping import decided, lead_probability, should_stop, stop_point, tally
from tsc.tasks.countdown import Countdown
from tsc.votes import majority_choice

P = Countdown((1, 2, 3, 4), 21)
A = "1+2=3,3+4=7,7*3=21."  # correct
A2 = "2+1=3,4+3=7,3*7=21."  # the same answer key as A
W = "1+2=3,3*4=12,12+3=15."  # wrong
M = "banana."  # malformed: no vote


def exact_lead(leader: int, runner_up: int) -> Fraction:
    m = leader + runner_up + 1
    return Fraction(sum(math.comb(m, j) for j in range(leader + 1)), 2**m)


@pytest.mark.parametrize("leader, runner_up", [(0, 0), (1, 0), (4, 0), (3, 1), (7, 1), (6, 2), (10, 10), (12, 3)])
def test_lead_probability_is_the_beta_posterior(leader, runner_up):
    assert lead_probability(leader, runner_up) == pytest.approx(float(exact_lead(leader, runner_up)), rel=1e-12)


def test_lead_probability_known_values_and_shape():
    assert lead_probability(0, 0) == 0.5 and lead_probability(5, 5) == pytest.approx(0.5)
    assert lead_probability(4, 0) == pytest.approx(31 / 32) and lead_probability(3, 1) == pytest.approx(13 / 16)
    assert lead_probability(5, 0) > lead_probability(4, 0) > lead_probability(4, 1)  # more agreement, more certainty
    assert 0.99 < lead_probability(6_000, 5_000) <= 1.0  # large counts neither overflow nor underflow
    for bad in [(-1, 0), (1.5, 0), (True, 0), ("3", 1)]:
        with pytest.raises(ValueError, match="vote counts"):
            lead_probability(*bad)


@pytest.mark.parametrize(
    "keys, remaining, expected",
    [
        (["a", "a", "a"], 3, True),  # an unseen answer could at most tie, and a tie goes to the leader
        (["a", "a", "a"], 4, False),
        (["a", "b", "a"], 1, True),  # b could tie at 2, but a was seen first
        (["b", "a", "a"], 1, False),  # b could tie at 2 and was seen first
        (["a", None, None], 1, True),
        ([None, None], 0, True),
        ([None, None], 1, False),
        ([], 0, True),
        ([], 1, False),
    ],
)
def test_decided(keys, remaining, expected):
    assert decided(tally(keys), remaining) is expected


@given(st.lists(st.sampled_from(["a", "b", "c", None]), min_size=1, max_size=12), st.data())
def test_a_decided_vote_is_the_final_majority(keys, data):
    # whatever the remaining samples say, majority of all n chooses the answer leading when decided
    n = len(keys)
    for drawn in range(n + 1):
        if decided(tally(keys[:drawn]), n - drawn):
            now, final = majority_choice(keys[:drawn]), majority_choice(keys)
            assert (now is None and final is None) or keys[now] == keys[final]


def test_decided_is_exact_on_small_alphabets():
    # decided(prefix) holds exactly when no continuation can change the majority's answer
    for n in range(1, 7):
        for prefix_len in range(n + 1):
            for prefix in itertools.product("ab", repeat=prefix_len):
                finals = {
                    prefix_key
                    for rest in itertools.product("abc", repeat=n - prefix_len)
                    for prefix_key in [(list(prefix) + list(rest))[majority_choice(list(prefix) + list(rest))]]
                }
                leading = None if not prefix else prefix[majority_choice(list(prefix))]
                assert decided(tally(list(prefix)), n - prefix_len) == (finals == {leading}), (prefix, n)


def test_should_stop_rules():
    assert should_stop(["a"] * 4, n=16, threshold=0.95)  # 31/32 >= 0.95
    assert not should_stop(["a", "a", "a", "b"], n=16, threshold=0.95)  # 13/16
    assert not should_stop(["a"] * 4, n=16, threshold=1.0)  # only a decided vote stops at 1
    assert should_stop(["a"] * 8, n=16, threshold=1.0)
    assert should_stop(["a", "b"], n=2, threshold=1.0)  # the budget is spent
    assert not should_stop([None] * 4, n=16, threshold=0.5)  # no vote yet: nothing to be sure of


def test_knob_errors_name_the_knob():
    for bad in [0.3, 1.5, math.nan, True, "0.9"]:
        with pytest.raises(ValueError, match="threshold must be a probability from 0.5 to 1"):
            early_stop(P, ScriptedPolicy({P.prompt(): [A]}), n=8, threshold=bad)
    for bad in [0, -2, 2.5, True]:
        with pytest.raises(ValueError, match="window"):
            early_stop(P, ScriptedPolicy({P.prompt(): [A]}), n=8, window=bad)
    with pytest.raises(ValueError, match="n \\(samples per problem\\)"):
        early_stop(P, ScriptedPolicy({P.prompt(): [A]}), n=0)


def test_agreeing_samples_stop_after_one_window():
    policy = ScriptedPolicy({P.prompt(): [A, A2, A, A2]})
    result = early_stop(P, policy, n=16, window=4)
    assert result.correct and result.trace["samples"] == 4 and result.trace["stopped"] == "posterior"
    assert result.trace["rounds"] == 1 and len(policy.calls) == 1 and policy.calls[0]["n"] == 4
    assert result.ledger.generated_tokens == sum(map(len, [A, A2, A, A2]))


def test_threshold_one_stops_only_when_decided():
    policy = ScriptedPolicy({P.prompt(): [A]})
    result = early_stop(P, policy, n=16, window=4, threshold=1.0)
    assert result.trace["samples"] == 8 and result.trace["stopped"] == "decided"  # 8 votes cannot be overtaken by 8 more


def test_split_votes_use_the_whole_budget():
    policy = ScriptedPolicy({P.prompt(): [A, W, M, W, A, M]})
    result = early_stop(P, policy, n=12, window=4)
    assert result.trace["samples"] == 12 and result.trace["stopped"] == "budget" and result.trace["rounds"] == 3


def test_rounds_continue_one_stream():
    # round r draws samples 4r..4r+3 of the problem's stream: together, what one call of 12 draws
    texts = [A, W, M, W, A, M, A, W, A, M, W, W]
    policy = ScriptedPolicy({P.prompt(): texts})
    result = early_stop(P, policy, n=12, window=4, threshold=1.0, seed=5)
    one_call = ScriptedPolicy({P.prompt(): texts}).sample([P.prompt()], n=12, seed=[5])[0]
    assert list(result.candidates) == [c.text for c in one_call][: result.trace["samples"]]
    assert [c["n"] for c in policy.calls] == [4, 4, 4]


def test_threshold_one_gives_majority_of_n_on_a_script():
    for texts in ([A, W, W, A, A, M, W, A], [W, W, W, W, A, A, A, A], [M, M, A, W, W, A, A, A], [A] * 8):
        policy = ScriptedPolicy({P.prompt(): texts})
        stopped = early_stop(P, policy, n=8, window=2, threshold=1.0, seed=3)
        full = majority_vote(P, ScriptedPolicy({P.prompt(): texts}), n=8, seed=3)
        assert stopped.answer == full.answer and stopped.correct == full.correct


def test_stop_point_replays_the_strategy():
    texts = [A, W, A, A, W, A, A, A, M, A, W, A, A, W, A, A]
    for threshold in (0.6, 0.8, 0.95, 1.0):
        for window in (1, 2, 3, 4, 16):
            result = early_stop(P, ScriptedPolicy({P.prompt(): texts}), n=16, window=window, threshold=threshold)
            keys = [P.answer_key(t) for t in texts]
            assert stop_point(keys, n=16, threshold=threshold, window=window) == result.trace["samples"]
    with pytest.raises(ValueError, match="all n=16"):
        stop_point(keys[:8], n=16)


def test_registered_and_batched():
    assert STRATEGIES["early_stop"].run is early_stop
    problems = [P, Countdown((2, 3, 4), 20), Countdown((5, 6, 7), 18)]
    script = {
        P.prompt(): [A, A, W, A, M, A],
        problems[1].prompt(): ["2+3=5,5*4=20."],
        problems[2].prompt(): ["5+6=11,11+7=18.", "5*6=30,30-7=23.", "bad."],
    }
    batched = solve_many(early_stop, problems, ScriptedPolicy(script), seed=1, n=12, window=3)
    single = [early_stop(p, ScriptedPolicy(script), n=12, window=3, seed=problem_seed(1, p)) for p in problems]
    for b, s in zip(batched, single):
        assert (b.answer, b.candidates, b.trace, b.ledger.tokens) == (s.answer, s.candidates, s.trace, s.ledger.tokens)
    assert tally(["a", None, "b", "a"]) == {"a": 2, "b": 1}


@pytest.mark.skipif(not (ASSETS / "arithmetic" / "config.json").exists(), reason="the bundled arithmetic model is not trained yet")
def test_on_the_arithmetic_model_rounds_draw_the_samples_of_one_call():
    import tsc
    from tsc.tasks import get_task

    policy = tsc.load_policy("arithmetic")
    problems = get_task("arithmetic").generate(12, seed=3)
    prompts, seeds = [policy.format(p) for p in problems], [problem_seed(0, p) for p in problems]
    whole = policy.sample(prompts, n=8, temperature=1.0, seed=seeds, max_new_tokens=48)
    first = policy.sample(prompts, n=3, temperature=1.0, seed=seeds, max_new_tokens=48)
    rest = policy.sample(prompts, n=5, temperature=1.0, seed=seeds, max_new_tokens=48, offset=3)
    assert [[c.text for c in row] for row in whole] == [[c.text for c in a + b] for a, b in zip(first, rest)]
    with pytest.raises(ValueError, match="one seed per prompt"):
        policy.sample(prompts[:1], n=2, seed=0, offset=2)
    with pytest.raises(ValueError, match="offset must be"):
        policy.sample(prompts[:1], n=2, seed=[0], offset=-1)
    # threshold 1: majority of 16's answers on every question, with fewer samples drawn
    stopped = solve_many(early_stop, problems, policy, seed=0, n=16, threshold=1.0, max_new_tokens=48)
    full = solve_many(majority_vote, problems, policy, seed=0, n=16, max_new_tokens=48)
    assert [problems[i].answer_key(r.answer or "") for i, r in enumerate(stopped)] == [
        problems[i].answer_key(r.answer or "") for i, r in enumerate(full)
    ]
    assert sum(r.ledger.generated_tokens for r in stopped) <= sum(r.ledger.generated_tokens for r in full)
    json.dumps([r.trace for r in stopped])  # the trace is plain data


def test_lead_probability_is_exact_where_a_threshold_could_tie():
    """One vote gives exactly 3/4 (a float sum of binomial terms gave 0.7499999999999999, so a
    threshold of 0.75 silently refused to stop after one sample); the rule compares fractions."""
    from fractions import Fraction

    from tsc.strategies.stopping import attainable, lead_fraction

    assert lead_fraction(1, 0) == Fraction(3, 4) and lead_probability(1, 0) == 0.75
    assert lead_fraction(2, 0) == Fraction(7, 8) and lead_fraction(3, 1) == Fraction(13, 16)
    assert should_stop(["a"], n=16, threshold=0.75) and not should_stop(["a"], n=16, threshold=0.76)
    assert Fraction(3, 4) in attainable(16) and all(p.denominator & (p.denominator - 1) == 0 for p in attainable(16))


def test_the_threshold_grid_avoids_every_attainable_value():
    from fractions import Fraction

    from tsc.economics import THRESHOLDS
    from tsc.strategies.stopping import attainable

    values = set(attainable(64))
    assert not any(Fraction(t) in values for t in THRESHOLDS)
