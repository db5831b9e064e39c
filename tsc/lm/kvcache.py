"""What a long chain of thought costs: the key/value cache, its memory, and time per token.

To write token ``t`` a decoder attends over the keys and values of all ``t`` tokens before it,
in every layer. Computing them again at every step (no cache) repeats all the work on the
prefix; keeping them (the *KV cache*) makes each step compute one new token, at the price of
memory: ``2 × n_layer × n_kv_head × head_dim`` values per token (a key and a value per layer;
with ordinary multi-head attention ``n_kv_head × head_dim`` is the model width, so
``2 × n_layer × d_model``). Grouped-query attention (Ainslie et al. 2023) lets several query
heads share one key/value head and stores fewer values.

`values_per_token` and `cache_bytes` count the memory; `time_per_token` and `chain_seconds`
measure, on this machine, a decoding step with and without the cache, using the lean decoder
of `tsc.lm.fast` (bundled Llama-style models).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from tsc.compute import forward_flops
from tsc.lm.fast import LeanLlama, supports


@dataclass(frozen=True)
class Shape:
    """What sets a decoder's cache size: layers, width, query heads, key/value heads and the
    size of one head (``d_model / n_head`` unless the model says otherwise)."""

    name: str
    n_layer: int
    d_model: int
    n_head: int
    n_kv_head: int
    head_dim: int
    source: str = ""

    @property
    def values_per_token(self) -> int:
        return values_per_token(self.n_layer, self.n_kv_head, self.head_dim)


# Published configurations of open models, as the config.json files of their released weights
# give them (checked against several consistent copies; `source` is the model's paper in
# book/references.bib). Llama 2 7B uses ordinary multi-head attention; the others grouped-query
# attention with 8 key/value heads.
PUBLISHED = (
    Shape("Llama 2 7B", 32, 4096, 32, 32, 128, "Touvron2023llama2"),
    Shape("Mistral 7B", 32, 4096, 32, 8, 128, "Jiang2023mistral"),
    Shape("Llama 3 8B", 32, 4096, 32, 8, 128, "Dubey2024llama3"),
    Shape("Llama 3 70B", 80, 8192, 64, 8, 128, "Dubey2024llama3"),
)


def values_per_token(n_layer: int, n_kv_head: int, head_dim: int) -> int:
    """Numbers stored per token: a key and a value of ``n_kv_head × head_dim`` in each layer."""
    for name, value in (("n_layer", n_layer), ("n_kv_head", n_kv_head), ("head_dim", head_dim)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return 2 * int(n_layer) * int(n_kv_head) * int(head_dim)


def cache_bytes(shape: Shape, context: int, *, batch: int = 1, bytes_per_value: int = 2) -> int:
    """Bytes of cache for ``batch`` sequences of ``context`` tokens (2 bytes per value in
    16-bit floats, 4 in float32)."""
    if isinstance(context, bool) or not isinstance(context, (int, np.integer)) or context < 0:
        raise ValueError(f"context must be a non-negative integer, got {context!r}")
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    return shape.values_per_token * int(context) * int(batch) * int(bytes_per_value)


def shape_of(policy) -> Shape:
    """The cache shape of a loaded policy (its `transformers` config)."""
    config = policy.model.config
    n_head = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // n_head
    return Shape(
        policy.name,
        config.num_hidden_layers,
        config.hidden_size,
        n_head,
        getattr(config, "num_key_value_heads", None) or n_head,
        head_dim,
        "its config.json",
    )


def flops_without_cache(n_params: int, n_layer: int, d_model: int, prompt_len: int, gen_len: int) -> int:
    """FLOPs to generate ``gen_len`` tokens when every step reads the whole sequence again:
    the token after a sequence of ``L`` tokens costs a forward pass over all ``L``."""
    return sum(forward_flops(n_params, n_layer, d_model, length, 0) for length in range(prompt_len, prompt_len + gen_len))


def _lean(policy) -> LeanLlama:
    if not supports(policy.model):
        raise ValueError(f"{policy.name}: timing the cache needs a Llama-style model that tsc.lm.fast decodes (the bundled models are)")
    return LeanLlama(policy.model)


def _check_lengths(policy, lengths) -> list[int]:
    lengths = [int(n) for n in lengths]
    if not lengths or min(lengths) < 2 or max(lengths) > policy.max_len:
        raise ValueError(f"context lengths must be between 2 and {policy.name}'s context of {policy.max_len} tokens, got {lengths}")
    return lengths


def next_token_step(lean: LeanLlama, ids: torch.Tensor, *, cache: bool):
    """A function that computes the logits of the token after ``ids`` (batch × length), as a
    decoder does at that point of a chain: with the cache, only the last token is computed
    (the prefix's keys and values are computed here, once, beforehand); without it, the
    whole sequence is read again, every call."""
    batch, length = ids.shape
    positions = torch.arange(length).repeat(batch, 1)
    if cache:
        store = lean.new_cache(batch, length)
        store.valid[:] = True
        lean.forward(ids[:, :-1], positions[:, :-1], store, 0)  # the prefix, computed once
        return lambda: lean.forward(ids[:, -1:], positions[:, -1:], store, length - 1)

    def again():
        fresh = lean.new_cache(batch, length)
        fresh.valid[:] = True
        return lean.forward(ids, positions, fresh, 0)

    return again


def time_per_token(policy, lengths: list[int], *, cache: bool, batch: int = 1, repeats: int = 7, seed: int = 0) -> dict[str, np.ndarray]:
    """Seconds to compute the next token of ``batch`` sequences that already hold ``L`` tokens,
    for each ``L`` in ``lengths``: with the cache (one new token attends over the ``L - 1``
    stored keys and values) or without it (the whole sequence is read again). Each is timed
    ``repeats`` times after one warm-up run; returns, per length, the fastest run (``best``:
    what the step costs when nothing else slows it down), the median and the quartiles
    (``lengths``, ``best``, ``median``, ``low``, ``high``), so the spread of this machine shows.

    The tokens are random ids of the model's vocabulary: the time does not depend on them.
    """
    lean = _lean(policy)
    lengths = _check_lengths(policy, lengths)
    if repeats < 1 or batch < 1:
        raise ValueError(f"repeats and batch must be at least 1, got {repeats} and {batch}")
    generator = torch.Generator().manual_seed(seed)
    vocab = policy.model.config.vocab_size
    rows = []
    for length in lengths:
        step = next_token_step(lean, torch.randint(0, vocab, (batch, length), generator=generator), cache=cache)
        step()  # warm-up: kernels chosen, memory touched
        seconds = []
        for _ in range(repeats):
            started = time.perf_counter()
            step()
            seconds.append(time.perf_counter() - started)
        rows.append([min(seconds), *np.percentile(seconds, [50, 25, 75])])
    rows = np.array(rows)
    return {"lengths": np.array(lengths), "best": rows[:, 0], "median": rows[:, 1], "low": rows[:, 2], "high": rows[:, 3]}


def chain_seconds(policy, length: int, *, batch: int = 1, prompt_len: int = 1, repeats: int = 1, seed: int = 0) -> np.ndarray:
    """Seconds each step takes when ``batch`` sequences write a chain of ``length`` tokens
    with the cache, one token at a time after a prompt of ``prompt_len`` tokens: step ``i``
    reads the token at position ``prompt_len + i`` and attends over ``prompt_len + i + 1``
    tokens. With ``repeats`` > 1 the chain is written that many times and each step's fastest
    time is kept (a step that another program slowed down says nothing about the step). The
    cumulative sum is the wall time of the whole chain."""
    lean = _lean(policy)
    if length < 1 or prompt_len < 1 or repeats < 1:
        raise ValueError(f"length, prompt_len and repeats must be at least 1, got {length}, {prompt_len} and {repeats}")
    total = _check_lengths(policy, [prompt_len + length])[0]
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, policy.model.config.vocab_size, (batch, total), generator=generator)
    positions = torch.arange(total).repeat(batch, 1)
    store = lean.new_cache(batch, total)
    store.valid[:] = True
    lean.forward(ids[:, :prompt_len], positions[:, :prompt_len], store, 0)  # the prompt
    seconds = np.full(length, np.inf)
    for _ in range(repeats):
        for i in range(-1, length):  # step -1 is a warm-up, repeated as step 0
            at = prompt_len + max(i, 0)
            started = time.perf_counter()
            lean.forward(ids[:, at : at + 1], positions[:, at : at + 1], store, at)
            if i >= 0:
                seconds[i] = min(seconds[i], time.perf_counter() - started)
    return seconds
