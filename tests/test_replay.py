"""Drawing one round at a time (`Policy.sample`'s ``offset``) and replaying strategies on a
table of samples drawn once (`tsc.replay`): the same samples, answers and charges as live."""

from __future__ import annotations

import pytest
from fakes import ScriptedPolicy, ScriptedStepVerifier

from tsc.analysis import draw
from tsc.replay import TablePolicy, TableVerifier, check_replay
from tsc.strategies import best_of_n, majority_vote, solve_many
from tsc.strategies.free_energy import AnswerModel, Channel, free_energy
from tsc.strategies.stopping import stop_when_decided
from tsc.tasks.countdown import Countdown

PROMPTS = ["13 4 7 2>48:", "3 5 6>21:"]


@pytest.mark.parametrize("lean", [True, False])
def test_offset_continues_each_prompts_stream(tiny_policy, lean):
    tiny_policy.lean = lean
    try:
        whole = tiny_policy.sample(PROMPTS, n=6, temperature=1.0, seed=[11, 12], max_new_tokens=12)
        for start, count in [(0, 2), (2, 3), (5, 1)]:
            part = tiny_policy.sample(PROMPTS, n=count, temperature=1.0, seed=[11, 12], offset=start, max_new_tokens=12)
            for row, full in zip(part, whole):
                assert [c.text for c in row] == [c.text for c in full[start : start + count]]
                assert [c.num_tokens for c in row] == [c.num_tokens for c in full[start : start + count]]
    finally:
        tiny_policy.lean = True


def test_offset_is_checked(tiny_policy):
    with pytest.raises(ValueError, match="one seed per prompt"):
        tiny_policy.sample(PROMPTS, n=1, seed=3, offset=2)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="offset must be"):
            tiny_policy.sample(PROMPTS, n=1, seed=[1, 2], offset=bad)


def test_one_round_at_a_time_draws_majoritys_samples(tiny_policy):
    problem = Countdown((13, 4, 7, 2), 48)
    model = AnswerModel(a=0.3, b=2.0, gamma=5.0, tokens=12.0)
    adaptive = free_energy(problem, tiny_policy, n=6, model=model, cost_per_token=0.0001, seed=4, max_new_tokens=12)
    full = majority_vote(problem, tiny_policy, n=6, seed=4, max_new_tokens=12)
    k = adaptive.trace["samples"]
    assert k >= 1 and list(adaptive.candidates) == list(full.candidates[:k])


def test_replayed_strategies_match_live_ones(tiny_policy):
    problems = [Countdown((13, 4, 7, 2), 48), Countdown((3, 5, 6), 21), Countdown((2, 9, 4), 17)]
    table = draw(problems, tiny_policy, n=8, temperature=1.0, seed=9, max_new_tokens=12, chunk=16)
    model = AnswerModel(a=0.3, b=2.0, gamma=5.0, tokens=12.0)
    for strategy, knobs in [
        (majority_vote, {"n": 8}),
        (majority_vote, {"n": 3}),
        (stop_when_decided, {"n": 8, "lead": 2}),
        (free_energy, {"n": 8, "model": model, "cost_per_token": 0.0002}),
    ]:
        check = check_replay(strategy, problems, tiny_policy, table, seed=9, max_new_tokens=12, **knobs)
        assert check["same_answer"] == check["same_tokens"] == 3, (strategy.__name__, check)
        assert check["flops_ratio"] == pytest.approx(1.0), (strategy.__name__, check)


def test_a_table_refuses_what_it_does_not_hold(tiny_policy):
    problems = [Countdown((13, 4, 7, 2), 48)]
    table = draw(problems, tiny_policy, n=4, temperature=1.0, seed=9, max_new_tokens=12)
    replay = TablePolicy(tiny_policy, table)
    with pytest.raises(ValueError, match="table of 4 samples"):
        solve_many(majority_vote, problems, replay, seed=9, n=5, max_new_tokens=12)
    with pytest.raises(ValueError, match="temperature"):
        solve_many(majority_vote, problems, replay, seed=9, n=2, temperature=0.5, max_new_tokens=12)
    with pytest.raises(ValueError, match="no row"):
        solve_many(majority_vote, problems, replay, seed=10, n=2, max_new_tokens=12)
    with pytest.raises(ValueError, match="it has none"):
        TableVerifier(object(), table)
    one_stream = draw(problems, tiny_policy, n=4, temperature=1.0, seed=9, max_new_tokens=12, one_stream=True)
    with pytest.raises(ValueError, match="one_stream=True"):
        TablePolicy(tiny_policy, one_stream)


def test_a_table_replays_the_verifier_and_its_charges():
    problem = Countdown((1, 2, 3, 4), 21)
    texts = ["1+2=3,3+4=7,7*3=21.", "1+2=3,3*4=12,12+3=15.", "4+2=6,6+1=7,7*3=21."]
    policy = ScriptedPolicy({problem.prompt(): texts})
    policy.encode = lambda prompts: [[0] * (len(p) + 1) for p in prompts]  # what a TablePolicy charges by
    policy.flops = lambda prompt_len, gen_len: 1000 * (prompt_len + gen_len)
    verifier = ScriptedStepVerifier(lambda p, t: [0.9 if t.endswith("21.") else 0.1] * len(p.steps(t)))
    other = Countdown((3, 5, 6), 21)
    policy.script[other.prompt()] = ["3*5=15,15+6=21.", "3+5=8,8+6=14."]
    table = draw([problem, other], policy, n=3, temperature=1.0, seed=1, verifiers={"v": verifier}, one_by_one=True)
    assert sorted(table.scores("v")[0]) == [0.1, 0.9, 0.9] and table.verifier_flops["v"].shape == (2, 3)
    # the table's ledger is what the policy charged for every problem, with or without scoring
    # (drawing with a verifier once kept only the last sample's scoring ledger)
    unscored = draw([problem, other], policy, n=3, temperature=1.0, seed=1)
    assert table.ledger.policy_flops == unscored.ledger.policy_flops == 1000 * table.ledger.tokens > 0
    assert table.ledger.verifier_flops == 0 and table.ledger.samples == 6
    live = best_of_n(problem, policy, n=3, verifier=verifier, seed=table_seed(problem))
    replayed = best_of_n(problem, TablePolicy(policy, table), n=3, verifier=TableVerifier(verifier, table), seed=table_seed(problem))
    assert replayed.answer == live.answer
    assert replayed.ledger.verifier_flops == live.ledger.verifier_flops
    channel = Channel(edges=(0.5,), correct=(0.1, 0.9), wrong=(0.9, 0.1), cost=1.0)
    fe = free_energy(
        problem, TablePolicy(policy, table), n=3, model=AnswerModel(), channel=channel,
        verifier=TableVerifier(verifier, table), cost_per_token=0.0001, seed=table_seed(problem),
    )  # fmt: skip
    assert fe.correct


def table_seed(problem):
    from tsc.core import problem_seed

    return problem_seed(1, problem)
