"""The model zoo: packed training batches, every recipe kind trains, the bundled models and their cards."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

import tsc
import tsc.lm.checkpoint
from tsc.lm.model import build_model
from tsc.lm.tokenizer import build_char_tokenizer
from tsc.lm.train import RECIPES, alphabet, collate, pack, train, training_examples
from tsc.tasks import arithmetic, countdown
from tsc.zoo import ZOO_FIELDS, family_table, readme_text, zoo

# --- packing ------------------------------------------------------------------------------


def test_packed_batches_give_the_padded_loss_and_gradients():
    recipe = RECIPES["countdown"]
    tokenizer = build_char_tokenizer()
    shape = dataclasses.replace(RECIPES["smoke"].shape, max_len=96)
    model = build_model(shape, tokenizer, seed=1)
    examples = training_examples(recipe, 0)[:40]
    packed = pack(tokenizer, examples, 96)
    lengths = packed.pop("lengths")
    padded = collate(tokenizer, examples)
    assert packed["input_ids"].shape[0] < padded["input_ids"].shape[0]  # fewer rows: less padding
    assert int(lengths.sum()) == int(padded["attention_mask"].sum())  # the same tokens
    loss_packed = model(**packed).loss
    grads_packed = torch.autograd.grad(loss_packed, list(model.parameters()))
    loss_padded = model(**padded).loss
    grads_padded = torch.autograd.grad(loss_padded, list(model.parameters()))
    assert loss_packed.item() == pytest.approx(loss_padded.item(), abs=1e-5)
    for a, b in zip(grads_packed, grads_padded):
        assert torch.allclose(a, b, atol=1e-5)


def test_pack_cuts_a_sequence_longer_than_a_row():
    tokenizer = build_char_tokenizer()
    batch = pack(tokenizer, [("1 2>3:", "1+2=3" * 10 + ".")], 16)
    assert batch["input_ids"].shape == (1, 16) and int(batch["lengths"][0]) == 16


# --- every kind of recipe trains -------------------------------------------------------------


KINDS = [("countdown", "direct"), ("arithmetic", "policy"), ("arithmetic", "direct"), ("countdown", "trace")]


@pytest.mark.parametrize("task, kind", KINDS)
def test_training_data_of_each_kind_checks_out(task, kind):
    recipe = dataclasses.replace(RECIPES["smoke"], task=task, kind=kind, sizes=(3,) if task == "countdown" else (2, 3), batch_size=32)
    tokenizer = build_char_tokenizer(alphabet(recipe))
    for prompt, target in training_examples(recipe, 5):
        if task == "arithmetic":
            problem = arithmetic.Arithmetic(prompt.rstrip(":"))
        else:
            numbers, goal = prompt.rstrip(":").split(">")
            problem = countdown.Countdown(tuple(map(int, numbers.split())), int(goal))
        assert problem.check(target) or (kind == "trace" and "#" not in target), (prompt, target)
        if kind == "direct":
            assert "=" not in target  # the answer alone, no steps
        assert tokenizer.unk_token_id not in tokenizer(prompt + target, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("task, kind", KINDS)
def test_a_small_recipe_of_each_kind_lowers_the_loss(task, kind, tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    recipe = dataclasses.replace(
        RECIPES["smoke"],
        name=f"smoke-{task}-{kind}",
        task=task,
        kind=kind,
        sizes=(3,) if task == "countdown" else (2,),
        steps=12,
        batch_size=16,
        warmup=3,
        shape=dataclasses.replace(RECIPES["smoke"].shape, max_len=512 if kind == "trace" else 96),
    )
    card = train(recipe, tmp_path, progress=False)
    losses = [json.loads(line)["loss"] for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.2
    assert card["kind"] == kind and card["task"] == task
    policy = tsc.load_policy(tmp_path / "final")
    assert policy.card["kind"] == kind


# --- the bundled zoo --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rows():
    return zoo()


def test_every_bundled_model_lists_its_card(rows):
    for row in rows:
        for field in ("name", "params", "train_tokens", "train_flops", "seconds", "seed", "eval"):
            assert row.get(field) is not None, (row["name"], field)
        assert set(ZOO_FIELDS) <= set(row)


def test_the_zoo_stays_under_45_megabytes(rows):
    # 40 until Chapter 4's four annealed runs and Chapter 3's FLOP-matched direct twin (6.9 MB in float16)
    assert sum(r["megabytes"] for r in rows) <= 45


def test_the_family_spans_four_sizes_and_30x_with_three_checkpoints_each(rows):
    family = [r for r in rows if r.get("family") == "countdown"]
    sizes = {r["params"] for r in family}
    assert len(sizes) >= 4 and max(sizes) >= 30 * min(sizes)
    for size in sizes:
        steps = sorted(r["steps"] for r in family if r["params"] == size)
        assert len(steps) >= 3, (size, steps)
    # one training-FLOPs axis: later checkpoints and larger models cost more
    for size in sizes:
        runs = sorted((r for r in family if r["params"] == size), key=lambda r: r["steps"])
        assert all(a["train_flops"] < b["train_flops"] for a, b in zip(runs, runs[1:]))
    assert family_table(rows).count("\n") == len(family) + 1


def test_the_kinds_the_issue_asks_for_are_bundled(rows):
    kinds = {(r["task"] or "countdown", r["kind"] or "policy") for r in rows}
    for wanted in [("countdown", "trace"), ("arithmetic", "policy"), ("countdown", "direct"), ("arithmetic", "direct")]:
        assert wanted in kinds, wanted


@pytest.mark.parametrize("kind", ["direct", "trace"])
def test_new_kinds_load_as_policies(rows, kind):
    name = next(r["name"] for r in rows if r["kind"] == kind)
    policy = tsc.load_policy(name)
    assert policy.card["kind"] == kind


def test_the_readme_is_what_the_command_writes():
    from tsc.lm.checkpoint import ASSETS

    assert (ASSETS / "README.md").read_text() == readme_text(), "run python -m tsc zoo --readme"


def test_half_precision_checkpoints_load_as_float32(rows):
    name = next(r["name"] for r in rows if r["stored"] == "float16")
    policy = tsc.load_policy(name)
    assert all(p.dtype == torch.float32 for p in policy.model.parameters())


@pytest.mark.skipif(not (tsc.lm.checkpoint.ASSETS / "trace" / "config.json").exists(), reason="the trace model is not trained yet")
def test_the_batched_trace_evaluation_is_budget_forcing_problem_by_problem():
    from tsc.evaluation import evaluate_trace
    from tsc.lm.train import task_problems
    from tsc.strategies.thinking import budget_forcing

    policy = tsc.load_policy("trace")
    figures = evaluate_trace(policy, problems=12, budgets=(32, 64, 128), seed=5)
    problems = task_problems("countdown", 12, seed=5, sizes=tuple(policy.card["problems"]["sizes"]))
    for budget in (32, 64, 128):
        solved = sum(budget_forcing(p, policy, thinking_tokens=budget).correct for p in problems)
        assert figures["thinking"][str(budget)]["value"] == round(solved / 12, 4)


def test_compare_figures_walks_nested_sections():
    from tsc.zoo import compare_figures

    card = {
        "overall": {"greedy": {"value": 0.5, "low": 0.4, "high": 0.6}, "problems": 9},
        "thinking": {"64": {"value": 0.1, "low": 0.0, "high": 0.2}},
    }
    new = {"overall": {"greedy": {"value": 0.65, "low": 0.6, "high": 0.7}}, "thinking": {"64": {"value": 0.15}}, "extra": {}}
    rows = compare_figures(new, card)
    assert [(name, value) for name, value, _ in rows] == [("overall/greedy", 0.65), ("thinking/64", 0.15)]
