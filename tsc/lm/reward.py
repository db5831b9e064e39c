"""Reward models: the policy's backbone with a value head, trained on the policy's own samples.

A `RewardModel` is a `transformers` `LlamaForTokenClassification` with one output (a value
on every position), reading the policy's characters: the prompt, then the completion
(``"13 4 7 2>48:13-7=6,6*4=24,24*2=48."``). Its estimate that the completion will turn out
correct, *as of a step*, is the sigmoid of the value at the step's last character (the
``,`` or the final ``.``), so one forward pass scores every step prefix of a completion.

Its first layers are the policy's own, frozen; two fresh decoder layers and the value head
on top are trained. Checking a step means comparing the digits written with the ones the
policy expected, and a position of the policy never sees the finished prediction made at
the position before it (that only exists after the last layer); the fresh layers do. With
the policy's layers alone and fine-tuned, the reward models learned the problem's difficulty
but hardly looked at the arithmetic (best-of-16 at majority voting's level); with the two
layers on top they read it.

Two kinds are trained by the same loop and differ only in their labels:

- ``orm`` (outcome reward model, Cobbe et al. 2021): every step of a completion is labelled
  with the oracle's verdict on the whole completion; the score is read at the last step.
- ``prm`` (process reward model, Math-Shepherd, Wang et al. 2024): ``rollouts``
  continuations of each step prefix are sampled from the policy and judged by the oracle.
  With ``labels="hard"`` (the bundled PRM, Math-Shepherd's hard estimate) the prefix is
  labelled 1 if any of them ends correct: "a solution can still be found from here", what
  the exact `StepOracle` says. With ``labels="soft"`` it is labelled with the fraction that
  do (a Monte Carlo estimate of the prefix's value under the policy). The last step gets the
  oracle's verdict. No hand labels.

Data, training and the card are reproducible from the recipe and its seed
(``python -m tsc train --recipe prm --install``).
"""

from __future__ import annotations

import gzip
import json
import platform
import random
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from tsc.compute import Ledger, forward_flops
from tsc.lm.fast import LeanLlama, PrefixStore, supports, trunk_states, values_reusing
from tsc.tasks import countdown

KINDS = ("orm", "prm")


class RewardModel:
    """A token-classification model with one value per position, and its tokenizer.

    ``model`` is the `transformers` model, ``tokenizer`` the char tokenizer of the policy,
    ``path`` the folder it came from, ``card`` its training card and ``kind`` ``"orm"`` or
    ``"prm"`` (from the card).
    """

    def __init__(self, model, tokenizer, *, path: Path | None = None, name: str | None = None, card: dict | None = None):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.path = path
        self.name = name or (path.name if path else "reward")
        self.card = card or {}
        self.kind = self.card.get("kind", "reward")
        config = model.config
        self.n_params = sum(p.numel() for p in model.parameters())
        self.n_layer = config.num_hidden_layers
        self.d_model = config.hidden_size
        self.max_len = getattr(config, "max_position_embeddings", 2048)
        self._prefix_store: PrefixStore | None = None  # set inside `prefix_cache`
        self._shared = None  # the policy whose layers are this model's trunk, inside `prefix_cache(share=...)`
        self._lean: dict[int, LeanLlama] = {}  # the lean forward pass of the layers from index k on

    @contextmanager
    def prefix_cache(self, max_tokens: int = 50_000, *, share=None):
        """Within this block, a text that extends one scored before (a search's new step after
        a partial solution it scored already) reuses that text's keys, values and scores and
        computes only its new tokens; the ledger is charged for those alone. Tree search opens
        one block per problem.

        With ``share``, a policy whose layers are this model's frozen trunk bit for bit (see
        `shares_trunk_with`) and whose own prefix cache is open, the trunk's hidden states of
        the text the policy wrote are the ones the policy computed while writing it: this model
        computes its trunk only for tokens the policy never read (a step's closing comma), and
        its own layers on top. That is the value head of AlphaZero's shared network: judging a
        step costs a fraction of writing it."""
        previous = self._prefix_store, self._shared
        self._prefix_store = PrefixStore(max_tokens)
        self._shared = share if share is not None and self.shares_trunk_with(share) else None
        try:
            yield self._prefix_store
        finally:
            self._prefix_store, self._shared = previous

    def shares_trunk_with(self, policy) -> bool:
        """Whether this model's embedding and first layers are ``policy``'s, bit for bit: a
        reward model trained on top of the frozen policy and stored with its trunk as it was."""
        theirs = getattr(getattr(policy, "model", None), "model", None)
        mine = getattr(self.model, "model", None)
        if theirs is None or mine is None or not hasattr(theirs, "layers") or len(theirs.layers) >= len(mine.layers):
            return False
        if not (supports(self.model) and supports(policy.model) and getattr(policy, "lean", False)):
            return False
        pairs = [(mine.embed_tokens.weight, theirs.embed_tokens.weight)]
        pairs += [(a, b) for x, y in zip(mine.layers, theirs.layers) for a, b in zip(x.parameters(), y.parameters())]
        return all(a.shape == b.shape and torch.equal(a, b) for a, b in pairs)

    def _lean_from(self, first: int) -> LeanLlama:
        """The lean forward pass of this model's layers ``first`` onwards (0: all of them)."""
        if first not in self._lean:
            lean = LeanLlama(self.model)
            lean.blocks = lean.blocks[first:]
            lean.n_layer = len(lean.blocks)
            self._lean[first] = lean
        return self._lean[first]

    def __repr__(self) -> str:
        return f"RewardModel({self.name!r}, {self.kind}, {self.n_params:,} parameters)"

    def flops(self, length: int) -> int:
        """Forward FLOPs to score one text of ``length`` tokens (see tsc.compute)."""
        return forward_flops(self.n_params, self.n_layer, self.d_model, length, 0)

    def _size_from(self, first: int) -> tuple[int, int]:
        """Parameters and layers of this model from layer ``first`` on (with the head; with the
        embedding too when ``first`` is 0), for the FLOPs of a model on a shared trunk."""
        if first == 0:
            return self.n_params, self.n_layer
        trunk = self.model.model
        trunk_params = trunk.embed_tokens.weight.numel() + sum(p.numel() for layer in trunk.layers[:first] for p in layer.parameters())
        return self.n_params - trunk_params, self.n_layer - first

    def encode(self, prompt: str, steps: list[str]) -> tuple[list[int], list[int]]:
        """Token ids of ``<bos> prompt step1 step2 ...`` and the index of each step's last token.

        Each piece is tokenized on its own, so the step ends are exact for any tokenizer.
        A text longer than the model's context keeps its first ``max_len`` tokens; a step that
        ends beyond them is read at the last position kept.
        """
        tokenize = lambda text: self.tokenizer(text, add_special_tokens=False)["input_ids"]
        bos = [self.tokenizer.bos_token_id] if self.tokenizer.bos_token_id is not None else []
        ids = bos + tokenize(prompt)
        ends = []
        for step in steps:
            ids += tokenize(step)
            ends.append(len(ids) - 1)
        ids = ids[: self.max_len]
        return ids, [min(e, len(ids) - 1) for e in ends]

    @torch.no_grad()
    def step_scores(
        self, prompts: list[str], steps: list[list[str]], *, ledger: Ledger | None = None, batch_size: int = 512
    ) -> list[list[float]]:
        """P(correct) after each step of each completion: ``steps[i]`` are the pieces of
        completion i (``["13-7=6,", "6*4=24,", "24*2=48."]``) continuing ``prompts[i]``.

        One forward pass per completion (batched, right-padded) scores all its steps; a
        completion with no steps gets ``[]`` and costs nothing. The ledger is charged once,
        as verifier compute: the tokens read and their forward FLOPs.
        """
        if isinstance(prompts, str):
            raise TypeError("prompts must be a list of strings; wrap a single prompt in a list")
        if len(prompts) != len(steps):
            raise ValueError(f"got {len(prompts)} prompts but {len(steps)} step lists")
        started = time.perf_counter()
        encoded = [self.encode(p, s) if s else ([], []) for p, s in zip(prompts, steps)]
        todo = sorted((i for i, (ids, _) in enumerate(encoded) if ids), key=lambda i: len(encoded[i][0]))
        out: list[list[float]] = [[] for _ in prompts]
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        if self._prefix_store is not None and todo and supports(self.model):
            shared = self._shared if self._shared is not None and self._shared._prefix_store is not None else None
            base = len(shared.model.model.layers) if shared is not None else 0
            lengths = [len(encoded[i][0]) for i in todo]
            trunk_computed, top_computed = [], []
            for start in range(0, len(todo), batch_size):
                rows = todo[start : start + batch_size]
                ids = [encoded[i][0] for i in rows]
                states = None
                if shared is not None:  # the trunk's states: the policy's, as it wrote the text
                    states, fresh = trunk_states(shared._lean_model(), ids, shared._prefix_store, pad=pad)
                    trunk_computed += fresh
                values, fresh = values_reusing(self._lean_from(base), ids, self._prefix_store, pad=pad, inputs=states)
                top_computed += fresh
                for i, value in zip(rows, values):
                    out[i] = torch.sigmoid(value[encoded[i][1], 0].float()).tolist()
            if ledger is not None:  # only the tokens computed: the rest was read from the stores
                params, layers = self._size_from(base)
                flops = sum(
                    forward_flops(params, layers, self.d_model, n, 0) - forward_flops(params, layers, self.d_model, n - c, 0)
                    for n, c in zip(lengths, top_computed)
                )
                if shared is not None:
                    flops += sum(shared.flops(n, 0) - shared.flops(n - c, 0) for n, c in zip(lengths, trunk_computed))
                ledger.charge_verifier(tokens=sum(top_computed), flops=flops, seconds=time.perf_counter() - started)
            return out
        for start in range(0, len(todo), batch_size):
            rows = todo[start : start + batch_size]
            batch = _pad([encoded[i][0] for i in rows], pad)
            values = torch.sigmoid(self.model(**batch).logits[..., 0].float())
            for b, i in enumerate(rows):
                out[i] = values[b, encoded[i][1]].tolist()
        if ledger is not None:
            lengths = [len(ids) for ids, _ in encoded if ids]
            ledger.charge_verifier(tokens=sum(lengths), flops=sum(map(self.flops, lengths)), seconds=time.perf_counter() - started)
        return out


def _pad(rows: list[list[int]], pad: int) -> dict[str, torch.Tensor]:
    """Right-padded ids and attention mask (positions count from 0 in every row)."""
    width = max(map(len, rows))
    return {
        "input_ids": torch.tensor([r + [pad] * (width - len(r)) for r in rows]),
        "attention_mask": torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows]),
    }


def reward_model_from_policy(policy, *, extra_layers: int = 0, seed: int = 0):
    """A `LlamaForTokenClassification` with one label: the policy's embedding and decoder
    layers, then ``extra_layers`` fresh decoder layers, then a new value head (``seed``).

    The fresh layers start as the identity (their output projections are zero), so the model
    starts as "the policy's last hidden state, read by a linear head". They are where the
    verifier can compare what the policy expected at a position (its last hidden state
    there) with the token that came next: in the policy's own layers, a position never sees
    the finished prediction of the one before it.
    """
    from transformers import AutoModelForTokenClassification

    from tsc.lm.policy import _quiet_loading

    config = policy.model.config.to_dict()
    for key in ("id2label", "label2id"):
        config.pop(key, None)
    base_layers = policy.model.config.num_hidden_layers
    config.update(
        num_labels=1, architectures=["LlamaForTokenClassification"], tie_word_embeddings=False, num_hidden_layers=base_layers + extra_layers
    )
    config = type(policy.model.config).from_dict(config)
    torch.manual_seed(seed)
    with _quiet_loading():
        model = AutoModelForTokenClassification.from_config(config)
    backbone = getattr(policy.model, policy.model.base_model_prefix)
    missing, unexpected = getattr(model, model.base_model_prefix).load_state_dict(backbone.state_dict(), strict=False)
    fresh = {f"layers.{i}." for i in range(base_layers, base_layers + extra_layers)}
    if unexpected or any(not any(key.startswith(f) for f in fresh) for key in missing):
        raise ValueError(f"the policy's backbone does not fit a {base_layers}-layer Llama: missing {missing}, unexpected {unexpected}")
    with torch.no_grad():
        for layer in getattr(model, model.base_model_prefix).layers[base_layers:]:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
    return model


def is_reward_model(name_or_path) -> bool:
    """Whether ``name_or_path`` names a bundled reward model or a folder holding one."""
    from tsc.lm.policy import bundled_models

    path = bundled_models(kind=None).get(str(name_or_path)) or Path(str(name_or_path)).expanduser()
    return _kind_of(path) in KINDS


def _kind_of(folder: Path) -> str | None:
    """The kind on a folder's card, else read from its config (None if neither says)."""
    from tsc.lm.checkpoint import read_card

    if not (folder / "config.json").is_file():
        return None
    kind = read_card(folder).get("kind")
    if kind:
        return kind
    try:
        architectures = json.loads((folder / "config.json").read_text()).get("architectures") or []
    except (ValueError, OSError):
        return None
    return "reward" if any(a.endswith("ForTokenClassification") for a in architectures) else None


def load_reward_model(name_or_path: str | Path) -> RewardModel:
    """A bundled reward model (``"orm"``, ``"prm"``) or one saved in a folder.

    As for policies, the weights must be ``model.safetensors`` and match the sha256 on the card.
    """
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from tsc.lm.checkpoint import WEIGHTS, check_checkpoint, how_to_fix, read_card
    from tsc.lm.policy import _quiet_loading, bundled_models

    bundled = {k: v for k, v in bundled_models(kind=None).items() if _kind_of(v) in KINDS}
    name = str(name_or_path)
    path = bundled.get(name) or Path(name).expanduser()
    if not (path / "config.json").is_file():
        known = ", ".join(bundled) or "(none bundled)"
        raise ValueError(f"unknown reward model {name!r}: not a bundled reward model ({known}) nor a folder with config.json")
    card = read_card(path)
    if _kind_of(path) not in KINDS:
        raise ValueError(f"{path} holds a {card.get('kind') or 'model'} with no value head, not a reward model ({', '.join(KINDS)})")
    check_checkpoint(path, card)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        with _quiet_loading():
            model = AutoModelForTokenClassification.from_pretrained(path, local_files_only=True, use_safetensors=True, dtype=torch.float32)
    except Exception as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        damaged = f"{WEIGHTS}, config or tokenizer damaged?"
        raise ValueError(f"cannot load the reward model in {path} ({damaged}): {detail}; {how_to_fix(card)}") from error
    return RewardModel(model, tokenizer, path=path, name=path.name, card=card)


# --- data -------------------------------------------------------------------------------


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

    def to_dict(self) -> dict:
        return asdict(self)


REWARD_RECIPES = {
    "orm": RewardRecipe(name="orm", kind="orm", problems=40000, samples=8, steps=600),
    "prm": RewardRecipe(name="prm", kind="prm", problems=4000, samples=8, rollouts=8, labels="hard", steps=800),
}


def _is_dead(problem, prefix: str) -> bool:
    """Whether a step prefix (ending in ``,``) already breaks Countdown's rules: a malformed
    step, an operand not on the table, a wrong result, or nothing left to combine. The oracle
    rejects every completion that starts this way, so its Monte Carlo value is exactly 0."""
    steps = countdown.parse(prefix.rstrip(","))
    pool = countdown.remaining(problem.numbers, steps) if steps is not None else None
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
    if not rollouts:
        problem_of = dict(zip(prompts, problems))
        for example in examples:
            problem, prefix, labels = problem_of[example["prompt"]], "", []
            for step in example["steps"][:-1]:
                prefix += step
                labels.append(0.0 if _is_dead(problem, prefix) else None)
            example.update(labels=labels + [example["correct"]], outcome=True)
        return examples, ledger
    # PRM: Monte Carlo values of the distinct live prefixes, all rolled out in a few big calls
    problem_of = dict(zip(prompts, problems))
    values: dict[tuple[str, str], float] = {}
    live: list[tuple[str, str]] = []
    for example in examples:
        problem = problem_of[example["prompt"]]
        prefix = ""
        for step in example["steps"][:-1]:
            prefix += step
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
        prefix, labels = "", []
        for step in example["steps"][:-1]:
            prefix += step
            labels.append(values[(example["prompt"], prefix)])
        example["labels"] = labels + [example["correct"]]
    for prompt, text, verdict in rollouts:
        problem = problem_of[prompt]
        steps = problem.steps(text)
        prefix, labels = "", []
        for step in steps[:-1]:
            prefix += step
            known = values.get((prompt, prefix))
            labels.append(known if known is not None else 0.0 if _is_dead(problem, prefix) else None)
        examples.append({"prompt": prompt, "steps": steps, "labels": labels + [float(verdict)], "correct": float(verdict), "rollout": True})
    return examples, ledger


def reward_data(recipe: RewardRecipe, policy, *, cache: Path | None = None, progress: bool = True) -> dict:
    """The recipe's training and validation examples with a summary, built once and kept in
    ``cache`` (a ``.json.gz`` file keyed by the recipe's data fields) for reruns."""
    fields = {k: v for k, v in recipe.to_dict().items() if k in _DATA_FIELDS}
    fields["policy_sha256"] = policy.card.get("weights_sha256") or policy.name
    fields = json.loads(json.dumps(fields))  # as the cache stores them (tuples become lists)
    data = _read_cache(cache, fields)
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
    _write_cache(cache, data)
    return _with_outcome_part(recipe, policy, data, cache=cache, progress=progress)


def _with_outcome_part(recipe: RewardRecipe, policy, data: dict, *, cache: Path | None, progress: bool) -> dict:
    """``data`` plus, for a PRM recipe with ``outcome_problems``, the samples of that many more
    training-split problems (the ones `countdown.generate` draws after the recipe's
    ``problems``), labelled without rollouts (see `build_examples`); cached beside ``cache``."""
    if recipe.kind != "prm" or not recipe.outcome_problems:
        return data
    fields = dict(data["fields"], outcome_problems=recipe.outcome_problems)
    extra_cache = cache.with_name("outcome-" + cache.name) if cache is not None else None
    extra = _read_cache(extra_cache, fields)
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
        _write_cache(extra_cache, extra)
    summary = dict(data["summary"])
    summary.update(
        outcome_problems=recipe.outcome_problems,
        outcome_completions=len(extra["train"]),
        outcome_correct_rate=round(sum(e["correct"] for e in extra["train"]) / max(1, len(extra["train"])), 4),
        labelled_steps=summary["labelled_steps"] + sum(y is not None for e in extra["train"] for y in e["labels"]),
        **{k: summary[k] + extra["summary"][k] for k in ("policy_tokens", "policy_flops", "seconds")},
    )
    return dict(data, train=data["train"] + extra["train"], summary=summary)


def _read_cache(cache: Path | None, fields: dict) -> dict | None:
    if cache is None or not cache.exists():
        return None
    with gzip.open(cache, "rt") as handle:
        data = json.load(handle)
    return data if data.get("fields") == fields else None


def _write_cache(cache: Path | None, data: dict) -> None:
    if cache is None:
        return
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.name + ".tmp")
    with gzip.open(tmp, "wt") as handle:
        json.dump(data, handle)
    tmp.replace(cache)


_DATA_FIELDS = ("kind", "base", "problems", "samples", "temperature", "rollouts", "max_new_tokens", "sizes", "val_fraction", "seed")


# --- training ---------------------------------------------------------------------------


def collate_rewards(reward: RewardModel, examples: list[dict]) -> dict[str, torch.Tensor]:
    """Right-padded ids, attention mask, and float ``labels`` at each step's last token
    (NaN elsewhere: those positions carry no loss)."""
    pad = reward.tokenizer.pad_token_id if reward.tokenizer.pad_token_id is not None else 0
    encoded = [reward.encode(e["prompt"], e["steps"]) for e in examples]
    batch = _pad([ids for ids, _ in encoded], pad)
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
    from tsc.lm.policy import load_policy
    from tsc.lm.train import optimizer_step, save_checkpoint

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

    decay = [p for p in trainable if p.dim() >= 2]
    no_decay = [p for p in trainable if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=recipe.lr,
        betas=(0.9, 0.95),
    )
    order = _epochs(len(train_set), recipe.steps * recipe.batch_size, seed=recipe.seed)
    log_file = (out_dir / "train_log.jsonl").open("w")
    tokens = flops = 0
    seconds = 0.0
    val_loss = None

    # what was trained on: the data's summary counts every example built, rollouts included
    trained = {"train_examples": len(train_set), "train_labelled_steps": sum(y is not None for e in train_set for y in e["labels"])}

    def card(record: dict) -> dict:
        summary = {**data["summary"], **trained}
        return {
            "name": recipe.name,
            "kind": recipe.kind,
            "task": "countdown",
            "params": n_params,
            "base": {"name": policy.name, "weights_sha256": policy.card.get("weights_sha256")},
            "recipe": recipe.to_dict(),
            "data": _describe(recipe, summary),
            "data_summary": summary,
            "steps": record["step"],
            "epochs": round(record["step"] * recipe.batch_size / len(train_set), 2),
            "train_tokens": record["tokens"],
            "train_flops": record["flops"],
            "data_flops": summary["policy_flops"],
            "flops_formula": "forward through the whole model + 2 x forward through the trained top (the fresh layers and the "
            "head when the base is frozen); forward = 2*N*L + n_layer*d_model*L*(L+1) per sequence of L tokens (tsc.compute)",
            "trained_params": sum(p.numel() for p in trainable),
            "seconds": round(record["seconds"], 1),
            "data_seconds": summary["seconds"],
            "seed": recipe.seed,
            "problems": {"sizes": list(recipe.sizes), "max_number": countdown.MAX_NUMBER, "max_target": countdown.MAX_TARGET},
            "reproduce": f"python -m tsc train --recipe {recipe.name} --install",
            "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} threads",
            "final_loss": record["loss"],
            "val_loss": record.get("val_loss", val_loss),
            "torch": torch.__version__,
        }

    torch.manual_seed(recipe.seed)
    model.train()
    bar = tqdm(range(recipe.steps), desc=f"train {recipe.name}", disable=not progress)
    for step in bar:
        started = time.perf_counter()
        batch = collate_rewards(reward, [train_set[i] for i in order[step * recipe.batch_size : (step + 1) * recipe.batch_size]])
        loss = reward_loss(model, batch)
        optimizer_step(model, optimizer, recipe, step, loss)
        seconds += time.perf_counter() - started
        lengths = batch["attention_mask"].sum(1).tolist()
        tokens += sum(lengths)
        flops += sum(map(step_flops, lengths))
        record = {"step": step + 1, "loss": round(loss.item(), 5), "tokens": tokens, "flops": flops, "seconds": round(seconds, 2)}
        last = step + 1 == recipe.steps
        if val_set and ((recipe.eval_every and (step + 1) % recipe.eval_every == 0) or last):
            val_loss = record["val_loss"] = round(validation_loss(reward, val_set), 5)
        log_file.write(json.dumps(record) + "\n")
        log_file.flush()
        bar.set_postfix(loss=f"{loss.item():.3f}", val=f"{val_loss:.3f}" if val_loss is not None else "-")
        if recipe.save_every and (step + 1) % recipe.save_every == 0 and not last:
            save_checkpoint(_stored(model, recipe), reward.tokenizer, out_dir / "checkpoints" / f"step-{step + 1}", card(record))
    log_file.close()
    model.eval()
    return save_checkpoint(_stored(model, recipe), reward.tokenizer, out_dir / "final", card(record))


def _stored(model, recipe: RewardRecipe):
    """The model as its weights are stored: its trained weights in ``recipe.save_dtype``
    (float16 halves them; `load_reward_model` reads them back as float32), the frozen layers
    of the policy as they are, so that the stored trunk stays the policy's own, bit for bit,
    and a search can share the policy's computation with it (`tsc.lm.fast.SharedTrunk`)."""
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


__all__ = [
    "KINDS",
    "REWARD_RECIPES",
    "RewardModel",
    "RewardRecipe",
    "build_examples",
    "collate_rewards",
    "is_reward_model",
    "load_reward_model",
    "reward_data",
    "reward_loss",
    "reward_model_from_policy",
    "train_reward",
]
