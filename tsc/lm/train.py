"""Training: a seeded loop that teaches a fresh model to write Countdown solutions.

Every step draws a fresh batch of *training-split* problems (uniform over solvable ones, the
same distribution the model is evaluated on, but never the held-out test tenth), pairs each
with a random solution from the exhaustive solver, and trains on the solution tokens only.
The loop records tokens, FLOPs and wall time for the model's card.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import asdict
from pathlib import Path

import torch

from tsc.compute import training_flops
from tsc.lm.checkpoint import WEIGHTS, quiet_loading, sha256_of
from tsc.lm.fast import pad_rows
from tsc.lm.fit import fit, learning_rate, optimizer_step, run_card  # noqa: F401 (learning_rate, optimizer_step: re-exported)
from tsc.lm.model import build_model
from tsc.lm.policy import LocalPolicy
from tsc.lm.recipes import DATA, KINDS, POLICY_DATA, RECIPES, ModelShape, Recipe  # noqa: F401 (what tsc.lm.train offers)
from tsc.lm.tokenizer import CHARS, build_char_tokenizer
from tsc.tasks import TASKS, get_task
from tsc.tasks.trace import TRACE_CHARS, dfs_trace


def task_problems(task: str, count: int, *, seed: int, sizes: tuple[int, ...], digits: int = 2, split: str = "test") -> list:
    """``count`` problems of ``task`` at the difficulty dial ``sizes`` (numbers for Countdown,
    operations for arithmetic) from ``split``, reproducibly from ``seed`` (`tsc.tasks.Task`)."""
    spec = get_task(task)
    options = {"digits": digits} if "digits" in spec.options else {}
    return spec.generate(count, seed=seed, sizes=tuple(sizes), split=split, **options)


def alphabet(recipe: Recipe) -> list[str]:
    """The characters a model of ``recipe`` reads and writes (its tokenizer's vocabulary)."""
    if recipe.kind == "trace":
        return list(TRACE_CHARS)
    if recipe.kind == "direct" and recipe.task == "countdown":
        return CHARS + ["(", ")"]
    return CHARS


def _fine_tune_start(recipe: Recipe) -> LocalPolicy:
    """The bundled model ``recipe.init_from``, checked against the recipe's shape."""
    from tsc.lm.policy import load_policy

    start = load_policy(recipe.init_from)
    config = start.model.config
    have = (config.hidden_size, config.num_hidden_layers, config.num_attention_heads, config.intermediate_size)
    want = (recipe.shape.d_model, recipe.shape.n_layer, recipe.shape.n_head, recipe.shape.d_ff)
    if have != want or recipe.shape.max_len < config.max_position_embeddings:
        raise ValueError(
            f"recipe {recipe.name!r}: shape {recipe.shape} does not fit {recipe.init_from!r} (d, layers, heads, d_ff = {have})"
        )
    start.model.train()
    return start


def _grown(tokenizer, model, chars: list[str], recipe: Recipe):
    """The tokenizer over ``chars`` and ``model`` with an embedding row for each new character
    (a trace model starts from the policy and learns two more: ``|`` and ``#``). The shared
    characters must keep their ids, so what the policy learned still applies."""
    grown = build_char_tokenizer(chars)
    old, new = tokenizer.get_vocab(), grown.get_vocab()
    if old == new:
        return tokenizer, model
    if any(new.get(tok) != i for tok, i in old.items()):
        raise ValueError(
            f"recipe {recipe.name!r}: its alphabet does not extend {recipe.init_from!r}'s (shared characters must keep their ids)"
        )
    model.resize_token_embeddings(len(grown), mean_resizing=False)
    with torch.no_grad():  # new rows start at the mean of the old ones: a neutral guess
        weights = model.get_input_embeddings().weight
        weights[len(old) :] = weights[: len(old)].mean(0)
    return grown, model


def training_examples(recipe: Recipe, step: int) -> list[tuple[str, str]]:
    """The (prompt, target text) pairs of one step's batch; a pure function of recipe and step."""
    seed = recipe.seed * 1_000_003 + step
    problems = task_problems(recipe.task, recipe.batch_size, seed=seed, sizes=recipe.sizes, digits=recipe.digits, split="train")
    rng = random.Random(seed)
    if recipe.kind == "trace":  # one fixed move order, so the model knows which moves it has tried
        return [(p.prompt(), dfs_trace(p)) for p in problems]
    return [(p.prompt(), p.training_text(recipe.kind, rng)) for p in problems]


def _sequences(tokenizer, examples: list[tuple[str, str]]) -> list[tuple[list[int], list[int]]]:
    """(ids, labels) of each example: ``bos prompt answer eos``, labelled on the answer and the
    end token only (-100 elsewhere), what both `collate` and `pack` lay out."""
    prompts = tokenizer([p for p, _ in examples], add_special_tokens=False)["input_ids"]
    answers = tokenizer([a for _, a in examples], add_special_tokens=False)["input_ids"]
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    return [([bos] + p + a + [eos], [-100] * (1 + len(p)) + a + [eos]) for p, a in zip(prompts, answers)]


def collate(tokenizer, examples: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    """Right-padded ids with labels on the solution and end token only (-100 elsewhere)."""
    sequences = _sequences(tokenizer, examples)
    ids, labels = [x for x, _ in sequences], [y for _, y in sequences]
    return pad_rows(ids, tokenizer.pad_token_id) | {"labels": pad_rows(labels, -100)["input_ids"]}


def pack(tokenizer, examples: list[tuple[str, str]], row_len: int) -> dict[str, torch.Tensor]:
    """The examples packed into as few rows of ``row_len`` tokens as first-fit allows.

    Padding every sequence to the longest of the batch wastes a third of the compute on
    Countdown (sequences of 3 numbers are half as long as those of 5). Packed, each row holds
    several sequences one after another; each restarts its positions at 0 and a block-diagonal
    causal mask keeps it from attending to its neighbours, so the loss and gradients are
    those of `collate`'s padded batch (`tests/test_zoo.py` checks it). Labels as in `collate`.
    """
    pad = tokenizer.pad_token_id
    rows: list[list[tuple[list[int], list[int]]]] = []
    room: list[int] = []
    for ids, labels in sorted(_sequences(tokenizer, examples), key=lambda seq: -len(seq[0])):  # longest first: tighter rows
        if len(ids) > row_len:
            ids, labels = ids[:row_len], labels[:row_len]  # a trace longer than the context: its head still teaches
        fit = next((r for r, free in enumerate(room) if free >= len(ids)), None)
        if fit is None:
            rows.append([])
            room.append(row_len)
            fit = len(rows) - 1
        rows[fit].append((ids, labels))
        room[fit] -= len(ids)
    width = max(row_len - free for free in room)
    input_ids = torch.full((len(rows), width), pad)
    labels_t = torch.full((len(rows), width), -100)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    document = torch.full((len(rows), width), -1)
    for r, row in enumerate(rows):
        at = 0
        for d, (ids, labels) in enumerate(row):
            span = slice(at, at + len(ids))
            input_ids[r, span] = torch.tensor(ids)
            labels_t[r, span] = torch.tensor(labels)
            positions[r, span] = torch.arange(len(ids))
            document[r, span] = d
            at += len(ids)
    causal = torch.ones(width, width, dtype=torch.bool).tril()
    # mask[r, 0, i, j]: token i may attend to token j (same sequence, not later); padding sees itself only
    same = document[:, :, None] == document[:, None, :]
    mask = (same & causal) | torch.eye(width, dtype=torch.bool)
    lengths = torch.tensor([len(ids) for row in rows for ids, _ in row])
    return {"input_ids": input_ids, "attention_mask": mask[:, None], "position_ids": positions, "labels": labels_t, "lengths": lengths}


def save_checkpoint(model, tokenizer, folder: Path, card: dict) -> dict:
    """Write model, tokenizer and card to a temporary folder, then rename it into place.

    The weights go to ``model.safetensors`` only (never pickle), and the card written, which
    is returned, is ``card`` plus ``weights_sha256``: `load_policy` checks it before loading.
    """
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with quiet_loading():
        model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    for file in tmp.iterdir():
        file.chmod(0o644)  # safetensors writes owner-only files; the assets are for everyone
    card = dict(card, weights_sha256=sha256_of(tmp / WEIGHTS))
    (tmp / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    if folder.exists():
        old = folder.with_name(folder.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old)
    else:
        tmp.rename(folder)
    return card


def quick_greedy_accuracy(model, tokenizer, n_problems: int = 150, seed: int = 12345, recipe: Recipe | None = None) -> float:
    """Greedy accuracy on held-out problems: a cheap progress signal during training."""
    recipe = recipe or Recipe()
    problems = task_problems(recipe.task, n_problems, seed=seed, sizes=recipe.sizes, digits=recipe.digits)
    policy = LocalPolicy(model, tokenizer)
    room = recipe.shape.max_len - max(len(p.prompt()) for p in problems) - 1
    outs = policy.sample([p.prompt() for p in problems], n=1, temperature=0.0, max_new_tokens=max(64, room))
    model.train()
    return sum(p.check(o[0].text) for p, o in zip(problems, outs)) / n_problems


def train(recipe: Recipe, out_dir: str | Path, *, progress: bool = True) -> dict:
    """Train a model by ``recipe`` into ``out_dir`` and return its card (no evaluation yet).

    Checkpoints go to ``out_dir/checkpoints/step-N`` every ``save_every`` steps and a log of
    loss, tokens and FLOPs to ``out_dir/train_log.jsonl``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(recipe.seed)
    if recipe.kind not in KINDS:
        raise ValueError(f"recipe {recipe.name!r} has kind {recipe.kind!r}; known: {', '.join(KINDS)}")
    if recipe.task not in TASKS or (recipe.task, recipe.kind) not in DATA and recipe.kind != "revision":
        raise ValueError(f"recipe {recipe.name!r}: no training data for a {recipe.kind} model of task {recipe.task!r}")
    if recipe.init_from:
        start = _fine_tune_start(recipe)
        tokenizer, model = start.tokenizer, start.model
        model.config.max_position_embeddings = recipe.shape.max_len
        tokenizer, model = _grown(tokenizer, model, alphabet(recipe), recipe)
    else:
        tokenizer = build_char_tokenizer(alphabet(recipe))
        model = build_model(recipe.shape, tokenizer, seed=recipe.seed)
    if recipe.kind == "revision":
        from tsc.lm import revision

        if not recipe.init_from:
            raise ValueError(f"recipe {recipe.name!r}: a revision model starts from a policy (set init_from) that samples its data")
        pool = revision.RevisionData.build(recipe, start, cache=out_dir / "revision_pool.json.gz", progress=progress)
        examples, data = pool.examples, {"data": revision.describe(recipe, pool), "data_pool": pool.summary()}
    else:
        examples, data = (lambda step: training_examples(recipe, step)), {"data": DATA[recipe.task, recipe.kind]}
    if recipe.init_from:
        data["init_from"] = {"model": recipe.init_from, "train_flops": start.card.get("train_flops"), "steps": start.card.get("steps")}
    n_params = sum(p.numel() for p in model.parameters())

    def card(record: dict) -> dict:
        """The model's card as of the step in ``record`` (the log line just written)."""
        return run_card(
            recipe,
            record,
            kind=recipe.kind,
            task=recipe.task,
            **({"family": recipe.family} if recipe.family else {}),
            params=n_params,
            shape=asdict(recipe.shape),
            recipe=asdict(recipe),
            **data,
            # what the model saw: `Limits.for_model` holds readers' problems to these numbers
            problems=problems,
            flops_formula="3 x forward; forward = 2*N*L + 2*n_layer*d_model*L*(L+1) per sequence of L tokens "
            "(attention: QK^T and AV; tsc.compute)",
        )

    spec = get_task(recipe.task)
    problems = spec.seen(recipe.sizes, **({"digits": recipe.digits} if "digits" in spec.options else {}))

    def batch(step: int) -> tuple[dict, list[int]]:
        if recipe.packed:
            inputs = pack(tokenizer, examples(step), recipe.shape.max_len)
            return inputs, inputs.pop("lengths").tolist()
        inputs = collate(tokenizer, examples(step))
        return inputs, inputs["attention_mask"].sum(1).tolist()

    def measure(step: int, record: dict) -> None:
        if recipe.eval_every and (step + 1) % recipe.eval_every == 0:
            record["greedy_quick"] = quick_greedy_accuracy(model, tokenizer, recipe=recipe)

    return fit(  # the final card as written, with the weights' hash
        model,
        recipe,
        batch=batch,
        loss=lambda inputs: model(**inputs).loss,
        step_flops=lambda n: training_flops(n_params, recipe.shape.n_layer, recipe.shape.d_model, n),
        log=out_dir / "train_log.jsonl",
        measure=measure,
        save=lambda folder, record: save_checkpoint(model, tokenizer, folder, card(record)),
        progress=progress,
    )
