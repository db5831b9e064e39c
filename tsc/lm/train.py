"""Training: a seeded loop that teaches a fresh model to write Countdown solutions.

Every step draws a fresh batch of *training-split* problems (uniform over solvable ones, the
same distribution the model is evaluated on, but never the held-out test tenth), pairs each
with a random solution from the exhaustive solver, and trains on the solution tokens only.
The loop records tokens, FLOPs and wall time for the model's card.
"""

from __future__ import annotations

import json
import math
import platform
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from tsc.compute import training_flops
from tsc.lm.checkpoint import WEIGHTS, sha256_of
from tsc.lm.model import ModelShape, build_model
from tsc.lm.policy import Policy, _quiet_loading
from tsc.lm.tokenizer import CHARS, build_char_tokenizer
from tsc.tasks import TASKS, countdown


@dataclass(frozen=True)
class Recipe:
    """Everything that determines a training run (with the seed, it reproduces the model)."""

    name: str = "countdown"
    shape: ModelShape = field(default_factory=ModelShape)
    steps: int = 2000
    schedule_steps: int | None = None  # length of the cosine schedule (default: steps)
    batch_size: int = 256
    lr: float = 3e-3
    warmup: int = 100
    min_lr_ratio: float = 0.05
    weight_decay: float = 0.01
    sizes: tuple[int, ...] = countdown.SIZES
    seed: int = 0
    save_every: int = 500
    eval_every: int = 300
    # "policy": prompt -> solution, step by step; "direct": prompt -> the answer alone (an expression
    # for Countdown, a number for arithmetic); "trace": prompt -> a depth-first search written out,
    # then the solution (tsc.tasks.trace); "revision": prompt + failed attempts -> a correct one
    kind: str = "policy"
    task: str = "countdown"  # or "arithmetic" (then ``sizes`` counts operations and ``digits`` bounds the operands)
    digits: int = 2
    family: str | None = None  # the models of one family share data and schedule and differ in size
    half: bool = True  # store the installed weights in float16 (checkpoints part-way are always float16)
    packed: bool = True  # packed batches (`pack`); False: padded (`collate`), as the default model was trained
    init_from: str | None = None  # a bundled model to fine-tune (its shape, but for max_len: RoPE has no learned positions)
    pool: int = 0  # revision: training-split problems the init_from policy samples attempts on
    pool_samples: int = 8  # revision: attempts sampled per problem of the pool

    def to_dict(self) -> dict:
        return asdict(self)


RECIPES = {
    # The default model stops at step 1,125 of a 2,000-step schedule. Trained on, it solves
    # more problems with one sample, but 32 samples then cover less than 4x what one covers
    # (3.5x at step 2,000), leaving test-time compute less room to show; 1,125 is where greedy
    # >= 20 %, pass@32 >= 75 % and pass@32 >= 4 x pass@1 all hold with the most margin
    # (checkpoints at 1,000 / 1,250 / 1,500 / 2,000 were evaluated; see the card's notes).
    # (padded batches: the same loss and gradients as packed ones up to rounding, kept so that
    # retraining gives the bundled weights bit for bit)
    "countdown": Recipe(steps=1125, schedule_steps=2000, family="countdown", half=False, packed=False),
    # The revision model (sequential revisions, Snell et al. 2024): the countdown policy
    # fine-tuned on its own failed attempts followed by a correct one, its context doubled.
    "revision": Recipe(
        name="revision",
        kind="revision",
        half=False,
        packed=False,
        init_from="countdown",
        shape=ModelShape(max_len=192),
        steps=400,
        batch_size=128,
        lr=1e-3,
        warmup=20,
        min_lr_ratio=0.1,
        pool=12_000,
        pool_samples=8,
        save_every=200,
        eval_every=100,
    ),
    # The family for "train bigger or think longer" (Chapter 4): the default model's data and
    # schedule at four sizes spanning 31x in parameters (the default is the largest), each
    # saved at steps 500, 1,000 and 1,125, so every checkpoint sits on one training-FLOPs axis.
    **{
        f"countdown-{size}": Recipe(
            name=f"countdown-{size}",
            shape=ModelShape(d_model=d, n_layer=n, n_head=d // 32, d_ff=4 * d),
            steps=1125,
            schedule_steps=2000,
            family="countdown",
        )
        for size, d, n in (("xs", 32, 2), ("s", 64, 2), ("m", 96, 3))
    },
    # Chapter 3's pair of Countdown models: the default's data and schedule, answering with
    # one expression and no steps (the policy above writes its steps).
    "countdown-direct": Recipe(name="countdown-direct", kind="direct", steps=1125, schedule_steps=2000),
    # Multi-step arithmetic (a numeric answer, so self-consistency votes on something): a
    # chain-of-thought model and its direct-answer twin, same questions, same size, same steps.
    **{
        name: Recipe(
            name=name,
            task="arithmetic",
            kind=kind,
            sizes=(2, 3, 4),
            shape=ModelShape(d_model=96, n_layer=3, n_head=3, d_ff=384),
            steps=1000,
        )
        for name, kind in (("arithmetic", "policy"), ("arithmetic-direct", "direct"))
    },
    # The trace model (Stream of Search): the default policy, taught to write a depth-first
    # search before it answers (tsc.tasks.trace), on problems of 3 numbers: their searches fit
    # its context of 640 tokens whole (the longest is 584), while those of 4 numbers run to
    # thousands of tokens (median 1,207; benchmarks/trace_lengths.py), too long to train on
    # a CPU here.
    "trace": Recipe(
        name="trace",
        kind="trace",
        init_from="countdown",
        sizes=(3,),
        shape=ModelShape(max_len=640),
        steps=1000,
        batch_size=64,
        lr=1e-3,
        warmup=50,
        min_lr_ratio=0.1,
        save_every=200,
        eval_every=200,
    ),
    # A few steps of a tiny model: what the tests train to check that the loss falls.
    "smoke": Recipe(
        name="smoke",
        shape=ModelShape(d_model=32, n_layer=1, n_head=2, d_ff=64),
        steps=30,
        batch_size=32,
        lr=1e-2,
        warmup=5,
        save_every=0,
        eval_every=0,
    ),
}


KINDS = ("policy", "revision", "direct", "trace")
POLICY_DATA = (
    "fresh uniform solvable Countdown problems each step (train split: the held-out tenth by hash is never seen), "
    "each with a random solution from the exhaustive solver; loss on solution tokens only"
)
DATA = {
    ("countdown", "policy"): POLICY_DATA,
    ("countdown", "direct"): POLICY_DATA.replace(
        "loss on solution tokens only", "written as one expression, no steps (e.g. (13-7)*4*2.); loss on answer tokens only"
    ),
    ("countdown", "trace"): POLICY_DATA.replace(
        "each with a random solution from the exhaustive solver",
        "each with a depth-first search written out (tsc.tasks.trace.dfs_trace: moves, dead ends, backtracking) that ends in a solution",
    ).replace("loss on solution tokens only", "loss on the trace and solution tokens"),
    ("arithmetic", "policy"): (
        "fresh arithmetic questions each step (train split: the held-out tenth by hash is never seen), each with its "
        "steps in a random valid order (tsc.tasks.arithmetic); loss on solution tokens only"
    ),
    ("arithmetic", "direct"): (
        "fresh arithmetic questions each step (train split: the held-out tenth by hash is never seen), each with its "
        "value only, no steps; loss on answer tokens only"
    ),
}


def task_problems(task: str, count: int, *, seed: int, sizes: tuple[int, ...], digits: int = 2, split: str = "test") -> list:
    """``count`` problems of ``task`` at the difficulty dial ``sizes`` (numbers for Countdown,
    operations for arithmetic) from ``split``, reproducibly from ``seed``."""
    if task == "arithmetic":
        from tsc.tasks import arithmetic

        return arithmetic.generate(count, seed=seed, ops=tuple(sizes), digits=digits, split=split)
    return countdown.generate(count, seed=seed, sizes=tuple(sizes), split=split)


def alphabet(recipe: Recipe) -> list[str]:
    """The characters a model of ``recipe`` reads and writes (its tokenizer's vocabulary)."""
    if recipe.kind == "trace":
        from tsc.tasks.trace import TRACE_CHARS

        return list(TRACE_CHARS)
    if recipe.kind == "direct" and recipe.task == "countdown":
        return CHARS + ["(", ")"]
    return CHARS


def _fine_tune_start(recipe: Recipe) -> Policy:
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
        from tsc.tasks.trace import dfs_trace

        return [(p.prompt(), dfs_trace(p)) for p in problems]
    if recipe.task == "arithmetic" and recipe.kind == "direct":
        return [(p.prompt(), p.direct_text()) for p in problems]
    if recipe.task == "arithmetic":  # steps in a random valid order, each + and * with its operands in a random order:
        return [(p.prompt(), p.solution_text(_commuted(p.solve(rng=rng), rng))) for p in problems]  # sampled chains differ
    if recipe.kind == "direct":
        return [(p.prompt(), p.direct_text(p.solve(rng=rng))) for p in problems]
    return [(p.prompt(), p.solution_text(p.solve(rng=rng))) for p in problems]


def _commuted(steps: list, rng: random.Random) -> list:
    """``steps`` with the operands of each + and * swapped or not at random (``78*98=7644`` or
    ``98*78=7644``): sampled chains of thought then differ in how they compute, not only in
    their order, so their mistakes are less alike and a vote has more to gain."""
    return [type(s)(s.right, s.op, s.left, s.result) if s.op in "+*" and rng.random() < 0.5 else s for s in steps]


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
    pad = tokenizer.pad_token_id
    width = max(map(len, ids))
    mask = [[1] * len(x) + [0] * (width - len(x)) for x in ids]
    ids = [x + [pad] * (width - len(x)) for x in ids]
    labels = [x + [-100] * (width - len(x)) for x in labels]
    return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask), "labels": torch.tensor(labels)}


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


def learning_rate(recipe: Recipe, step: int) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_ratio`` of the peak."""
    if step < recipe.warmup:
        return recipe.lr * (step + 1) / recipe.warmup
    total = recipe.schedule_steps or recipe.steps
    progress = min(1.0, (step - recipe.warmup) / max(1, total - recipe.warmup))
    return recipe.lr * (recipe.min_lr_ratio + (1 - recipe.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def optimizer_step(model, optimizer, recipe, step: int, loss) -> None:
    """One optimizer step on ``loss`` at the recipe's learning rate for ``step``, with the
    gradients clipped to norm 1 (shared by the policy and reward-model training loops)."""
    for group in optimizer.param_groups:
        group["lr"] = learning_rate(recipe, step)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()


def save_checkpoint(model, tokenizer, folder: Path, card: dict) -> dict:
    """Write model, tokenizer and card to a temporary folder, then rename it into place.

    The weights go to ``model.safetensors`` only (never pickle), and the card written, which
    is returned, is ``card`` plus ``weights_sha256``: `load_policy` checks it before loading.
    """
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with _quiet_loading():
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
    policy = Policy(model, tokenizer)
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
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=recipe.lr,
        betas=(0.9, 0.95),
    )
    log_file = (out_dir / "train_log.jsonl").open("w")
    tokens = flops = 0
    seconds = 0.0

    def card(record: dict) -> dict:
        """The model's card as of the step in ``record`` (the log line just written)."""
        return {
            "name": recipe.name,
            "kind": recipe.kind,
            "task": recipe.task,
            **({"family": recipe.family} if recipe.family else {}),
            "params": n_params,
            "shape": recipe.shape.to_dict(),
            "recipe": recipe.to_dict(),
            **data,
            "steps": record["step"],
            "train_tokens": record["tokens"],
            "train_flops": record["flops"],
            "flops_formula": "3 x forward; forward = 2*N*L + n_layer*d_model*L*(L+1) per sequence of L tokens (tsc.compute)",
            "seconds": round(record["seconds"], 1),
            "seed": recipe.seed,
            # what the model saw: `Limits.for_model` holds readers' problems to these numbers
            "problems": problems,
            "reproduce": f"python -m tsc train --recipe {recipe.name} --install",
            "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} threads",
            "final_loss": record["loss"],
            "torch": torch.__version__,
        }

    if recipe.task == "arithmetic":
        from tsc.tasks import arithmetic

        problems = {"ops": list(recipe.sizes), "digits": recipe.digits, "max_value": arithmetic.MAX_VALUE}
    else:
        problems = {"sizes": list(recipe.sizes), "max_number": countdown.MAX_NUMBER, "max_target": countdown.MAX_TARGET}
    model.train()
    bar = tqdm(range(recipe.steps), desc=f"train {recipe.name}", disable=not progress)
    for step in bar:
        started = time.perf_counter()
        if recipe.packed:
            batch = pack(tokenizer, examples(step), recipe.shape.max_len)
            lengths = batch.pop("lengths").tolist()
        else:
            batch = collate(tokenizer, examples(step))
            lengths = batch["attention_mask"].sum(1).tolist()
        loss = model(**batch).loss
        optimizer_step(model, optimizer, recipe, step, loss)
        seconds += time.perf_counter() - started
        tokens += sum(lengths)
        flops += sum(training_flops(n_params, recipe.shape.n_layer, recipe.shape.d_model, n) for n in lengths)
        record = {"step": step + 1, "loss": round(loss.item(), 5), "tokens": tokens, "flops": flops, "seconds": round(seconds, 2)}
        if recipe.eval_every and (step + 1) % recipe.eval_every == 0:
            record["greedy_quick"] = quick_greedy_accuracy(model, tokenizer, recipe=recipe)
        log_file.write(json.dumps(record) + "\n")
        log_file.flush()
        bar.set_postfix(loss=f"{loss.item():.3f}")
        if recipe.save_every and (step + 1) % recipe.save_every == 0 and step + 1 < recipe.steps:
            save_checkpoint(model, tokenizer, out_dir / "checkpoints" / f"step-{step + 1}", card(record))
    log_file.close()
    return save_checkpoint(model, tokenizer, out_dir / "final", card(record))  # the card as written, with the weights' hash
