"""The reward model itself: the policy's layers, fresh layers on top, a value head (see
`tsc.lm.reward`); loading it, building one from a policy, scoring steps."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path

import torch

from tsc.compute import Ledger, forward_flops
from tsc.lm.fast import LeanLlama, joined, pad_rows, prefill, stored_kv, supports
from tsc.lm.prefix import PrefixStore

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
            batch = pad_rows([encoded[i][0] for i in rows], pad)
            values = torch.sigmoid(self.model(**batch).logits[..., 0].float())
            for b, i in enumerate(rows):
                out[i] = values[b, encoded[i][1]].tolist()
        if ledger is not None:
            lengths = [len(ids) for ids, _ in encoded if ids]
            ledger.charge_verifier(tokens=sum(lengths), flops=sum(map(self.flops, lengths)), seconds=time.perf_counter() - started)
        return out


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

    from tsc.lm.checkpoint import quiet_loading

    config = policy.model.config.to_dict()
    for key in ("id2label", "label2id"):
        config.pop(key, None)
    base_layers = policy.model.config.num_hidden_layers
    config.update(
        num_labels=1, architectures=["LlamaForTokenClassification"], tie_word_embeddings=False, num_hidden_layers=base_layers + extra_layers
    )
    config = type(policy.model.config).from_dict(config)
    torch.manual_seed(seed)
    with quiet_loading():
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
    from tsc.lm.checkpoint import bundled_models

    path = bundled_models(kind=None).get(str(name_or_path)) or Path(str(name_or_path)).expanduser()
    return _kind_of(path) in KINDS


def _kind_of(folder: Path) -> str | None:
    """The kind on a folder's card, else read from its config (None if neither says)."""
    from tsc.io import read_card

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
    from tsc.io import read_card
    from tsc.lm.checkpoint import bundled_models, load_checkpoint

    bundled = {k: v for k, v in bundled_models(kind=None).items() if _kind_of(v) in KINDS}
    name = str(name_or_path)
    path = bundled.get(name) or Path(name).expanduser()
    if not (path / "config.json").is_file():
        known = ", ".join(bundled) or "(none bundled)"
        raise ValueError(f"unknown reward model {name!r}: not a bundled reward model ({known}) nor a folder with config.json")
    card = read_card(path)
    if _kind_of(path) not in KINDS:
        raise ValueError(f"{path} holds a {card.get('kind') or 'model'} with no value head, not a reward model ({', '.join(KINDS)})")
    model, tokenizer = load_checkpoint(path, card, "AutoModelForTokenClassification", what="reward model")
    return RewardModel(model, tokenizer, path=path, name=path.name, card=card)


# --- prefix reuse for a token classifier on a policy's trunk -------------------------------------------


def values_reusing(
    lean: LeanLlama, rows: list[list[int]], store: PrefixStore, *, pad: int, inputs: list[torch.Tensor] | None = None
) -> tuple[list[torch.Tensor], list[int]]:
    """A token classifier's output at every position of each row (token ids), computing only
    what ``store`` does not hold (see `prefill`; ``inputs``: the trunk's hidden states, for the
    layers on top of a shared trunk). Every row, and every row but its last token, is then
    stored with its outputs, so a later row that extends either computes only its new tokens.
    Returns each row's outputs [length, labels] and how many of its positions were computed."""
    found = [store.longest(r) for r in rows]
    cache, window, _, fresh, width = prefill(lean, rows, found, pad=pad, inputs=inputs, every_position=True)
    outputs = []
    for i, (row, (_, entry), n) in enumerate(zip(rows, found, fresh)):
        out = joined(entry and entry[2], window[i], n, len(row))
        first = width - len(row)
        for end in (len(row), len(row) - 1):  # the row, and the row without its last token
            store.add(row[:end], *stored_kv(cache, i, first, first + end), out[:end])
        outputs.append(out)
    return outputs, fresh


def trunk_states(lean: LeanLlama, rows: list[list[int]], store: PrefixStore, *, pad: int) -> tuple[list[torch.Tensor], list[int]]:
    """The hidden states after ``lean``'s last layer at every position of each row, taking
    what the sampler stored with the sequences it wrote (`sample_rows` with a store) and
    computing the rest: the trunk a reward model shares with the policy. Returns each row's
    states [length, width] and how many of its positions were computed."""
    found = [store.longest(r) for r in rows]
    _, _, hidden, fresh, _ = prefill(lean, rows, found, pad=pad)  # the hidden states, not the logits
    return [joined(entry and entry[2], hidden[i], n, len(row)) for i, (row, (_, entry), n) in enumerate(zip(rows, found, fresh))], fresh
