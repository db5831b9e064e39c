"""GRPO (tsc.lm.rl): advantages, the sampled tokens it trains on, a few steps that raise the
reward on a toy task, and a resumed run that continues exactly."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict

import numpy as np
import pytest
import torch
from conftest import build_tiny_policy

import tsc
from tsc.cli import main
from tsc.compute import Ledger
from tsc.lm.checkpoint import ASSETS
from tsc.lm.rl import RL_RECIPES, clipped_surrogate, completion_batch, group_advantages, kl_to_reference, policy_update, rollouts, train_rl
from tsc.zoo import zoo


class Toy:
    """A toy task the random tiny model sometimes solves: a completion is right when its first
    character is ``1`` (about one sample in ten at the start)."""

    numbers = (1, 2)

    def __init__(self, target: int):
        self.target = target

    def prompt(self) -> str:
        return f"1 2>{self.target}:"

    def check(self, text: str) -> bool:
        return text.startswith("1")


def toy_problems(step: int) -> list[Toy]:
    return [Toy(3 + (step * 8 + i) % 50) for i in range(8)]


@pytest.fixture
def one_thread(monkeypatch):
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)


TOY = dataclasses.replace(RL_RECIPES["rl-smoke"], steps=10, problems_per_step=8, group_size=8, lr=1e-2, warmup=1, max_new_tokens=4)


def test_group_advantages_are_relative_to_the_group():
    rewards = np.array([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]])
    adv = group_advantages(rewards)
    assert np.allclose(adv.sum(axis=1), 0)  # a baseline: each group's advantages cancel out
    assert np.allclose(adv[1], 0)  # all right: no signal
    assert np.allclose(adv[0], [np.sqrt(3), -1 / np.sqrt(3), -1 / np.sqrt(3), -1 / np.sqrt(3)])
    assert np.allclose(adv[2], [-1, 1, -1, 1])
    assert np.allclose(group_advantages(rewards, std_normalize=False)[0], [0.75, -0.25, -0.25, -0.25])
    with pytest.raises(ValueError, match="group_size >= 2"):
        group_advantages(np.ones((3, 1)))


def test_the_batch_labels_exactly_the_sampled_tokens():
    policy = build_tiny_policy()
    tok = policy.tokenizer
    batch = completion_batch(tok, ["1 2>3:", "1 2>3:"], ["1+2=3.", "1+2"], [False, True])
    ids, labels = batch["input_ids"], batch["labels"]
    eos = tok.eos_token_id
    row0 = [t for t, m in zip(ids[0].tolist(), batch["attention_mask"][0].tolist()) if m]
    assert tok.decode(row0[1:-1]) == "1 2>3:1+2=3." and row0[-1] == eos
    assert [t for t in labels[0].tolist() if t != -100] == tok("1+2=3.", add_special_tokens=False)["input_ids"]  # no end token
    assert [t for t in labels[1].tolist() if t != -100] == tok("1+2", add_special_tokens=False)["input_ids"] + [eos]


def test_a_few_steps_of_grpo_raise_the_reward_on_a_toy_task(tmp_path, one_thread):
    card = train_rl(TOY, tmp_path / "run", policy=build_tiny_policy(seed=3), problems=toy_problems, progress=False)
    log = json.loads((tmp_path / "run" / "final" / "train_log.json").read_text())
    rewards = [s["reward"] for s in log["steps"]]
    assert 0 < np.mean(rewards[:2]) < 0.5, rewards  # the toy is solvable but not solved at first
    assert np.mean(rewards[-2:]) > np.mean(rewards[:2]) + 0.3, rewards
    # the card keeps sampling and updates apart, and counts what it trained on
    assert card["steps"] == TOY.steps and card["rl_samples"] == TOY.steps * 8 * 8
    assert card["sampling_flops"] > 0 and card["update_flops"] > 0
    assert card["train_flops"] == card["sampling_flops"] + card["update_flops"]
    assert 0 < card["trained_samples"] <= card["rl_samples"]


def test_a_resumed_run_continues_exactly(tmp_path, one_thread):
    recipe = dataclasses.replace(TOY, steps=4, save_every=2)
    whole = train_rl(recipe, tmp_path / "whole", policy=build_tiny_policy(seed=3), problems=toy_problems, progress=False)

    def interrupted(step):
        if step == 3:
            raise KeyboardInterrupt
        return toy_problems(step)

    with pytest.raises(KeyboardInterrupt):
        train_rl(recipe, tmp_path / "cut", policy=build_tiny_policy(seed=3), problems=interrupted, progress=False)
    assert (tmp_path / "cut" / "resume.pt").exists()
    other = dataclasses.replace(recipe, lr=1e-3)  # a resumed run must be the same recipe
    with pytest.raises(ValueError, match="another recipe"):
        train_rl(other, tmp_path / "cut", policy=build_tiny_policy(seed=3), problems=toy_problems, progress=False)
    resumed = train_rl(recipe, tmp_path / "cut", policy=build_tiny_policy(seed=3), problems=toy_problems, progress=False)
    assert resumed["weights_sha256"] == whole["weights_sha256"]
    assert resumed["update_flops"] == whole["update_flops"]
    assert not (tmp_path / "cut" / "resume.pt").exists()  # a finished run leaves its final model only
    # a run in pieces (pause_at) ends where the whole run ends
    assert (
        train_rl(recipe, tmp_path / "pieces", policy=build_tiny_policy(seed=3), problems=toy_problems, pause_at=3, progress=False) is None
    )
    pieces = train_rl(recipe, tmp_path / "pieces", policy=build_tiny_policy(seed=3), problems=toy_problems, progress=False)
    assert pieces["weights_sha256"] == whole["weights_sha256"]


class Digit(Toy):
    """Right when the completion starts with a digit: about half the tiny model's samples."""

    def check(self, text: str) -> bool:
        return text[:1].isdigit()


def _toy_update(recipe, *, lr=0.05, seed=3, **kwargs):
    """One `policy_update` of the tiny model on a batch of toy rollouts; (result, record)."""
    policy = build_tiny_policy(seed=seed)
    data = rollouts(policy, [Digit(3 + i) for i in range(8)], recipe, seed=0, ledger=Ledger())
    keep = [i for i, a in enumerate(data.advantages) if a != 0.0]
    assert keep, "the toy batch must have groups that disagree"
    optimizer = torch.optim.AdamW(policy.model.parameters(), lr=lr)
    record: list = []
    result = policy_update(policy.model, optimizer, policy.tokenizer, data, keep, recipe, step=recipe.warmup, record=record, **kwargs)
    return result, record


def test_a_second_epoch_clips_the_ratio_and_its_loss_is_the_clipped_surrogate(one_thread):
    """With ``epochs = 2`` the second update sees a policy that has moved: its ratios leave
    [1 - clip, 1 + clip], the clip binds, and the loss is PPO's clipped surrogate averaged
    over the trained tokens."""
    recipe = dataclasses.replace(TOY, epochs=2, clip=0.2)
    result, record = _toy_update(recipe)
    assert len(record) == 2 and result["epoch_losses"] == pytest.approx([r["loss"] for r in record])
    first, second = record
    mask = first["mask"]
    n_tokens = int(mask.sum())
    assert result["trained_tokens"] == n_tokens
    # epoch 1: the policy is the sampling policy, every ratio is exactly 1 and nothing is clipped
    assert torch.equal(first["logp"], first["old"])
    ratio = torch.exp(second["logp"] - second["old"])[mask]
    adv = second["advantages"].expand_as(mask)[mask]
    outside = (ratio - 1).abs() > recipe.clip
    assert outside.any() and result["clipped"] == pytest.approx(int(outside.sum()) / (2 * n_tokens))
    # the loss of epoch 2, by hand: -mean over trained tokens of min(ratio A, clip(ratio) A)
    ratio_, adv_ = ratio.numpy().astype(float), adv.numpy().astype(float)
    by_hand = -np.minimum(ratio_ * adv_, np.clip(ratio_, 0.8, 1.2) * adv_).sum() / n_tokens
    assert second["loss"] == pytest.approx(by_hand, rel=1e-5)
    # where the clip binds in the direction the advantage pushes, the token gets no gradient
    logp = second["logp"].clone().requires_grad_(True)
    loss, _ = clipped_surrogate(logp, second["old"], second["advantages"], mask, clip=recipe.clip, n_tokens=n_tokens)
    loss.backward()
    grad = logp.grad[mask]
    binds = ((ratio > 1.2) & (adv > 0)) | ((ratio < 0.8) & (adv < 0))
    assert binds.any() and torch.all(grad[binds] == 0)
    assert torch.all(grad[~binds & (adv != 0)] != 0)


def test_one_epoch_never_clips(one_thread):
    result, record = _toy_update(dataclasses.replace(TOY, epochs=1))
    assert len(record) == 1 and result["clipped"] == 0 and torch.equal(record[0]["logp"], record[0]["old"])


def test_the_kl_penalty_is_zero_at_the_reference_and_grows_away_from_it():
    logp = torch.log(torch.tensor([[0.5, 0.2, 0.9]]))
    mask = torch.tensor([[True, True, False]])
    assert kl_to_reference(logp, logp.clone(), mask, n_tokens=2).item() == 0
    reference = torch.log(torch.tensor([[0.25, 0.4, 0.01]]))
    r = torch.tensor([0.5, 2.0])  # pi_ref / pi on the trained tokens
    expected = ((r - torch.log(r) - 1).sum() / 2).item()
    assert kl_to_reference(logp, reference, mask, n_tokens=2).item() == pytest.approx(expected)  # the masked token is ignored
    assert kl_to_reference(logp, reference, mask, n_tokens=2).item() > 0
    with pytest.raises(ValueError, match="reference model"):
        _toy_update(dataclasses.replace(TOY, kl=0.1))


def test_a_run_with_a_kl_penalty_logs_it_and_charges_the_reference(tmp_path, one_thread):
    recipe = dataclasses.replace(TOY, steps=3, kl=0.5)
    start = build_tiny_policy(seed=3)
    before = {k: v.clone() for k, v in start.model.state_dict().items()}
    card = train_rl(recipe, tmp_path / "kl", policy=start, problems=toy_problems, progress=False)
    log = json.loads((tmp_path / "kl" / "final" / "train_log.json").read_text())
    assert all("kl" in s and s["kl"] >= 0 for s in log["steps"]) and any(s["kl"] > 0 for s in log["steps"][1:])
    assert "KL penalty 0.5" in card["data"] and "reference model" in card["flops_formula"]
    assert any(not torch.equal(before[k], v) for k, v in start.model.state_dict().items())  # it trained
    plain = train_rl(
        dataclasses.replace(recipe, kl=0.0), tmp_path / "plain", policy=build_tiny_policy(seed=3), problems=toy_problems, progress=False
    )
    assert "no KL penalty" in plain["data"] and "reference" not in plain["flops_formula"]


# --- the bundled RL model ---------------------------------------------------------------------

RL_DIR = ASSETS / "countdown-rl"
needs_rl = pytest.mark.skipif(not (RL_DIR / "config.json").exists(), reason="countdown-rl is not trained yet")


@needs_rl
def test_the_rl_model_is_in_the_zoo_with_its_card_and_log():
    row = next(r for r in zoo() if r["name"] == "countdown-rl")
    assert row["kind"] == "policy" and row["stored"] == "float16" and row["init_from"]["model"] == "countdown"
    card = json.loads((RL_DIR / "card.json").read_text())
    for field in (
        "steps",
        "rl_problems",
        "rl_samples",
        "generated_tokens",
        "train_tokens",
        "sampling_flops",
        "update_flops",
        "seconds",
        "seed",
    ):
        assert card[field] > 0 or field == "seed", field
    assert card["train_flops"] == card["sampling_flops"] + card["update_flops"]
    assert card["rl_samples"] == card["rl_problems"] * card["recipe"]["group_size"]
    assert card["reproduce"] == "python -m tsc train --recipe countdown-rl --install"
    log = json.loads((RL_DIR / card["train_log"]).read_text())
    evals = log["evals"]
    assert len(evals) >= 6 and evals[0]["step"] == 0 and evals[-1]["step"] == card["steps"]
    flops = [e["sampling_flops"] + e["update_flops"] for e in evals]
    assert all(a < b for a, b in zip(flops, flops[1:]))
    for e in evals:
        for key in ("greedy", "pass@1"):
            assert e[key]["low"] <= e[key]["value"] <= e[key]["high"]
    assert len(log["steps"]) == card["steps"]


@needs_rl
def test_the_rl_model_meets_the_issue_target_on_its_card():
    # held-out, the cards' 900 problems: one sample at T=1 solves 10+ points more than the
    # starting model; greedy is not worse
    rl = json.loads((RL_DIR / "card.json").read_text())["eval"]["overall"]
    base = json.loads((ASSETS / "countdown" / "card.json").read_text())["eval"]["overall"]
    assert rl["pass@1"]["value"] >= base["pass@1"]["value"] + 0.10
    assert rl["greedy"]["value"] >= base["greedy"]["value"]


@needs_rl
def test_the_rl_model_loads_and_solves(tmp_path):
    policy = tsc.load_policy("countdown-rl")
    assert all(p.dtype == torch.float32 for p in policy.model.parameters())
    problems = [{"numbers": [3, 5, 8], "target": 16}, {"numbers": [13, 4, 7, 2], "target": 48}]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(p) + "\n" for p in problems))
    output = tmp_path / "out.jsonl"
    assert main(["solve", "--model", "countdown-rl", "--strategy", "greedy", "--input", str(source), "--output", str(output)]) == 0
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(records) == 2 and all("error" not in r and r["tokens"] > 0 for r in records)


def test_the_rl_recipe_is_a_train_choice():
    from tsc.cli import _parser

    args = _parser().parse_args(["train", "--recipe", "countdown-rl", "--steps", "3"])
    assert args.recipe == "countdown-rl"


# --- chapter 2's stored experiments -------------------------------------------------------------


@pytest.mark.parametrize("name", ["rl_pass_at_k", "budget_forcing_curve", "budget_forcing_wait", "parallel_samples"])
def test_chapter_2_results_are_stored_for_their_configuration(name):
    # the chapter reads these back; a changed configuration would make the book recompute them for minutes
    from tsc import experiments

    record = experiments.stored(name)
    if record is None:
        pytest.skip(f"{name} is not computed yet")
    assert record["config"] == json.loads(json.dumps(experiments.EXPERIMENTS[name].config))
    assert record["data"]


def test_the_budget_forcing_experiments_share_their_problems():
    from tsc import experiments

    curve, wait = experiments.stored("budget_forcing_curve"), experiments.stored("budget_forcing_wait")
    if curve is None or wait is None:
        pytest.skip("not computed yet")
    n = len(wait["data"]["problems"])
    assert wait["data"]["problems"] == curve["data"]["problems"][:n]
    # no minimum, budget 560: the same greedy thinking as the curve's 512-token budget wherever it stopped by itself
    free, capped = wait["data"]["configs"][0], curve["data"]["configs"][-1]
    for i in range(n):
        if not capped["forced"][i]:
            assert free["correct"][i] == capped["correct"][i] and free["thinking"][i] == capped["thinking"][i]


def test_the_shipped_kl_model_is_the_kl_recipe_from_the_same_start():
    """Chapter 2's remedy: `countdown-rl-kl` ships beside the bundled run with its log, from the
    same starting evaluation, one record per step, its penalty logged at every step."""
    recipe = RL_RECIPES["countdown-rl-kl"]
    kl_dir = ASSETS / "countdown-rl-kl"
    card = json.loads((kl_dir / "card.json").read_text())
    kl_log = json.loads((kl_dir / card["train_log"]).read_text())
    plain = json.loads((RL_DIR / "train_log.json").read_text())
    assert card["recipe"] == kl_log["recipe"] == json.loads(json.dumps(asdict(recipe))) and recipe.kl > 0
    assert card["reproduce"] == "python -m tsc train --recipe countdown-rl-kl --install"
    assert [s["step"] for s in kl_log["steps"]] == list(range(1, recipe.steps + 1))
    assert [e["step"] for e in kl_log["evals"]] == list(recipe.eval_at)
    assert all(s["kl"] >= 0 for s in kl_log["steps"])
    assert kl_log["evals"][0]["pass@1"] == plain["evals"][0]["pass@1"]  # the same model, problems and seeds at step 0
    differs = {k for k, v in asdict(recipe).items() if v != asdict(RL_RECIPES["countdown-rl"])[k]}
    assert differs == {"name", "kl"}  # everything else equal


def test_the_shipped_450_step_log_starts_as_the_bundled_run():
    """The log of `countdown-rl-450` (Chapter 2's longer run): the bundled recipe run on to 450
    steps, from the same starting evaluation and the same first steps (its samples part from
    the bundled run's later: the batching code changed between the two runs)."""
    recipe = RL_RECIPES["countdown-rl-450"]
    long_log = json.loads((RL_DIR / "train_log_450.json").read_text())
    plain = json.loads((RL_DIR / "train_log.json").read_text())
    assert long_log["recipe"] == json.loads(json.dumps(asdict(recipe)))
    assert [s["step"] for s in long_log["steps"]] == list(range(1, recipe.steps + 1))
    assert long_log["evals"][0] == plain["evals"][0] and long_log["steps"][:10] == plain["steps"][:10]
    assert [e["step"] for e in long_log["evals"]] == list(recipe.eval_at)
    differs = {k for k, v in asdict(recipe).items() if v != asdict(RL_RECIPES["countdown-rl"])[k]}
    assert differs == {"name", "steps", "eval_at"}
