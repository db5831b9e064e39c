"""A lean Llama forward pass for sampling: the same weights and the same math as `transformers`,
without the work `generate` does in vain.

Measured on this project's 2-core CPU (8 Countdown prompts × 32 samples, `python -m tsc
bench`), `transformers.generate` loses its time in three places: it keeps computing every
sequence until the last one ends (about half of its rows are finished ones), it grows its
cache by concatenation, and its matrix products go through a BLAS that runs at half the
speed of oneDNN's kernels at these sizes. This module keeps only what decoding needs:

* a key/value cache allocated once and written in place;
* finished sequences dropped from the batch, so late steps compute only the live ones;
* the query, key and value projections fused into one matrix product, and what follows a
  product (SiLU, the gate, the residual sum) fused into it, on oneDNN where torch has it;
* a prompt shared by ``n`` samples read once, its keys and values copied to each sample.

It reads the weights of a `LlamaForCausalLM` and never changes them, so bundled checkpoints
stay ordinary `transformers` models; `tests/test_fast.py` checks that the logits agree with
the `transformers` forward within 1e-5. Models it does not cover (other architectures, rope
scaling, grouped-query attention) fall back to the `transformers` path in `tsc.lm.policy`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import torch
import torch.nn.functional as F

from tsc.core import CUT_MARGIN

if TYPE_CHECKING:
    from tsc.lm.prefix import PrefixStore


def pad_rows(rows: list[list[int]], pad: int, *, left: bool = False, device=None) -> dict[str, torch.Tensor]:
    """Token-id rows padded with ``pad`` to the longest (at the end; at the start with
    ``left``, as a batch about to be continued is), and the attention mask that tells real
    tokens (1) from padding (0)."""
    width = max(map(len, rows))
    padded = [([pad] * (width - len(r)) + r) if left else (r + [pad] * (width - len(r))) for r in rows]
    mask = [([0] * (width - len(r)) + [1] * len(r)) if left else ([1] * len(r) + [0] * (width - len(r))) for r in rows]
    return {"input_ids": torch.tensor(padded, device=device), "attention_mask": torch.tensor(mask, device=device)}


def supports(model) -> bool:
    """Whether `LeanLlama` computes exactly what ``model`` computes."""
    config = model.config
    rope = getattr(config, "rope_parameters", None) or {"rope_type": "default"}
    return (
        config.model_type == "llama"
        and rope.get("rope_type", "default") == "default"
        and config.hidden_act == "silu"
        and not config.attention_bias
        and not getattr(config, "mlp_bias", False)
        and config.num_key_value_heads == config.num_attention_heads
        and getattr(config, "head_dim", config.hidden_size // config.num_attention_heads) * config.num_attention_heads == config.hidden_size
        and getattr(config, "pretraining_tp", 1) == 1
    )


class KVCache:
    """Keys and values of every layer for ``batch`` sequences of up to ``length`` tokens."""

    def __init__(
        self, n_layer: int, batch: int, n_head: int, length: int, head_dim: int, dtype: torch.dtype, workspace: dict | None = None
    ):
        shape = (2, n_layer, batch, n_head, length, head_dim)
        store = _buffer(shape, dtype, workspace)
        self.keys, self.values = list(store[0]), list(store[1])
        # valid[b, t]: position t of sequence b holds a real token (not left padding, not yet to be written)
        self.valid = torch.zeros(batch, length, dtype=torch.bool)

    def copy_rows(self, rows: torch.Tensor, filled: int, into: KVCache) -> KVCache:
        """Fill ``into`` with ``rows`` of this cache (their first ``filled`` positions)."""
        for targets, sources in ((into.keys, self.keys), (into.values, self.values)):
            for target, source in zip(targets, sources):
                target[:, :, :filled] = source[rows, :, :filled]
        into.valid[:, :filled] = self.valid[rows, :filled]
        return into

    def keep(self, live: torch.Tensor, filled: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Keep only the rows where ``live`` is true, in place, as the first ``live.sum()`` rows.

        Live rows past the end are moved into the slots of dead rows before it, so only
        those few rows are copied (their first ``filled`` positions). Returns the moved
        rows' (targets, sources), for the caller to move its own per-row state alike.
        """
        n = int(live.sum())
        targets = (~live[:n]).nonzero().squeeze(1)
        sources = live[n:].nonzero().squeeze(1) + n
        for tensors in (self.keys, self.values):
            for i, tensor in enumerate(tensors):
                if len(targets):
                    tensor[targets, :, :filled] = tensor[sources, :, :filled]
                tensors[i] = tensor[:n]
        if len(targets):
            self.valid[targets] = self.valid[sources]
        self.valid = self.valid[:n]
        return targets, sources


KEEP_WORKSPACE_BYTES = 256 * 2**20


def _buffer(shape: tuple[int, ...], dtype: torch.dtype, workspace: dict | None) -> torch.Tensor:
    """An uninitialised tensor of ``shape``, carved from ``workspace["kv"]`` when it is large
    enough. Reusing memory matters: fresh pages cost the kernel a fault each on first touch,
    which for a 256-sequence cache takes as long as a decoding step."""
    size = math.prod(shape)
    held = None if workspace is None else workspace.get("kv")
    if held is not None and held.numel() >= size and held.dtype == dtype:
        return held[:size].view(shape)
    fresh = torch.empty(size, dtype=dtype)
    if workspace is not None and size * fresh.element_size() <= KEEP_WORKSPACE_BYTES:
        workspace["kv"] = fresh
    return fresh.view(shape)


USE_ONEDNN = True  # tests switch this off to compare the two ways of multiplying
ONEDNN_FROM_ROWS = 16  # below this many rows plain F.linear is quicker


class Linear:
    """``x @ weightᵀ``, with the operation that follows fused in (SiLU, a product, a residual sum).

    It runs on oneDNN's kernels with the weight packed once, where this torch build has them
    (on this project's x86 machine they are twice as fast as the default BLAS at decoding's
    sizes, with the same results to rounding); otherwise, and for a handful of rows, on plain
    `F.linear`.
    """

    def __init__(self, weight: torch.Tensor):
        self.weight = weight.detach()
        self.packed = _pack(self.weight) if USE_ONEDNN else None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.packed is None or len(x) < ONEDNN_FROM_ROWS:
            return F.linear(x, self.weight)
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, None, "none", [], "")

    def silu(self, x: torch.Tensor) -> torch.Tensor:
        """SiLU(x @ weightᵀ)"""
        if self.packed is None or len(x) < ONEDNN_FROM_ROWS:
            return F.silu(F.linear(x, self.weight))
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, None, "swish", [], "")

    def times(self, x: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        """(x @ weightᵀ) * other"""
        if self.packed is None or len(x) < ONEDNN_FROM_ROWS:
            return F.linear(x, self.weight).mul_(other)
        return torch.ops.mkldnn._linear_pointwise.binary(x, other, self.packed, None, "mul")

    def plus(self, x: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        """x @ weightᵀ + other"""
        if self.packed is None or len(x) < ONEDNN_FROM_ROWS:
            return torch.addmm(other, x, self.weight.t())
        return torch.ops.mkldnn._linear_pointwise.binary(x, other, self.packed, None, "add")


def _pack(weight: torch.Tensor) -> torch.Tensor | None:
    """The weight packed for oneDNN, or None where oneDNN is missing or disagrees with F.linear."""
    if weight.dtype != torch.float32 or weight.device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return None
    try:
        packed = torch.ops.mkldnn._reorder_linear_weight(weight)
        probe = torch.randn(3, weight.shape[1], generator=torch.Generator().manual_seed(0))
        fused = torch.ops.mkldnn._linear_pointwise(probe, packed, None, "none", [], "")
        return packed if torch.allclose(fused, F.linear(probe, weight), atol=1e-5, rtol=1e-5) else None
    except (AttributeError, RuntimeError):
        return None


@dataclass(frozen=True)
class Block:
    """One decoder layer's weights: RMS-norm scales and the linear maps."""

    norm1: torch.Tensor
    qkv: Linear
    out: Linear
    norm2: torch.Tensor
    gate: Linear
    up: Linear
    down: Linear


class LeanLlama:
    """The forward pass of a `LlamaForCausalLM`, written for batched incremental decoding."""

    def __init__(self, model):
        config = model.config
        layers = model.model.layers
        self.n_head = config.num_attention_heads
        self.head_dim = config.hidden_size // self.n_head
        self.n_layer = len(layers)
        self.eps = config.rms_norm_eps
        self.scale = self.head_dim**-0.5
        self.dtype = model.model.embed_tokens.weight.dtype
        self.embed = model.model.embed_tokens.weight
        # a causal LM's vocabulary head, or a token classifier's value head (with its bias)
        head = model.lm_head if hasattr(model, "lm_head") else model.score
        self.head, self.head_bias = head.weight, head.bias
        self.norm = model.model.norm.weight
        self.blocks = []
        for layer in layers:
            attn, mlp = layer.self_attn, layer.mlp
            qkv = torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight]).detach()
            self.blocks.append(
                Block(
                    norm1=layer.input_layernorm.weight,
                    qkv=Linear(qkv),
                    out=Linear(attn.o_proj.weight),
                    norm2=layer.post_attention_layernorm.weight,
                    gate=Linear(mlp.gate_proj.weight),
                    up=Linear(mlp.up_proj.weight),
                    down=Linear(mlp.down_proj.weight),
                )
            )
        rope = getattr(config, "rope_parameters", None) or {}
        theta = rope.get("rope_theta", getattr(config, "rope_theta", 10000.0))
        max_len = config.max_position_embeddings
        inv_freq = 1.0 / (theta ** (torch.arange(0, self.head_dim, 2, dtype=torch.int64).float() / self.head_dim))
        angles = torch.arange(max_len).float()[:, None] * inv_freq[None, :]
        angles = torch.cat([angles, angles], dim=-1)  # [max_len, head_dim], as `transformers` lays it out
        self.cos, self.sin = angles.cos().to(self.dtype), angles.sin().to(self.dtype)

    def new_cache(self, batch: int, length: int, workspace: dict | None = None) -> KVCache:
        return KVCache(self.n_layer, batch, self.n_head, length, self.head_dim, self.dtype, workspace)

    def _rms(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, weight.shape, weight, self.eps)

    def _rotate(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        # rotary embedding: each pair (x_i, x_{i+d/2}) is turned by the angle of its position
        half = x.shape[-1] // 2
        rotated = torch.cat([x[..., half:], x[..., :half]], dim=-1)
        rotated[..., :half].neg_()
        return rotated.mul_(sin).addcmul_(x, cos)

    @torch.inference_mode()
    def forward(
        self,
        ids: torch.Tensor,
        positions: torch.Tensor,
        cache: KVCache,
        start: int,
        *,
        every_position: bool = False,
        inputs: torch.Tensor | None = None,
        return_hidden: bool = False,
    ):
        """Logits of the last token of each row (of every token with ``every_position``) after
        writing ``ids`` (batch × length) into the cache at positions ``start …``;
        ``positions`` are the rotary positions of ``ids``.

        ``inputs`` (batch × length × width) replaces the embedding of ``ids``: the hidden
        states another model's layers computed, for a model that is the top of a shared
        trunk. With ``return_hidden`` the hidden states after the last layer (before the final
        norm) come back too, for the layers on top: (logits, hidden).

        Attention reads every valid cache slot up to the current one (causal), so left
        padding, marked invalid in ``cache.valid``, is never attended to.
        """
        batch, length = ids.shape
        if length == 1 and not every_position and inputs is None:
            logits, x = self._decode(ids[:, 0], positions[:, 0], cache, start)
            return (logits, x[:, None]) if return_hidden else logits
        end = start + length
        x = F.embedding(ids, self.embed) if inputs is None else inputs
        cos, sin = self.cos[positions][:, :, None, None], self.sin[positions][:, :, None, None]  # [B, L, 1, 1, hd]
        mask = cache.valid[:, None, None, :end]  # [B, 1, 1, end]
        if length > 1:
            mask = mask & torch.ones(length, end, dtype=torch.bool).tril(start)  # causal
            mask |= _diagonal(length, end, start)  # a padding query sees itself: no empty row
        for layer, block in enumerate(self.blocks):
            qkv = F.linear(self._rms(x, block.norm1), block.qkv.weight).view(batch, length, 3, self.n_head, self.head_dim)
            qk = self._rotate(qkv[:, :, :2], cos, sin).permute(2, 0, 3, 1, 4)  # [2, B, H, L, hd]
            q, k, v = qk[0], qk[1], qkv[:, :, 2].transpose(1, 2)
            cache.keys[layer][:, :, start:end] = k
            cache.values[layer][:, :, start:end] = v
            keys, values = cache.keys[layer][:, :, :end], cache.values[layer][:, :, :end]
            attended = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
            x = x + F.linear(attended.transpose(1, 2).reshape(batch, length, -1), block.out.weight)
            h = self._rms(x, block.norm2)
            x = x + F.linear(F.silu(F.linear(h, block.gate.weight)) * F.linear(h, block.up.weight), block.down.weight)
        logits = F.linear(self._rms(x if every_position else x[:, -1], self.norm), self.head, self.head_bias)
        return (logits, x) if return_hidden else logits

    def _decode(self, ids: torch.Tensor, positions: torch.Tensor, cache: KVCache, start: int) -> tuple[torch.Tensor, torch.Tensor]:
        """`forward` for one new token per row, the step decoding repeats: activations stay
        two-dimensional, SiLU, the gate product and the residual sums ride on the matrix
        products (`Linear`), and the padding mask on the attention scores (baddbmm).
        Returns the logits and the hidden states after the last layer."""
        batch, n_head, head_dim = ids.shape[0], self.n_head, self.head_dim
        end = start + 1
        x = F.embedding(ids, self.embed)  # [B, d]
        cos, sin = self.cos[positions][:, None, None], self.sin[positions][:, None, None]  # [B, 1, 1, hd]
        # 0 where a row may attend, -inf on its left padding; one [B·H, 1, end] bias for all layers
        bias = torch.zeros(batch, 1, end).masked_fill_(~cache.valid[:, None, :end], float("-inf"))
        bias = bias.repeat_interleave(n_head, dim=0)
        for layer, block in enumerate(self.blocks):
            qkv = block.qkv(self._rms(x, block.norm1)).view(batch, 3, n_head, head_dim)
            qk = self._rotate(qkv[:, :2], cos, sin)  # [B, 2, H, hd]
            cache.keys[layer][:, :, start] = qk[:, 1]
            cache.values[layer][:, :, start] = qkv[:, 2]
            keys = cache.keys[layer][:, :, :end].reshape(batch * n_head, end, head_dim)  # a view, no copy
            values = cache.values[layer][:, :, :end].reshape(batch * n_head, end, head_dim)
            q = qk[:, 0].reshape(batch * n_head, 1, head_dim)
            scores = torch.baddbmm(bias, q, keys.transpose(1, 2), alpha=self.scale)
            attended = torch.bmm(scores.softmax(-1), values).view(batch, n_head * head_dim)
            x = block.out.plus(attended, x)
            h = self._rms(x, block.norm2)
            x = block.down.plus(block.up.times(h, block.gate.silu(h)), x)
        return F.linear(self._rms(x, self.norm), self.head, self.head_bias), x


def _diagonal(n: int, m: int, offset: int) -> torch.Tensor:
    """Boolean n × m matrix, true on the diagonal shifted right by ``offset``."""
    return torch.arange(m)[None, :] == torch.arange(n)[:, None] + offset


def sample_rows(
    lean: LeanLlama,
    prompts: list[list[int]],
    copies: list[int],
    *,
    temperature: float,
    top_p: float = 1.0,
    top_k: int = 0,
    min_p: float = 0.0,
    max_new_tokens: int,
    generator: torch.Generator,
    stop_ids: torch.Tensor,
    pad: int,
    workspace: dict | None = None,
    store: PrefixStore | None = None,
    limits: list[int] | None = None,
    uniforms: torch.Tensor | None = None,
    check_ids: torch.Tensor | None = None,
    check: Callable[[list[int]], bool] | None = None,
    stop_after: int | None = None,
    top_logprobs: int = 0,
    confidence_stop: tuple[int, float] | None = None,
) -> Sampled:
    """``copies[i]`` continuations of prompt ``i`` (token ids, prompt-major), each ending at its
    first stop token or after ``max_new_tokens``; with each token's log-probability at
    temperature 1, and how many tokens of each prompt came from ``store`` (a `Sampled`).

    Each prompt is read once; its cache is copied to each of its samples. Finished sequences
    leave the batch as they end (up to the next multiple of 16 rows), so late steps compute
    only what is still being written.

    With a ``store``, a prompt that extends a stored sequence takes that sequence's keys and
    values from it and computes only the rest: the prompts are left-padded to one width as
    always, and only the last ``R`` positions are computed, ``R`` being the longest rest
    (for a prompt with a shorter rest a few stored positions are computed again). Every
    completion that ends at a stop token is then stored with its prompt: the next step of a
    search starts from exactly such a sequence.

    ``limits`` (one per output sequence) caps each sequence's length below
    ``max_new_tokens`` (a long prompt leaves less of the context). ``uniforms`` (one row of
    ``max_new_tokens`` numbers in (0, 1] per output sequence) makes each sequence draw its
    tokens from its own stream instead of ``generator`` (see `draw_tokens`). A token in
    ``check_ids`` ends a sequence only if ``check`` of the sequence's tokens so far says so
    (a stop string matched on the decoded text, `tsc.lm.stops`).

    With ``stop_after`` = m, a
    prompt's sequences stop once m of them have ended at a stop token: the others are cut
    at that step (what they wrote so far is kept), as an engine that waits only for the
    first m answers would (short-m@k, `tsc.strategies.short_m_at_k`).

    ``top_logprobs=k`` also keeps the k largest log-probabilities at every step.
    ``confidence_stop=(window, threshold)`` ends a sequence once the mean confidence of its
    last ``window`` tokens is below ``threshold`` (one, or one per prompt), with exactly the arithmetic of
    `tsc.core.confidence_cut` (a running float64 sum, the top values added left to right), so
    a replay of stored top log-probabilities cuts where the sampler did.
    """
    found = [store.longest(p) for p in prompts] if store is not None else [(0, None)] * len(prompts)
    cache, logits, hidden, fresh, width = prefill(lean, prompts, found, pad=pad)
    reused = [len(p) - n for p, n in zip(prompts, fresh)]  # what was really not computed
    if store is not None:
        # every prompt's hidden states after the last layer: stored ones, then the window's; the
        # stored sequences carry them for a reward model built on this model's layers
        prompt_hidden = [joined(e and e[2], hidden[i], n, len(p)) for i, (p, (_, e), n) in enumerate(zip(prompts, found, fresh))]
        written_hidden = hidden.new_zeros(sum(copies) + 1, max_new_tokens, hidden.shape[-1])  # row `total` is the sink
    repeats = torch.tensor(copies)
    owner = torch.arange(len(prompts)).repeat_interleave(repeats)
    total = len(owner)
    logits, position = logits[owner], torch.tensor([len(p) for p in prompts]).repeat_interleave(repeats)
    cache = cache.copy_rows(owner, width, lean.new_cache(total, width + max_new_tokens, workspace))
    # rows[i]: the output sequence batch row i writes; a finished row that stays in the batch
    # to fill it up to a bucket size writes to the extra sequence `total`, which is dropped
    rows = torch.arange(total)
    out = torch.full((total + 1, max_new_tokens), pad, dtype=torch.long)
    counts = torch.zeros(total + 1, dtype=torch.long)
    written_logprobs = torch.zeros(total + 1, max_new_tokens, dtype=torch.float64)
    k = min(top_logprobs, logits.shape[-1])
    top_out = torch.zeros(total + 1, max_new_tokens, k) if k else None
    if confidence_stop is not None:
        window, threshold = confidence_stop  # one threshold, or one per prompt
        per_prompt = list(threshold) if isinstance(threshold, (list, tuple)) else [threshold] * len(prompts)
        confidence = ConfidenceCut(window, [per_prompt[i] for i in owner.tolist()] + [0.0], max_new_tokens)
    limit = torch.tensor(list(limits or [max_new_tokens] * total) + [max_new_tokens + 1])
    if uniforms is not None:
        uniforms = torch.cat([uniforms, torch.ones(1, uniforms.shape[1])])  # the sink row draws too
    is_stop = id_mask(stop_ids, logits.shape[-1])
    to_check = id_mask(check_ids if check is not None else None, logits.shape[-1])
    finished = torch.zeros(len(prompts), dtype=torch.long)  # per prompt: sequences ended at a stop so far
    for step in range(max_new_tokens):
        log_probs = torch.log_softmax(logits, dim=-1)
        if temperature == 0:
            token = logits.argmax(-1)
        else:
            probs = log_probs.exp() if temperature == 1 else torch.softmax(logits / temperature, dim=-1)
            probs = filter_probs(probs, top_k=top_k, top_p=top_p, min_p=min_p)
            token = draw_tokens(probs, generator, None if uniforms is None else uniforms[rows, step])
        out[rows, step] = token
        written_logprobs[rows, step] = log_probs.gather(1, token[:, None]).squeeze(1).double()
        counts[rows] += 1
        ended = is_stop[token]
        for b in (to_check[token] & (rows < total)).nonzero().squeeze(1).tolist():  # a stop string across tokens?
            ended[b] = check(out[rows[b], : step + 1].tolist())
        if k:
            top = log_probs.topk(k, dim=-1).values
            top_out[rows, step] = top
            if confidence_stop is not None:  # a sequence that goes on may be cut
                confidence.update(rows, step, top, ~ended & (counts[rows] < limit[rows]) & (rows < total))
        if store is not None:  # keep each sequence that ends here: its keys and values run to the token before the stop
            for b in (ended & (rows < total)).nonzero().squeeze(1).tolist():
                prompt_index = int(owner[rows[b]])
                prompt = prompts[prompt_index]
                written = out[rows[b], :step].tolist()
                states = torch.cat([prompt_hidden[prompt_index], written_hidden[rows[b], :step]])
                store.add(prompt + written, *stored_kv(cache, b, width - len(prompt), width + step), states)
        if stop_after is not None:  # a prompt whose first `stop_after` sequences have ended stops the rest
            just = rows[ended & (rows < total)]
            finished.index_add_(0, owner[just], torch.ones(len(just), dtype=torch.long))
            ended = ended | ((finished >= stop_after)[owner[rows.clamp(max=total - 1)]] & (rows < total))
        if confidence_stop is not None:
            ended = ended | confidence.cut[rows]
        rows = rows.masked_fill(ended | (counts[rows] >= limit[rows]), total)
        live = rows < total
        n_live = int(live.sum())
        if n_live == 0 or step == max_new_tokens - 1:
            break
        filled = width + step
        size = _bucket(n_live)
        if size < len(rows):  # drop finished rows, keeping a few to fill the bucket
            keep = live.clone()
            keep[(~live).nonzero().squeeze(1)[: size - n_live]] = True
            targets, sources = cache.keep(keep, filled)
            for state in (rows, token, position):
                state[targets] = state[sources]
            rows, token, position = rows[:size], token[:size], position[:size]
        cache.valid[:, filled] = True
        if store is None:
            logits = lean.forward(token[:, None], position[:, None], cache, filled)
        else:
            logits, hidden = lean.forward(token[:, None], position[:, None], cache, filled, return_hidden=True)
            written_hidden[rows, step] = hidden[:, 0]
        position = position + 1
    tops = None if top_out is None else top_out[:total]
    tokens, token_logprobs, tops = trimmed(counts[:total].tolist(), out[:total], written_logprobs[:total], tops)
    return Sampled(tokens, token_logprobs, reused, tops, None if confidence_stop is None else confidence.cut[:total].tolist())


class ConfidenceCut:
    """DeepConf's online cut over a batch of sequences (row ``b`` cut below ``thresholds[b]``):
    each row's token confidences and the running float64 sum of its last ``window``, with
    exactly the arithmetic of `tsc.core.confidence_cut` (the top values added left to right),
    so a replay of stored top log-probabilities cuts where a sampler did."""

    def __init__(self, window: int, thresholds: list[float], length: int):
        self.window = window
        self.below = torch.tensor([t - CUT_MARGIN for t in thresholds], dtype=torch.float64)
        self.confidences = torch.zeros(len(thresholds), length, dtype=torch.float64)
        self.running = torch.zeros(len(thresholds), dtype=torch.float64)
        self.cut = torch.zeros(len(thresholds), dtype=torch.bool)

    def update(self, rows: torch.Tensor, step: int, top: torch.Tensor, going: torch.Tensor) -> None:
        """Add the confidence of the token each of ``rows`` wrote at ``step`` (``top``: its k
        largest log-probabilities) and cut the ``going`` ones whose full window falls below."""
        total = top[:, 0].double()
        for j in range(1, top.shape[1]):
            total = total + top[:, j].double()
        confidence = -total / top.shape[1]  # `tsc.core.token_confidence`
        self.confidences[rows, step] = confidence
        dropped = self.running[rows] - self.confidences[rows, step - self.window] if step >= self.window else self.running[rows]
        self.running[rows] = dropped + confidence
        if step + 1 >= self.window:
            self.cut[rows] |= (self.running[rows] / self.window < self.below[rows]) & going


def id_mask(ids: torch.Tensor | None, size: int, device=None) -> torch.Tensor:
    """A boolean vector over the vocabulary, true at ``ids`` (None: nowhere)."""
    mask = torch.zeros(size, dtype=torch.bool, device=device)
    if ids is not None:
        mask[ids.to(mask.device)] = True
    return mask


def trimmed(lengths: list[int], *tables: torch.Tensor | None) -> list:
    """Each table's rows (one per sequence) cut to the sequence's length, as lists (None stays None)."""
    return [None if table is None else [row[:n] for row, n in zip(table.tolist(), lengths)] for table in tables]


class Sampled(NamedTuple):
    """What `sample_rows` wrote: per output sequence its token ids and each token's
    log-probability at temperature 1; per prompt the tokens taken from the prefix store; with
    ``top_logprobs``, each token's k largest log-probabilities; with ``confidence_stop``,
    whether each sequence was cut by it."""

    tokens: list[list[int]]
    token_logprobs: list[list[float]]
    reused: list[int]
    top_logprobs: list[list[list[float]]] | None = None
    cut: list[bool] | None = None


def prefill(
    lean: LeanLlama,
    rows: list[list[int]],
    found: list,
    *,
    pad: int,
    inputs: list[torch.Tensor] | None = None,
    every_position: bool = False,
):
    """Run ``rows`` (token ids) through ``lean``, taking each row's first ``found[i][0]``
    positions' keys and values from its stored entry ``found[i][1]`` (None: nothing stored):
    the rows are left-padded to one width and only the last ``R`` positions are computed,
    ``R`` being the longest rest (a row with a shorter rest has a few stored positions
    computed again). ``inputs``: each row's input vectors at every position, instead of its
    tokens' embeddings. Returns the cache, the window's outputs (the last position's, or
    every position's) and hidden states, each row's number of positions computed (the last
    ones), and the width."""
    width = max(len(r) for r in rows)
    cache = lean.new_cache(len(rows), width)
    padded = pad_rows(rows, pad, left=True)
    ids, cache.valid[:] = padded["input_ids"], padded["attention_mask"].bool()
    positions = (cache.valid.long().cumsum(-1) - 1).clamp(min=0)
    start = width - max(len(r) - kept for r, (kept, _) in zip(rows, found))
    if start > 0:  # padding the window skips is never written: zero it, as 0 * NaN is NaN
        for layer in range(lean.n_layer):
            cache.keys[layer].zero_()
            cache.values[layer].zero_()
    for i, (row, (kept, entry)) in enumerate(zip(rows, found)):
        if entry is not None:
            first = width - len(row)
            for layer in range(lean.n_layer):
                cache.keys[layer][i, :, first : first + kept] = entry[0][layer]
                cache.values[layer][i, :, first : first + kept] = entry[1][layer]
    fresh = [min(len(r), width - start) for r in rows]
    window = None
    if inputs is not None:
        window = torch.zeros(len(rows), width - start, inputs[0].shape[-1], dtype=inputs[0].dtype)
        for i, (row, n) in enumerate(zip(rows, fresh)):
            window[i, width - start - n :] = inputs[i][len(row) - n :]
    outputs, hidden = lean.forward(
        ids[:, start:], positions[:, start:], cache, start, every_position=every_position, inputs=window, return_hidden=True
    )
    return cache, outputs, hidden, fresh, width


def joined(stored: torch.Tensor | None, computed: torch.Tensor, n: int, length: int) -> torch.Tensor:
    """One row's values at all ``length`` positions: the first ``length - n`` from its stored
    entry, the last ``n`` from ``computed``, its row of the window."""
    before = stored[: length - n] if stored is not None else computed.new_zeros(0, computed.shape[-1])
    return torch.cat([before, computed[computed.shape[0] - n :]])


def stored_kv(cache: KVCache, row: int, first: int, end: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row ``row``'s keys and values at positions ``first … end-1``, every layer stacked."""
    keys = torch.stack([k[row, :, first:end] for k in cache.keys])
    values = torch.stack([v[row, :, first:end] for v in cache.values])
    return keys, values


BUCKET = 16


def _bucket(rows: int) -> int:
    """The batch size to decode ``rows`` live sequences with: the next multiple of 16.

    oneDNN builds (and caches) a kernel for each batch size it sees; rounding keeps that to a
    few dozen sizes, for at most 15 finished rows computed in vain."""
    return -(-rows // BUCKET) * BUCKET


def draw_tokens(probs: torch.Tensor, generator: torch.Generator, uniforms: torch.Tensor | None = None) -> torch.Tensor:
    """One token per row from (unnormalised) ``probs``.

    Without ``uniforms`` every row draws from the one shared ``generator``
    (`torch.multinomial`), so what a row draws depends on the rows drawn before it. With
    ``uniforms`` (one number in (0, 1] per row) a row takes the token where its number falls
    on the cumulative distribution (inverse transform sampling): a row's draws then depend on
    its own stream alone, whatever else is in the batch.
    """
    if uniforms is None:
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)
    cdf = probs.cumsum(-1)
    below = cdf < (uniforms.to(cdf.device, cdf.dtype) * cdf[:, -1])[:, None]  # a zero-probability token never takes the draw
    return below.sum(-1).clamp_(max=probs.shape[-1] - 1)


def filter_probs(probs: torch.Tensor, *, top_k: int = 0, top_p: float = 1.0, min_p: float = 0.0) -> torch.Tensor:
    """The next-token distribution after the truncation rules, in the order `transformers`
    applies them (each on what the one before left): top-k keeps the ``top_k`` most likely
    tokens (0: all); top-p the smallest set whose probability reaches ``top_p`` (Holtzman et
    al. 2020); min-p drops tokens less likely than ``min_p`` times the most likely one (Nguyen
    et al. 2024). Unnormalised: `torch.multinomial` divides by the sum."""
    if top_k and top_k < probs.shape[-1]:
        kth = probs.topk(top_k, dim=-1).values[..., -1:]
        probs = probs.masked_fill(probs < kth, 0.0)
    if top_p < 1:
        probs = top_p_filter(probs / probs.sum(-1, keepdim=True), top_p)
    if min_p > 0:
        probs = probs.masked_fill(probs < min_p * probs.amax(-1, keepdim=True), 0.0)
    return probs


def top_p_filter(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Nucleus filtering: keep the smallest set of tokens whose probability reaches top_p."""
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    before = sorted_probs.cumsum(-1) - sorted_probs  # mass of the tokens ranked above
    sorted_probs[before >= top_p] = 0.0
    return torch.zeros_like(probs).scatter(-1, order, sorted_probs)
