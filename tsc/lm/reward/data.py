"""The reward models' training data: the policy's own samples, labelled by the oracle
(outcome) or by Monte Carlo rollouts of every step prefix (process)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from itertools import accumulate
from pathlib import Path

from tqdm.auto import tqdm

from tsc.compute import Ledger
from tsc.io import read_json_cache, write_json_cache
from tsc.lm.recipes import RewardRecipe
from tsc.tasks import countdown


def _is_dead(problem, prefix: str) -> bool:
    """Whether a step prefix (ending in ``,``) already breaks Countdown's rules or leaves
    nothing to combine. The oracle rejects every completion that starts this way, so its Monte
    Carlo value is exactly 0."""
    pool = problem.left_after(prefix)
    return pool is None or len(pool) < 2


def build_examples(
    recipe: RewardRecipe, policy, problems: list, *, seed: int, progress: bool = False, rollouts: bool = True
) -> tuple[list[dict], Ledger]:
    """Labelled examples ``{"prompt", "steps", "labels", "correct"}`` for ``problems``, and
    the ledger of the policy compute they took.

    ``samples`` completions per problem are drawn from the policy. ORM labels: every step
    gets the oracle's verdict on the completion. PRM labels: the last step gets the verdict;
    an earlier step prefix gets the fraction of ``rollouts`` policy continuations from it
    that the oracle accepts (each distinct prefix of a problem is rolled out once; a prefix
    that already breaks the rules gets 0 without rollouts, which is what they would give).
    `train_reward` turns these fractions into hard labels when the recipe asks for them.

    The rollouts are policy samples too, each judged by the oracle, so for a PRM they are
    examples as well (``"rollout": True``): their last step gets the verdict, the steps of the
    prefix they continue get its known labels, a continuation step that breaks the rules gets
    0, and the other steps of the continuation carry no label (None).

    With ``rollouts=False`` a PRM's examples get only the labels that cost nothing: the last
    step the verdict, a step prefix that breaks the rules 0, the other steps None.
    """
    ledger = Ledger()
    prompts = [policy.format(p) for p in problems]
    chunk = 512  # prompts per sampling call: big batches for the sampler, a progress bar that moves
    rows: list[list[str]] = []
    for start in tqdm(range(0, len(prompts), chunk), desc="sample", disable=not progress):
        outs = policy.sample(
            prompts[start : start + chunk],
            n=recipe.samples,
            temperature=recipe.temperature,
            max_new_tokens=recipe.max_new_tokens,
            seed=seed + start,
            ledger=ledger,
        )
        rows += [[c.text for c in row] for row in outs]
    examples = []
    for problem, prompt, texts in zip(problems, prompts, rows):
        for text in texts:
            steps = problem.steps(text)
            if steps:
                verdict = float(problem.check(text))
                examples.append({"prompt": prompt, "steps": steps, "labels": [verdict] * len(steps), "correct": verdict})
    if recipe.kind == "orm":
        return examples, ledger
    problem_of = dict(zip(prompts, problems))
    if not rollouts:
        for example in examples:
            problem = problem_of[example["prompt"]]
            labels = [0.0 if _is_dead(problem, prefix) else None for prefix in accumulate(example["steps"][:-1])]
            example.update(labels=labels + [example["correct"]], outcome=True)
        return examples, ledger
    # PRM: Monte Carlo values of the distinct live prefixes, all rolled out in a few big calls
    values: dict[tuple[str, str], float] = {}
    live: list[tuple[str, str]] = []
    for example in examples:
        problem = problem_of[example["prompt"]]
        for prefix in accumulate(example["steps"][:-1]):  # each step prefix: the steps up to it, joined
            key = (example["prompt"], prefix)
            if key not in values:
                values[key] = 0.0
                if not _is_dead(problem, prefix):
                    live.append(key)
    rollouts: list[tuple[str, str, bool]] = []  # (prompt, full text, verdict) of every rollout
    chunk = max(1, 2048 // recipe.rollouts)
    for start in tqdm(range(0, len(live), chunk), desc="rollouts", disable=not progress):
        keys = live[start : start + chunk]
        outs = policy.sample(
            [prompt + prefix for prompt, prefix in keys],
            n=recipe.rollouts,
            temperature=recipe.temperature,
            max_new_tokens=recipe.max_new_tokens,
            seed=seed + 7_919 * (start + 1),
            ledger=ledger,
        )
        for (prompt, prefix), row in zip(keys, outs):
            problem = problem_of[prompt]
            verdicts = [problem.check(prefix + c.text) for c in row]
            values[(prompt, prefix)] = sum(verdicts) / len(row)
            rollouts += [(prompt, prefix + c.text, v) for c, v in zip(row, verdicts)]
    for example in examples:
        example["labels"] = [values[(example["prompt"], prefix)] for prefix in accumulate(example["steps"][:-1])] + [example["correct"]]
    for prompt, text, verdict in rollouts:
        problem = problem_of[prompt]
        steps = problem.steps(text)
        labels = [values.get((prompt, prefix), 0.0 if _is_dead(problem, prefix) else None) for prefix in accumulate(steps[:-1])]
        examples.append({"prompt": prompt, "steps": steps, "labels": labels + [float(verdict)], "correct": float(verdict), "rollout": True})
    return examples, ledger


def reward_data(recipe: RewardRecipe, policy, *, cache: Path | None = None, progress: bool = True) -> dict:
    """The recipe's training and validation examples with a summary, built once and kept in
    ``cache`` (a ``.json.gz`` file keyed by the recipe's data fields) for reruns."""
    fields = {k: v for k, v in asdict(recipe).items() if k in _DATA_FIELDS}
    fields["policy_sha256"] = policy.card.get("weights_sha256") or policy.name
    fields = json.loads(json.dumps(fields))  # as the cache stores them (tuples become lists)
    data = read_json_cache(cache, fields)
    if data is not None:
        return _with_outcome_part(recipe, policy, data, cache=cache, progress=progress)
    started = time.perf_counter()
    problems = countdown.generate(recipe.problems, seed=recipe.seed, sizes=tuple(recipe.sizes), split="train")
    n_val = max(1, round(recipe.problems * recipe.val_fraction)) if recipe.val_fraction > 0 else 0
    train_set, ledger = build_examples(recipe, policy, problems[n_val:], seed=recipe.seed * 1_000_003 + 1, progress=progress)
    val_set, val_ledger = build_examples(recipe, policy, problems[:n_val], seed=recipe.seed * 1_000_003 + 2) if n_val else ([], Ledger())
    ledger = ledger + val_ledger
    labels = [x for e in train_set for x in e["labels"] if x is not None]
    sampled = [e for e in train_set if not e.get("rollout")]
    data = {
        "fields": fields,
        "train": train_set,
        "val": val_set,
        "summary": {
            "problems": recipe.problems - n_val,
            "val_problems": n_val,
            "completions": len(sampled),
            "rollouts": len(train_set) - len(sampled),
            "labelled_steps": len(labels),
            "correct_rate": round(sum(e["correct"] for e in sampled) / max(1, len(sampled)), 4),
            "rollout_correct_rate": round(
                sum(e["correct"] for e in train_set if e.get("rollout")) / max(1, len(train_set) - len(sampled)), 4
            ),
            "mean_label": round(sum(labels) / max(1, len(labels)), 4),
            "policy_tokens": ledger.tokens,
            "policy_flops": ledger.policy_flops,
            "seconds": round(time.perf_counter() - started, 1),
        },
    }
    write_json_cache(cache, data)
    return _with_outcome_part(recipe, policy, data, cache=cache, progress=progress)


def _with_outcome_part(recipe: RewardRecipe, policy, data: dict, *, cache: Path | None, progress: bool) -> dict:
    """``data`` plus, for a PRM recipe with ``outcome_problems``, the samples of that many more
    training-split problems (the ones `countdown.generate` draws after the recipe's
    ``problems``), labelled without rollouts (see `build_examples`); cached beside ``cache``."""
    if recipe.kind != "prm" or not recipe.outcome_problems:
        return data
    fields = dict(data["fields"], outcome_problems=recipe.outcome_problems)
    extra_cache = cache.with_name("outcome-" + cache.name) if cache is not None else None
    extra = read_json_cache(extra_cache, fields)
    if extra is None:
        started = time.perf_counter()
        every = countdown.generate(recipe.problems + recipe.outcome_problems, seed=recipe.seed, sizes=tuple(recipe.sizes), split="train")
        examples, ledger = build_examples(
            recipe, policy, every[recipe.problems :], seed=recipe.seed * 1_000_003 + 3, progress=progress, rollouts=False
        )
        extra = {
            "fields": fields,
            "train": examples,
            "summary": {
                "policy_tokens": ledger.tokens,
                "policy_flops": ledger.policy_flops,
                "seconds": round(time.perf_counter() - started, 1),
            },
        }
        write_json_cache(extra_cache, extra)
    summary = dict(data["summary"])
    summary.update(
        outcome_problems=recipe.outcome_problems,
        outcome_completions=len(extra["train"]),
        outcome_correct_rate=round(sum(e["correct"] for e in extra["train"]) / max(1, len(extra["train"])), 4),
        labelled_steps=summary["labelled_steps"] + sum(y is not None for e in extra["train"] for y in e["labels"]),
        **{k: summary[k] + extra["summary"][k] for k in ("policy_tokens", "policy_flops", "seconds")},
    )
    return dict(data, train=data["train"] + extra["train"], summary=summary)


_DATA_FIELDS = ("kind", "base", "problems", "samples", "temperature", "rollouts", "max_new_tokens", "sizes", "val_fraction", "seed")
