"""The revision model's data (failed attempts, then a correct one) and its evaluation."""

from __future__ import annotations

import dataclasses

import pytest
from fakes import ScriptedPolicy, countdown_prompt_problem

from tsc.core import revision_prompt
from tsc.evaluation import evaluate_revision
from tsc.lm.checkpoint import bundled_models
from tsc.lm.policy import load_policy
from tsc.lm.revision import MAX_FAILED, RevisionData
from tsc.lm.train import RECIPES, collate, train

WRONG = ("1+1=2.", "2*2=4.", "junk")


def script(prompt: str) -> list[str]:
    """Three wrong attempts (one repeated) and, for even targets only, a right one."""
    problem = countdown_prompt_problem(prompt)
    right = [problem.solution_text(problem.solve())] if problem.target % 2 == 0 else []
    return [*WRONG, WRONG[0], *right]


@pytest.fixture(scope="module")
def recipe():
    return dataclasses.replace(RECIPES["revision"], pool=12, pool_samples=5, batch_size=64, sizes=(3,))


def test_the_pool_keeps_distinct_failed_and_correct_attempts(recipe, tmp_path):
    policy = ScriptedPolicy(script)
    data = RevisionData.build(recipe, policy, cache=tmp_path / "pool.json.gz")
    assert len(data.entries) == 12 and all(len(e.problem.numbers) == 3 for e in data.entries)
    assert all(c["temperature"] == 1.0 and c["n"] == 5 for c in policy.calls)
    for entry in data.entries:
        assert entry.failed == WRONG  # distinct, in sampling order
        assert len(entry.correct) == (entry.problem.target % 2 == 0) and all(entry.problem.check(t) for t in entry.correct)
    assert data.ledger.samples == 60 and data.summary()["problems"] == 12
    # read back from the cache: the same pool, no sampling
    again = RevisionData.build(recipe, ScriptedPolicy({}), cache=tmp_path / "pool.json.gz")
    assert again.entries == data.entries and again.ledger.tokens == data.ledger.tokens


def test_examples_are_failed_attempts_then_a_correct_one(recipe):
    data = RevisionData.build(recipe, ScriptedPolicy(script))
    examples = data.examples(3)
    assert examples == data.examples(3) and examples != data.examples(4)  # a pure function of the step
    assert len(examples) == recipe.batch_size
    counts = set()
    for context, answer in examples:
        problem = countdown_prompt_problem(context.split(":")[0] + ":")
        attempts = context[len(problem.prompt()) :]
        failed = [a + "." for a in attempts.split(".") if a]
        assert len(failed) <= MAX_FAILED and set(failed) <= {"1+1=2.", "2*2=4.", "junk."}
        assert context == revision_prompt(problem.prompt(), failed)
        assert problem.check(answer)  # the policy's own right answer, or the solver's when it had none
        counts.add(len(failed))
    assert counts == {0, 1, 2, 3}


def test_the_loss_falls_on_the_correct_attempt_only(recipe, tiny_policy):
    data = RevisionData.build(recipe, ScriptedPolicy(script))
    context, answer = next(e for e in data.examples(0) if e[0].count(".") == 2)
    batch = collate(tiny_policy.tokenizer, [(context, answer)])
    labelled = [t for t in batch["labels"][0].tolist() if t != -100]
    assert tiny_policy.tokenizer.decode(labelled, skip_special_tokens=True) == answer


def test_evaluate_revision_figures(tiny_policy):
    card = evaluate_revision(tiny_policy, tiny_policy, per_size=2, sizes=(3,), rounds=(1, 2), temperatures=(1.0,), parallel_n=2)
    overall = card["overall"]
    assert overall["problems"] == 2 and set(card["by_size"]) == {"3"}
    for k in (1, 2):
        for name in (f"revise_last@{k}", f"revise_any@{k}", f"parallel_pass@{k}"):
            assert 0 <= overall[name]["low"] <= overall[name]["value"] <= overall[name]["high"] <= 1
        assert overall[f"revise_flops@{k}"] > 0 and overall[f"parallel_flops@{k}"] > 0
    assert overall["revise_any@2"]["value"] >= overall["revise_any@1"]["value"] == overall["revise_last@1"]["value"]
    assert overall["revise_flops@2"] > overall["revise_flops@1"]  # the second attempt re-reads the first
    assert "parallel samples" in card["verdict"]


@pytest.mark.skipif("countdown" not in bundled_models(), reason="the bundled Countdown model is not trained yet")
def test_a_revision_recipe_fine_tunes_the_policy_with_a_longer_context(recipe, tmp_path):
    short = dataclasses.replace(recipe, steps=2, batch_size=8, pool=16, save_every=0, eval_every=0)
    card = train(short, tmp_path, progress=False)
    assert card["kind"] == "revision" and card["steps"] == 2 and card["init_from"]["model"] == "countdown"
    assert card["data_pool"]["problems"] == 16 and card["data_pool"]["sampling_flops"] > 0
    assert "failed attempts" in card["data"]
    reviser = load_policy(tmp_path / "final")  # a revision model is a causal LM: load_policy takes it
    assert reviser.max_len == 192 and reviser.n_params == load_policy("countdown").n_params
    prompt = revision_prompt(reviser.prompt([3, 5, 8], 16), ["3*5=15,15+8=23"] * 8)  # longer than the policy's 96
    assert 96 < len(reviser.encode([prompt])[0]) <= 192
    [[completion]] = reviser.sample([prompt], n=1, temperature=0.0, max_new_tokens=8)
    assert completion.num_tokens >= 1
