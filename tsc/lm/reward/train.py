"""Training a reward model on its data with the shared loop (`tsc.lm.fit`), and its card."""

from __future__ import annotations

import random
from dataclasses import asdict
from pathlib import Path

import torch

from tsc.compute import forward_flops
from tsc.lm.fast import pad_rows
from tsc.lm.recipes import RewardRecipe
from tsc.lm.reward.data import reward_data
from tsc.lm.reward.model import KINDS, RewardModel, reward_model_from_policy
from tsc.tasks import TASKS


def collate_rewards(reward: RewardModel, examples: list[dict]) -> dict[str, torch.Tensor]:
    """Right-padded ids, attention mask, and float ``labels`` at each step's last token
    (NaN elsewhere: those positions carry no loss)."""
    pad = reward.tokenizer.pad_token_id if reward.tokenizer.pad_token_id is not None else 0
    encoded = [reward.encode(e["prompt"], e["steps"]) for e in examples]
    batch = pad_rows([ids for ids, _ in encoded], pad)
    labels = torch.full(batch["input_ids"].shape, float("nan"))
    for row, ((_, ends), example) in enumerate(zip(encoded, examples)):
        labels[row, ends] = torch.tensor([float("nan") if y is None else y for y in example["labels"]], dtype=torch.float)
    batch["labels"] = labels
    return batch


def reward_loss(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Binary cross-entropy (soft labels) on the labelled positions only."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[..., 0]
    mask = ~torch.isnan(batch["labels"])
    return torch.nn.functional.binary_cross_entropy_with_logits(logits[mask], batch["labels"][mask])


def train_reward(recipe: RewardRecipe, out_dir: str | Path, *, policy=None, progress: bool = True) -> dict:
    """Build the data, train a reward model by ``recipe`` into ``out_dir`` and return its card.

    ``policy`` defaults to the bundled model ``recipe.base``. The data are cached in
    ``out_dir/data.json.gz``; checkpoints go to ``out_dir/checkpoints/step-N`` every
    ``save_every`` steps, a log of loss, validation loss, tokens and FLOPs to
    ``out_dir/train_log.jsonl`` and the final model to ``out_dir/final`` (no evaluation here:
    `tsc.evaluation.evaluate_reward_model` adds it).
    """
    from tsc.lm.fit import fit, run_card
    from tsc.lm.policy import load_policy
    from tsc.lm.train import save_checkpoint

    if recipe.kind not in KINDS:
        raise ValueError(f"recipe kind must be one of {', '.join(KINDS)}, got {recipe.kind!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    policy = policy if policy is not None else load_policy(recipe.base)
    data = reward_data(recipe, policy, cache=out_dir / "data.json.gz", progress=progress)
    if recipe.labels not in ("soft", "hard"):
        raise ValueError(f"recipe labels must be 'soft' or 'hard', got {recipe.labels!r}")
    keep = lambda examples: [e for e in examples if recipe.rollout_examples or not e.get("rollout")]
    train_set, val_set = (_as_labels(keep(data[part]), recipe.labels) for part in ("train", "val"))
    if not train_set:
        raise ValueError("the policy wrote no completion with a step: nothing to train on")
    model = reward_model_from_policy(policy, extra_layers=recipe.extra_layers, seed=recipe.seed)
    reward = RewardModel(model, policy.tokenizer, card={"kind": recipe.kind})
    n_params = reward.n_params
    backbone = getattr(model, model.base_model_prefix)
    base_layers = reward.n_layer - recipe.extra_layers
    if recipe.freeze_base:  # the policy's embedding and layers stay as they are: they compute what the policy expects
        for parameter in [*backbone.embed_tokens.parameters(), *(p for layer in backbone.layers[:base_layers] for p in layer.parameters())]:
            parameter.requires_grad_(False)
    trainable = [p for p in model.parameters() if p.requires_grad]
    # what a training step computes: a forward pass through everything, a backward pass (twice a
    # forward's cost) through the trainable top only (nothing below it needs a gradient)
    top_params = sum(p.numel() for p in trainable) if recipe.freeze_base else n_params
    top_layers = recipe.extra_layers if recipe.freeze_base else reward.n_layer

    def step_flops(length: int) -> int:
        return forward_flops(n_params, reward.n_layer, reward.d_model, length, 0) + 2 * forward_flops(
            top_params, top_layers, reward.d_model, length, 0
        )

    order = _epochs(len(train_set), recipe.steps * recipe.batch_size, seed=recipe.seed)
    val_loss = None

    # what was trained on: the data's summary counts every example built, rollouts included
    trained = {"train_examples": len(train_set), "train_labelled_steps": sum(y is not None for e in train_set for y in e["labels"])}

    def card(record: dict) -> dict:
        summary = {**data["summary"], **trained}
        return run_card(
            recipe,
            record,
            kind=recipe.kind,
            task="countdown",
            params=n_params,
            base={"name": policy.name, "weights_sha256": policy.card.get("weights_sha256")},
            recipe=asdict(recipe),
            data=_describe(recipe, summary),
            data_summary=summary,
            epochs=round(record["step"] * recipe.batch_size / len(train_set), 2),
            data_flops=summary["policy_flops"],
            trained_params=sum(p.numel() for p in trainable),
            data_seconds=summary["seconds"],
            problems=TASKS["countdown"].seen(recipe.sizes),
            val_loss=record.get("val_loss", val_loss),
            flops_formula="forward through the whole model + 2 x forward through the trained top (the fresh layers and the "
            "head when the base is frozen); "
            "forward = 2*N*L + 2*n_layer*d_model*L*(L+1) per sequence of L tokens (attention: QK^T and AV) (tsc.compute)",
        )

    def batch(step: int) -> tuple[dict, list[int]]:
        inputs = collate_rewards(reward, [train_set[i] for i in order[step * recipe.batch_size : (step + 1) * recipe.batch_size]])
        return inputs, inputs["attention_mask"].sum(1).tolist()

    def measure(step: int, record: dict) -> None:
        nonlocal val_loss
        if val_set and ((recipe.eval_every and (step + 1) % recipe.eval_every == 0) or step + 1 == recipe.steps):
            val_loss = record["val_loss"] = round(validation_loss(reward, val_set), 5)

    torch.manual_seed(recipe.seed)
    return fit(
        model,
        recipe,
        parameters=trainable,
        batch=batch,
        loss=lambda inputs: reward_loss(model, inputs),
        step_flops=step_flops,
        log=out_dir / "train_log.jsonl",
        measure=measure,
        save=lambda folder, record: save_checkpoint(_stored(model, recipe), reward.tokenizer, folder, card(record)),
        progress=progress,
    )


def _stored(model, recipe: RewardRecipe):
    """The model as its weights are stored: its trained weights in ``recipe.save_dtype``
    (float16 halves them; `load_reward_model` reads them back as float32), the frozen layers
    of the policy as they are, so that the stored trunk stays the policy's own, bit for bit,
    and a search can share the policy's computation with it (`RewardModel.prefix_cache` with ``share``)."""
    import copy

    dtype = getattr(torch, recipe.save_dtype)
    if dtype == torch.float32:
        return model
    stored = copy.deepcopy(model)
    for kept, trained in zip(stored.parameters(), model.parameters()):
        if trained.requires_grad:
            kept.data = kept.data.to(dtype)
    return stored


@torch.no_grad()
def validation_loss(reward: RewardModel, examples: list[dict], batch_size: int = 512) -> float:
    """Mean BCE per labelled step over ``examples`` (the model is put back in training mode)."""
    reward.model.eval()
    total = count = 0.0
    for start in range(0, len(examples), batch_size):
        batch = collate_rewards(reward, examples[start : start + batch_size])
        labelled = int((~torch.isnan(batch["labels"])).sum())
        total += reward_loss(reward.model, batch).item() * labelled
        count += labelled
    reward.model.train()
    return total / max(1, count)


def _as_labels(examples: list[dict], kind: str) -> list[dict]:
    """``examples`` with hard labels (every step but the last: 1 if any rollout succeeded) or as they are (soft)."""
    if kind == "soft":
        return examples
    return [dict(e, labels=[x if x is None else float(x > 0) for x in e["labels"][:-1]] + e["labels"][-1:]) for e in examples]


def _epochs(size: int, needed: int, *, seed: int) -> list[int]:
    """Indices for ``needed`` draws: shuffled passes over ``size`` examples, one after another."""
    rng = random.Random(seed)
    order: list[int] = []
    while len(order) < needed:
        epoch = list(range(size))
        rng.shuffle(epoch)
        order += epoch
    return order[:needed]


def _describe(recipe: RewardRecipe, summary: dict) -> str:
    head = (
        f"{summary['completions']:,} completions of {summary['problems']:,} training-split problems (uniform over solvable ones, "
        f"sizes {'/'.join(map(str, recipe.sizes))}), {recipe.samples} samples each from the policy {recipe.base!r} at "
        f"temperature {recipe.temperature:g}; {summary['correct_rate']:.1%} of them correct (the base rate); "
        f"{summary.get('train_labelled_steps', summary['labelled_steps']):,} labelled steps trained on; "
    )
    if recipe.kind == "orm":
        return head + "every step labelled with the oracle's verdict on the whole completion (outcome supervision); BCE loss"
    label = (
        "1 if any of {k} policy rollouts from it ends correct, else 0 (Math-Shepherd's hard estimate)"
        if recipe.labels == "hard"
        else "the fraction of {k} policy rollouts from it that end correct (Monte Carlo value, Math-Shepherd's soft estimate)"
    ).format(k=recipe.rollouts)
    text = head + (
        f"each step prefix labelled {label}; prefixes that already break the rules get 0 without rollouts (what every "
        "rollout would give); the last step gets the oracle's verdict"
    )
    if recipe.rollout_examples:
        text += (
            f". The {summary.get('rollouts', 0):,} rollouts ({summary.get('rollout_correct_rate', 0):.1%} correct) are examples "
            "too: their last step gets the verdict, the prefix they continue its labels, a continuation step that breaks the "
            "rules 0, other continuation steps no label"
        )
    if summary.get("outcome_problems"):
        text += (
            f". Plus {summary['outcome_completions']:,} completions of {summary['outcome_problems']:,} more problems "
            f"({summary['outcome_correct_rate']:.1%} correct) without rollouts, labelled where it costs nothing: the last step "
            "with the verdict, a step prefix that breaks the rules with 0, other steps not at all"
        )
    return text + ". BCE loss on the labelled steps"
