"""Reinforcement learning with verifiable rewards: GRPO on Countdown, from a trained policy.

The loop of DeepSeekMath's Group Relative Policy Optimization (Shao et al. 2024), which
DeepSeek-R1 scaled up, in the fewest moving parts that still show it working:

1. draw a batch of training-split problems and sample a *group* of ``group_size`` completions
   of each from the current policy (the lean KV-cached sampler, at temperature 1);
2. reward each completion 1 if the oracle accepts it, else 0 (no learned reward model, no
   format bonus: a malformed completion is simply wrong);
3. advantage = (reward - the group's mean) / the group's standard deviation: a completion is
   good or bad *relative to its siblings*, so no value network is needed. A group whose
   samples all agree (all right or all wrong) has advantage 0 and teaches nothing: it is
   dropped before the update, which saves its compute;
4. a clipped policy-gradient step (PPO's surrogate) on the sampled tokens: each token's
   log-probability is pushed up by its completion's advantage, with the probability ratio
   against the sampling policy clipped to [1 - clip, 1 + clip]. With ``epochs = 1`` (one
   update per batch of samples, the default) the ratio is exactly 1 and the clip never binds;
   it matters when a batch is reused for more updates.

By default there is no KL penalty to the starting model (``kl = 0``, as in DAPO and Dr. GRPO);
a recipe with ``kl > 0`` adds DeepSeekMath's (`kl_to_reference`), computed against a frozen
copy of the starting model on the trained tokens. Compute is counted in two separate ledgers,
as the chapter plots it: sampling (`tsc.compute.forward_flops`, charged by the sampler: each
prompt read once per group, every generated token) and updates (`tsc.compute.training_flops`,
three forward passes' worth, for every sequence trained on, per epoch, plus one forward pass of
the reference model per trained sequence when ``kl > 0``). The held-out evaluations are not
training compute and are not counted.

A run checkpoints its whole state (weights, optimizer, counters, log) every ``save_every``
steps to ``out/resume.pt`` and picks it up when started again with the same recipe; every
step's problems and samples are a function of the recipe's seed and the step, so a resumed
run continues exactly as an uninterrupted one would.
"""

from __future__ import annotations

import copy
import io
import json
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from tsc.compute import Ledger, forward_flops, training_flops
from tsc.io import write_atomic
from tsc.lm.fit import adamw, learning_rate
from tsc.lm.rl_recipes import RL_RECIPES, RLRecipe  # noqa: F401 (what tsc.lm.rl offers)
from tsc.lm.train import collate, save_checkpoint, task_problems
from tsc.tasks import TASKS

LOG = "train_log.json"  # the evaluation points and per-step records; ships beside the weights


# --- the pieces of one step -------------------------------------------------------------


def group_advantages(rewards: np.ndarray, *, std_normalize: bool = True) -> np.ndarray:
    """GRPO's advantages for rewards of shape (groups, group_size): each reward minus its
    group's mean, divided by the group's standard deviation if ``std_normalize``. A group
    whose rewards are all equal gets advantage 0 (it carries no signal about what is better)."""
    rewards = np.asarray(rewards, dtype=float)
    if rewards.ndim != 2 or rewards.shape[1] < 2:
        raise ValueError(f"rewards must have shape (groups, group_size >= 2), got {rewards.shape}")
    centred = rewards - rewards.mean(axis=1, keepdims=True)
    if not std_normalize:
        return centred
    spread = rewards.std(axis=1, keepdims=True)
    return np.where(spread > 0, centred / np.where(spread > 0, spread, 1.0), 0.0)


@dataclass
class Rollouts:
    """One step's sampled completions, flattened: prompt, text, whether the sampler ended it
    with the end-of-sequence token, reward and advantage of each, and their problem sizes."""

    prompts: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    ended: list[bool] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    advantages: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)


def rollouts(policy, problems: list, recipe: RLRecipe, *, seed: int, ledger: Ledger) -> Rollouts:
    """Sample a group for every problem, grade each completion with the oracle and compute
    the group-relative advantages (steps 1-3 of the module docstring)."""
    prompts = [policy.format(p) for p in problems]
    groups = policy.sample(
        prompts,
        n=recipe.group_size,
        temperature=recipe.temperature,
        max_new_tokens=recipe.max_new_tokens,
        seed=seed,
        ledger=ledger,
    )
    rewards = np.array([[float(p.check(c.text)) for c in group] for p, group in zip(problems, groups)])
    advantages = group_advantages(rewards, std_normalize=recipe.std_normalize)
    out = Rollouts()
    for p, prompt, group, rs, adv in zip(problems, prompts, groups, rewards, advantages):
        for c, r, a in zip(group, rs, adv):
            n_text = len(policy.tokenizer(c.text, add_special_tokens=False)["input_ids"])
            out.prompts.append(prompt)
            out.texts.append(c.text)
            # the sampler counts the end token in num_tokens but leaves it out of the text
            out.ended.append(c.num_tokens == n_text + 1)
            out.tokens.append(c.num_tokens)
            out.rewards.append(float(r))
            out.advantages.append(float(a))
            out.sizes.append(len(p.numbers))
    return out


def token_logprobs(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(log-probability of each labelled token, mask of labelled tokens), both (rows, width-1):
    the logits at position t score the token at t + 1."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1].float()
    labels = batch["labels"][:, 1:]
    mask = labels != -100
    picked = torch.log_softmax(logits, dim=-1).gather(-1, labels.clamp(min=0)[..., None]).squeeze(-1)
    return picked * mask, mask


def completion_batch(tokenizer, prompts: list[str], texts: list[str], ended: list[bool]) -> dict[str, torch.Tensor]:
    """``bos prompt completion`` rows labelled on the completion's tokens, exactly as sampled:
    `collate` appends the end token to every row, so its label is kept only where the sampler
    wrote it (a completion that stopped at ``.`` or ran out of room did not)."""
    batch = collate(tokenizer, list(zip(prompts, texts)))
    last = batch["attention_mask"].sum(1) - 1  # where collate put the end token
    rows = torch.arange(len(texts))
    batch["labels"][rows, last] = torch.where(torch.tensor(ended), batch["labels"][rows, last], -100)
    return batch


def clipped_surrogate(logp: torch.Tensor, old: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor, *, clip: float, n_tokens: int):
    """PPO's clipped surrogate, negated to a loss, summed over the trained tokens (``mask``)
    and divided by ``n_tokens``, the trained tokens of the whole step: every token weighs the
    same however long its completion (DAPO's token-level mean; GRPO's paper averages each
    completion's tokens first). ``logp`` and ``old`` are the tokens' log-probabilities under
    the policy being trained and the one that sampled them; ``advantages`` one per row.
    Returns (loss, ratio)."""
    ratio = torch.exp(logp - old)
    surrogate = torch.minimum(ratio * advantages, ratio.clamp(1 - clip, 1 + clip) * advantages)
    return -(surrogate * mask).sum() / n_tokens, ratio


def kl_to_reference(logp: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor, *, n_tokens: int) -> torch.Tensor:
    """DeepSeekMath's KL penalty per trained token, ``π_ref/π − log(π_ref/π) − 1`` (Schulman's
    k3 estimator: never negative, and on tokens sampled from π its mean is KL(π ‖ π_ref)),
    summed over the trained tokens and divided by ``n_tokens`` like the surrogate."""
    log_ratio = (reference - logp) * mask
    return ((torch.exp(log_ratio) - log_ratio - 1) * mask).sum() / n_tokens


def policy_update(
    model, optimizer, tokenizer, data: Rollouts, keep: list[int], recipe: RLRecipe, step: int, *, reference=None, record: list | None = None
) -> dict:
    """Step 4: ``recipe.epochs`` clipped policy-gradient updates on the completions ``keep``.

    The loss is the negated PPO surrogate averaged over every trained token of the batch
    (`clipped_surrogate`) plus, with ``recipe.kl > 0``, ``recipe.kl`` times the KL penalty to
    ``reference``, the frozen starting model (`kl_to_reference`). Gradients accumulate over
    chunks of similar length (little padding), then one optimizer step, gradients clipped to
    norm 1. ``record`` (a list) gets, for every epoch and chunk, the tensors the loss was
    computed from (``logp``, ``old``, ``advantages``, ``mask``) and the chunk's ``loss``.
    Returns the mean loss, each epoch's loss, the mean KL penalty, the fraction of tokens whose
    ratio was clipped, and the tokens trained on.
    """
    keep = sorted(keep, key=lambda i: len(data.texts[i]))  # similar lengths share a chunk
    chunks = [keep[i : i + recipe.chunk] for i in range(0, len(keep), recipe.chunk)]
    batches = [
        completion_batch(tokenizer, [data.prompts[i] for i in c], [data.texts[i] for i in c], [data.ended[i] for i in c]) for c in chunks
    ]
    advantages = [torch.tensor([data.advantages[i] for i in c])[:, None] for c in chunks]
    n_tokens = sum(int((b["labels"][:, 1:] != -100).sum()) for b in batches)
    old: list[torch.Tensor | None] = [None] * len(chunks)  # log-probs of the policy that sampled
    if recipe.kl > 0 and reference is None:
        raise ValueError(f"recipe {recipe.name!r} has kl={recipe.kl}: policy_update needs the reference model")
    with torch.no_grad():  # the frozen starting model's log-probs, once for all epochs
        ref = [token_logprobs(reference, b)[0] for b in batches] if recipe.kl > 0 else [None] * len(chunks)
    losses, kls, clipped = [], [], 0
    model.train()
    for _ in range(recipe.epochs):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(recipe, step)
        optimizer.zero_grad(set_to_none=True)
        total = kl_total = 0.0
        for j, (batch, adv) in enumerate(zip(batches, advantages)):
            logp, mask = token_logprobs(model, batch)
            if old[j] is None:  # the first epoch's policy is the sampling policy
                old[j] = logp.detach()
            loss, ratio = clipped_surrogate(logp, old[j], adv, mask, clip=recipe.clip, n_tokens=n_tokens)
            if recipe.kl > 0:
                penalty = kl_to_reference(logp, ref[j], mask, n_tokens=n_tokens)
                loss = loss + recipe.kl * penalty
                kl_total += penalty.item()
            loss.backward()
            if record is not None:
                record.append({"logp": logp.detach(), "old": old[j], "advantages": adv, "mask": mask, "loss": loss.item()})
            total += loss.item()
            clipped += int((((ratio - 1).abs() > recipe.clip) & mask).sum())
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(total)
        kls.append(kl_total)
    lengths = [int(b["attention_mask"][r].sum()) for b in batches for r in range(len(b["input_ids"]))]
    return {
        "loss": float(np.mean(losses)),
        "epoch_losses": losses,
        "kl": float(np.mean(kls)),
        "clipped": clipped / max(1, n_tokens * recipe.epochs),
        "trained_tokens": n_tokens,
        "lengths": lengths,
    }


# --- held-out evaluation ----------------------------------------------------------------


def eval_problems(recipe: RLRecipe) -> list:
    """The held-out problems the run is evaluated on: ``eval_per_size`` test-split problems
    per size, drawn as `tsc.evaluation.evaluate_policy` draws them from ``eval_seed`` (so
    seed 2024 gives the base model's card problems), minus, for a dev set, those of the card
    seed ``eval_exclude_seed``."""

    def draw(seed: int) -> list:
        return TASKS["countdown"].per_size(recipe.eval_per_size, seed=seed, sizes=recipe.sizes)

    problems = draw(recipe.eval_seed)
    if recipe.eval_exclude_seed is not None:
        exclude = {(p.numbers, p.target) for p in draw(recipe.eval_exclude_seed)}
        problems = [p for p in problems if (p.numbers, p.target) not in exclude]
    return problems


# --- the loop ---------------------------------------------------------------------------


def train_rl(
    recipe: RLRecipe,
    out_dir: str | Path,
    *,
    policy=None,
    problems: Callable[[int], list] | None = None,
    pause_at: int | None = None,
    progress: bool = True,
    evaluate: Callable | None = None,
) -> dict | None:
    """Run GRPO by ``recipe`` from the bundled ``recipe.init_from`` (or from ``policy``, a
    `LocalPolicy` the caller built: the tests' tiny model) into ``out_dir``; returns the card of
    ``out_dir/final`` (no card evaluation yet), beside which the log is written as ``LOG``.

    ``problems(step)`` gives each step's problems (anything with ``prompt()``, ``check(text)``
    and ``numbers``: the tests' toy task); by default ``problems_per_step`` fresh
    training-split Countdown problems of the recipe's sizes, a function of seed and step.
    ``pause_at``: stop after that step with the run's state saved to ``out/resume.pt`` and
    return None (to run a long recipe in pieces; the next call resumes it). ``evaluate(policy,
    problems, samples=, seed=, max_new_tokens=)`` gives the held-out figures logged at the
    recipe's ``eval_at`` steps (`tsc.evaluation.rl_figures`, which ``python -m tsc train``
    passes; None: none are logged)."""
    from tsc.lm.policy import LocalPolicy, load_policy

    if recipe.group_size < 2 or recipe.problems_per_step < 1 or recipe.steps < 1 or recipe.epochs < 1:
        raise ValueError(f"recipe {recipe.name!r}: needs group_size >= 2 and positive problems_per_step, steps and epochs")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(recipe.seed)
    start = policy if policy is not None else load_policy(recipe.init_from)
    model, tokenizer = start.model, start.tokenizer
    reference = copy.deepcopy(model).eval().requires_grad_(False) if recipe.kl > 0 else None  # the starting model, frozen
    policy = LocalPolicy(model, tokenizer, name=recipe.name)  # samples from the weights being trained
    n_params, n_layer, d_model = policy.n_params, policy.n_layer, policy.d_model
    optimizer = adamw(model.parameters(), recipe)
    held_out = eval_problems(recipe) if recipe.eval_at and evaluate is not None else []
    state = {"step": 0, "problems": 0, "samples": 0, "generated_tokens": 0, "trained_tokens": 0, "trained_samples": 0,
             "sampling_flops": 0, "update_flops": 0, "sampling_seconds": 0.0, "update_seconds": 0.0}  # fmt: skip
    log: dict = {"recipe": asdict(recipe), "evals": [], "steps": []}
    resume = out_dir / "resume.pt"
    if resume.exists():
        saved = torch.load(resume, weights_only=True)
        # a field added to RLRecipe since the run was saved counts at its default
        was = {**json.loads(json.dumps(asdict(RLRecipe()))), **json.loads(saved["recipe"])}
        if was != json.loads(json.dumps(asdict(recipe))):
            raise ValueError(f"{resume} is a run of another recipe; delete it (or pass another --out) to start afresh")
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        state, log = json.loads(saved["state"]), json.loads(saved["log"])

    def evaluate_now() -> None:
        if not held_out:
            return
        figures = evaluate(policy, held_out, samples=recipe.eval_samples, seed=recipe.eval_seed, max_new_tokens=recipe.max_new_tokens)
        log["evals"].append({**{k: state[k] for k in state}, **figures})
        model.train()

    if state["step"] == 0 and 0 in recipe.eval_at and not log["evals"]:
        evaluate_now()
    bar = tqdm(
        range(state["step"], recipe.steps), desc=f"rl {recipe.name}", disable=not progress, initial=state["step"], total=recipe.steps
    )
    for step in bar:
        # 1-3: a group of samples for each problem, graded, advantages relative to the group
        seed = recipe.seed * 1_000_003 + step
        started = time.perf_counter()
        batch = (
            problems(step)
            if problems
            else task_problems("countdown", recipe.problems_per_step, seed=seed, sizes=recipe.sizes, split="train")
        )
        ledger = Ledger()
        data = rollouts(policy, batch, recipe, seed=seed, ledger=ledger)
        sampled = time.perf_counter()
        # 4: the update, on the groups that carry a signal
        keep = [i for i, a in enumerate(data.advantages) if a != 0.0]
        update = (
            policy_update(model, optimizer, tokenizer, data, keep, recipe, step, reference=reference)
            if keep
            else {"loss": 0.0, "kl": 0.0, "clipped": 0.0, "trained_tokens": 0, "lengths": []}
        )
        state["step"] = step + 1
        state["problems"] += len(batch)
        state["samples"] += len(data.texts)
        state["generated_tokens"] += ledger.generated_tokens
        state["trained_tokens"] += update["trained_tokens"]
        state["trained_samples"] += len(keep)
        state["sampling_flops"] += ledger.policy_flops
        state["update_flops"] += recipe.epochs * sum(training_flops(n_params, n_layer, d_model, n) for n in update["lengths"])
        if recipe.kl > 0:  # the reference model reads every trained sequence once
            state["update_flops"] += sum(forward_flops(n_params, n_layer, d_model, n, 0) for n in update["lengths"])
        state["sampling_seconds"] += sampled - started
        state["update_seconds"] += time.perf_counter() - sampled
        rewards = np.array(data.rewards)
        sizes = np.array(data.sizes)
        log["steps"].append({
            "step": step + 1,
            "reward": round(float(rewards.mean()), 4),
            **{f"reward_{s}": round(float(rewards[sizes == s].mean()), 4) for s in recipe.sizes if (sizes == s).any()},
            "mean_tokens": round(float(np.mean(data.tokens)), 2),
            "trained": len(keep),
            "loss": round(update["loss"], 5),
            **({"kl": round(update["kl"], 6)} if recipe.kl > 0 else {}),
            "clipped": round(update["clipped"], 5),
            "lr": learning_rate(recipe, step),
        })  # fmt: skip
        bar.set_postfix(reward=f"{rewards.mean():.3f}")
        if step + 1 in recipe.eval_at or recipe.eval_at and step + 1 == recipe.steps:  # and always the final model
            evaluate_now()
        if step + 1 < recipe.steps and (recipe.save_every and (step + 1) % recipe.save_every == 0 or step + 1 == pause_at):
            _save_resume(resume, model, optimizer, recipe, state, log)
        if step + 1 == pause_at and step + 1 < recipe.steps:
            return None
    card = _card(recipe, start, policy, state, log)
    card = save_checkpoint(model, tokenizer, out_dir / "final", card)
    write_atomic(out_dir / "final" / LOG, json.dumps(log) + "\n")
    resume.unlink(missing_ok=True)  # the run is complete: final/ holds it
    return card


def _save_resume(path: Path, model, optimizer, recipe: RLRecipe, state: dict, log: dict) -> None:
    """The run's whole state in one file, written whole or not at all."""
    blob = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "recipe": json.dumps(asdict(recipe)),
            "state": json.dumps(state), "log": json.dumps(log)}  # fmt: skip
    buffer = io.BytesIO()
    torch.save(blob, buffer)
    write_atomic(path, buffer.getvalue())


def _card(recipe: RLRecipe, start, policy, state: dict, log: dict) -> dict:
    """The model's card: what RL cost (sampling and updates apart) and what it did held out."""
    sampling, update = state["sampling_flops"], state["update_flops"]
    return {
        "name": recipe.name,
        "kind": recipe.kind,
        "task": recipe.task,
        "params": policy.n_params,
        "shape": (start.card or {}).get("shape"),
        "recipe": asdict(recipe),
        "data": (
            f"GRPO (tsc.lm.rl): each step {recipe.problems_per_step} fresh training-split problems (uniform over solvable "
            f"ones, sizes {'/'.join(map(str, recipe.sizes))}), {recipe.group_size} samples each at T={recipe.temperature:g} from "
            "the current policy, reward 1 when the oracle accepts; groups whose samples all agree are skipped; "
            + (f"KL penalty {recipe.kl:g} to the starting model (k3, on the trained tokens)" if recipe.kl > 0 else "no KL penalty")
        ),
        "init_from": {
            "model": recipe.init_from,
            "train_flops": (start.card or {}).get("train_flops"),
            "steps": (start.card or {}).get("steps"),
        },
        "steps": state["step"],
        "rl_problems": state["problems"],
        "rl_samples": state["samples"],
        "generated_tokens": state["generated_tokens"],
        "trained_samples": state["trained_samples"],
        "train_tokens": state["trained_tokens"],
        "sampling_flops": sampling,
        "update_flops": update,
        "train_flops": sampling + update,
        "flops_formula": (
            "sampling: tsc.compute.forward_flops as the sampler charges it (each prompt read once per group, every generated "
            "token); updates: tsc.compute.training_flops (3 x forward) per trained sequence and epoch"
            + (", plus one forward pass of the reference model per trained sequence" if recipe.kl > 0 else "")
            + "; held-out evaluations not counted"
        ),
        "seconds": round(state["sampling_seconds"] + state["update_seconds"], 1),
        "sampling_seconds": round(state["sampling_seconds"], 1),
        "update_seconds": round(state["update_seconds"], 1),
        "seed": recipe.seed,
        "problems": (start.card or {}).get("problems") or TASKS["countdown"].seen(recipe.sizes),
        "train_log": LOG,
        "rl_evals": [
            {k: e[k] for k in ("step", "sampling_flops", "update_flops", "greedy", "pass@1", "mean_tokens")} for e in log["evals"]
        ],
        "reproduce": f"python -m tsc train --recipe {recipe.name} --install",
        "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} threads",
        "torch": torch.__version__,
    }
