"""Recipes: everything that determines a training run, as plain data (no torch here).

A recipe with its seed reproduces a bundled model: ``python -m tsc train --recipe NAME``.
`Recipe` trains a policy (`tsc.lm.train`), `RewardRecipe` a reward model
(`tsc.lm.reward`). Keeping the tables free of torch lets ``python -m tsc --help`` list
them in a fraction of a second.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tsc.tasks import countdown


@dataclass(frozen=True)
class ModelShape:
    """The knobs that set a model's size. ``d_model`` must divide by ``n_head``."""

    d_model: int = 128
    n_layer: int = 4
    n_head: int = 4
    d_ff: int = 512
    max_len: int = 96


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


SHAPE_M = ModelShape(d_model=96, n_layer=3, n_head=3, d_ff=384)  # countdown-m's shape (445,344 parameters)

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
    # The family's checkpoints all come from one 2,000-step cosine schedule stopped part-way, so
    # none of them was annealed (its learning rate brought down) at its own budget. These runs
    # are: the same data, size and peak learning rate, each with a cosine schedule that ends at
    # its own last step. Two sizes (countdown-m and the default's shape) at two budgets, paired
    # across sizes at about equal training FLOPs (445,344 parameters x 500 steps against
    # 1,052,800 x 210; x 1,125 against x 500, the family's own pair, within 6 %): which size
    # should a fixed training budget buy, and, against the family's checkpoints at steps 500 and
    # 1,125, what does annealing add? (A third budget, 2,500 and 1,060 steps, was planned; the
    # shared CPU did not have the two hours it would have taken.)
    **{
        f"{size}-anneal{steps}": Recipe(
            name=f"{size}-anneal{steps}",
            shape=shape,
            steps=steps,
            family="countdown-annealed",
            save_every=0,
            eval_every=0,
        )
        for size, shape, budgets in (
            ("countdown-m", SHAPE_M, (500, 1125)),
            ("countdown", ModelShape(), (210, 500)),
        )
        for steps in budgets
    },
    # Chapter 3's pair of Countdown models: the default's data and schedule, answering with
    # one expression and no steps (the policy above writes its steps).
    "countdown-direct": Recipe(name="countdown-direct", kind="direct", steps=1125, schedule_steps=2000),
    # Multi-step arithmetic (a numeric answer, so self-consistency votes on something): a
    # chain-of-thought model and its direct-answer twin, same questions, same size (countdown-m's),
    # same steps. Same steps is not same compute: a chain is a longer target, so `arithmetic` was
    # trained with 2.58x the FLOPs of `arithmetic-direct`. The matched twin gets the chain's
    # training FLOPs: 2,580 steps of the direct recipe, its cosine schedule ending at its own last step.
    **{
        name: Recipe(name=name, task="arithmetic", kind=kind, sizes=(2, 3, 4), shape=SHAPE_M, steps=steps)
        for name, kind, steps in (
            ("arithmetic", "policy", 1000),
            ("arithmetic-direct", "direct", 1000),
            ("arithmetic-direct-matched", "direct", 2580),
        )
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
ARITHMETIC_DATA = (
    "fresh arithmetic questions each step (train split: the held-out tenth by hash is never seen), each with its "
    "steps in a random valid order (tsc.tasks.arithmetic); loss on solution tokens only"
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
    ("arithmetic", "policy"): ARITHMETIC_DATA,
    ("arithmetic", "direct"): ARITHMETIC_DATA.replace(
        "steps in a random valid order (tsc.tasks.arithmetic); loss on solution", "value only, no steps; loss on answer"
    ),
}


@dataclass(frozen=True)
class RewardRecipe:
    """Everything that determines a reward model: its data, its training, its seed."""

    name: str = "prm"
    kind: str = "prm"  # "orm": outcome labels; "prm": Monte Carlo rollout labels
    base: str = "countdown"  # the policy whose samples are judged (and whose backbone starts the model)
    problems: int = 3000  # training-split problems, uniform over solvable ones
    samples: int = 8  # completions sampled per problem at `temperature`
    temperature: float = 1.0
    rollouts: int = 8  # continuations per step prefix (prm only)
    labels: str = "soft"  # prm only: "soft" = fraction of rollouts correct, "hard" = 1 if any is
    rollout_examples: bool = False  # prm only: train on the rollouts too (see build_examples)
    outcome_problems: int = 0  # prm only: more problems whose samples get no rollouts (see reward_data)
    extra_layers: int = 2  # fresh decoder layers on top of the policy's (see reward_model_from_policy)
    freeze_base: bool = True  # train the fresh layers and the head only; the policy's layers stay as they are
    save_dtype: str = "float16"  # how the weights are stored (they are read back as float32)
    max_new_tokens: int = 64
    sizes: tuple[int, ...] = countdown.SIZES
    val_fraction: float = 0.05  # problems held out of training for the validation loss
    steps: int = 600
    schedule_steps: int | None = None
    batch_size: int = 256
    lr: float = 3e-3
    warmup: int = 50
    min_lr_ratio: float = 0.05
    weight_decay: float = 0.01
    seed: int = 0
    save_every: int = 200
    eval_every: int = 100  # validation loss every this many steps


REWARD_RECIPES = {
    "orm": RewardRecipe(name="orm", kind="orm", problems=40000, samples=8, steps=600),
    "prm": RewardRecipe(name="prm", kind="prm", problems=4000, samples=8, rollouts=8, labels="hard", steps=800),
}
