"""The one training loop: policies (`tsc.lm.train`) and reward models (`tsc.lm.reward`) alike.

A run is a recipe (learning-rate schedule, steps, weight decay), a model, a function that
builds step ``k``'s batch, and a loss. The loop charges every step's tokens and FLOPs, logs
one JSON line per step, and hands each record to the caller before it is logged (to add a
quick evaluation) and after (to save a checkpoint). With the seed set by the caller it is
deterministic: the same recipe gives the same weights, bit for bit.
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from tqdm.auto import tqdm


def learning_rate(recipe, step: int) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_ratio`` of the peak."""
    if step < recipe.warmup:
        return recipe.lr * (step + 1) / recipe.warmup
    total = recipe.schedule_steps or recipe.steps
    progress = min(1.0, (step - recipe.warmup) / max(1, total - recipe.warmup))
    return recipe.lr * (recipe.min_lr_ratio + (1 - recipe.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def adamw(parameters, recipe) -> torch.optim.AdamW:
    """AdamW (betas 0.9, 0.95) with weight decay on the matrices only, not on norms and biases."""
    parameters = list(parameters)
    decay = [p for p in parameters if p.dim() >= 2]
    no_decay = [p for p in parameters if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=recipe.lr, betas=(0.9, 0.95))


def optimizer_step(model, optimizer, recipe, step: int, loss) -> None:
    """One optimizer step on ``loss`` at the recipe's learning rate for ``step``, with the
    gradients clipped to norm 1."""
    for group in optimizer.param_groups:
        group["lr"] = learning_rate(recipe, step)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()


def fit(
    model,
    recipe,
    *,
    parameters: Iterable[torch.nn.Parameter] | None = None,
    batch: Callable[[int], tuple[dict, list[int]]],
    loss: Callable[[dict], torch.Tensor],
    step_flops: Callable[[int], int],
    log: Path,
    measure: Callable[[int, dict], None] | None = None,
    save: Callable[[Path, dict], dict],
    progress: bool = True,
) -> dict:
    """Train ``model`` (its ``parameters``, default all, with `adamw`) for ``recipe.steps``
    steps, save it into ``final`` beside the log and return what that save returned (its card).

    ``batch(step)`` gives the step's batch and the length of each sequence in it (for the
    token and FLOP counts, ``step_flops(length)`` per sequence); ``loss(batch)`` the loss to
    minimise. Each step's record (step, loss, cumulative tokens, FLOPs and training seconds)
    goes to ``measure`` (which may add to it, e.g. a validation figure), then to the log file.
    Every ``recipe.save_every`` steps before the last, ``save(folder, record)`` writes a
    checkpoint into ``checkpoints/step-N`` beside the log. Evaluation time is not counted in
    the record's seconds.
    """
    optimizer = adamw(model.parameters() if parameters is None else parameters, recipe)
    tokens = flops = 0
    seconds = 0.0
    record: dict = {}
    model.train()
    bar = tqdm(range(recipe.steps), desc=f"train {recipe.name}", disable=not progress)
    with open(log, "w") as log_file:
        for step in bar:
            started = time.perf_counter()
            inputs, lengths = batch(step)
            value = loss(inputs)
            optimizer_step(model, optimizer, recipe, step, value)
            seconds += time.perf_counter() - started
            tokens += sum(lengths)
            flops += sum(step_flops(n) for n in lengths)
            record = {"step": step + 1, "loss": round(value.item(), 5), "tokens": tokens, "flops": flops, "seconds": round(seconds, 2)}
            if measure is not None:
                measure(step, record)
            log_file.write(json.dumps(record) + "\n")
            log_file.flush()
            shown = {"loss": f"{value.item():.3f}"}
            shown.update({k: f"{v:.3f}" for k, v in record.items() if k.startswith("val") and isinstance(v, float)})
            bar.set_postfix(shown)
            if recipe.save_every and (step + 1) % recipe.save_every == 0 and step + 1 < recipe.steps:
                save(Path(log).parent / "checkpoints" / f"step-{step + 1}", record)
    return save(Path(log).parent / "final", record)


def run_card(recipe, record: dict, /, *, flops_formula: str, **fields) -> dict:
    """A trained model's card: its name, ``fields`` (kind, task, size, data: what it is), then
    what its run took as of ``record`` (the fit's last record) and how to reproduce it."""
    return {
        "name": recipe.name,
        **fields,
        "steps": record["step"],
        "train_tokens": record["tokens"],
        "train_flops": record["flops"],
        "flops_formula": flops_formula,
        "seconds": round(record["seconds"], 1),
        "seed": recipe.seed,
        "reproduce": f"python -m tsc train --recipe {recipe.name} --install",
        "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} threads",
        "final_loss": record["loss"],
        "torch": torch.__version__,
    }
