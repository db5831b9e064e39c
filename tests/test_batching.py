"""One seed per prompt: a problem's samples do not depend on the other problems in the call,
so solving many problems in one batched call gives the answers of one call per problem."""

from __future__ import annotations

import pytest
from conftest import build_tiny_policy
from fakes import ScriptedPolicy

from tsc.compute import Ledger
from tsc.strategies import best_of_n, greedy, majority_vote, sample, solve_many, weighted_vote
from tsc.tasks import countdown
from tsc.verifiers import Oracle

PROMPTS = ["1 2 3>6:", "4 5>9:", "2 2 7 9>40:", "3 3>9:"]
SEEDS = [11, 22, 33, 44]


def texts(rows):
    """What was written; the log-probabilities agree to float rounding (other batch shapes)."""
    return [[(c.text, c.num_tokens) for c in row] for row in rows]


def logprobs(rows):
    return [c.logprob for row in rows for c in row]


@pytest.fixture(params=[True, False], ids=["lean", "transformers"])
def policy(request):
    tiny = build_tiny_policy()
    tiny.lean = request.param
    return tiny


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_a_prompts_samples_do_not_depend_on_the_others(policy, temperature):
    together = policy.sample(PROMPTS, n=3, temperature=temperature, seed=SEEDS, max_new_tokens=12)
    alone = [policy.sample([p], n=3, temperature=temperature, seed=[s], max_new_tokens=12)[0] for p, s in zip(PROMPTS, SEEDS)]
    assert texts(together) == texts(alone)
    assert logprobs(together) == pytest.approx(logprobs(alone), abs=1e-3)
    reordered = policy.sample(PROMPTS[::-1], n=3, temperature=temperature, seed=SEEDS[::-1], max_new_tokens=12)
    assert texts(reordered[::-1]) == texts(together)
    chunked = policy.sample(PROMPTS, n=3, temperature=temperature, seed=SEEDS, max_new_tokens=12, batch_size=2)
    assert texts(chunked) == texts(together)
    assert len({c.text for row in together for c in row}) > 4  # they do sample


def test_both_samplers_draw_the_same_tokens_from_a_seeded_stream():
    lean, plain = build_tiny_policy(), build_tiny_policy()
    plain.lean = False
    a = lean.sample(PROMPTS, n=4, temperature=1.0, seed=SEEDS, max_new_tokens=10)
    b = plain.sample(PROMPTS, n=4, temperature=1.0, seed=SEEDS, max_new_tokens=10)
    assert [[c.text for c in row] for row in a] == [[c.text for c in row] for row in b]


def test_one_ledger_per_prompt_adds_up_to_the_calls(policy):
    mine = [Ledger() for _ in PROMPTS]
    policy.sample(PROMPTS, n=2, seed=SEEDS, max_new_tokens=8, ledger=mine)
    total = Ledger()
    policy.sample(PROMPTS, n=2, seed=SEEDS, max_new_tokens=8, ledger=total)
    assert sum(m.flops for m in mine) == total.flops and sum(m.tokens for m in mine) == total.tokens
    for prompt, seed, ledger in zip(PROMPTS, SEEDS, mine):
        alone = Ledger()
        policy.sample([prompt], n=2, seed=[seed], max_new_tokens=8, ledger=alone)
        assert (ledger.prompt_tokens, ledger.generated_tokens, ledger.flops, ledger.samples) == (
            alone.prompt_tokens, alone.generated_tokens, alone.flops, alone.samples,
        )  # fmt: skip


def test_bad_seed_and_ledger_lists_are_clear(policy):
    with pytest.raises(ValueError, match="2 seeds for 4 prompts"):
        policy.sample(PROMPTS, seed=[1, 2])
    with pytest.raises(ValueError, match="seeds must be integers"):
        policy.sample(PROMPTS, seed=[1, 2, "3", 4])
    with pytest.raises(ValueError, match="ledger"):
        policy.sample(PROMPTS, ledger=[Ledger()])


@pytest.mark.parametrize(
    "strategy, knobs",
    [
        (greedy, {}),
        (sample, {"temperature": 0.8}),
        (majority_vote, {"n": 5}),
        (best_of_n, {"n": 4, "verifier": Oracle()}),
        (weighted_vote, {"n": 3, "verifier": Oracle()}),
    ],
)
def test_solve_many_equals_one_problem_at_a_time(strategy, knobs):
    from tsc.core import problem_seed

    policy = build_tiny_policy()
    problems = countdown.generate(9, seed=5)
    many = solve_many(strategy, problems, policy, seed=3, batch=8, **knobs)
    for problem, result in zip(problems, many):
        alone = strategy(problem, policy, seed=problem_seed(3, problem), **knobs)
        assert (result.answer, result.candidates, result.scores, result.correct) == (
            alone.answer,
            alone.candidates,
            alone.scores,
            alone.correct,
        )
        assert (result.ledger.tokens, result.ledger.flops, result.ledger.samples) == (
            alone.ledger.tokens,
            alone.ledger.flops,
            alone.ledger.samples,
        )


def test_solve_many_batches_the_policy_calls():
    from fakes import countdown_prompt_problem

    script = lambda prompt: [countdown_prompt_problem(prompt).solution_text(countdown_prompt_problem(prompt).solve())]
    policy = ScriptedPolicy(script)
    problems = countdown.generate(10, seed=1)
    results = solve_many(majority_vote, problems, policy, n=4, batch=16)
    assert all(r.correct for r in results)
    assert [len(c["prompts"]) for c in policy.calls] == [4, 4, 2]  # 16 sequences per call: 4 problems of 4 samples
