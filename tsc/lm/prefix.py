"""Prefix reuse: keys, values and hidden states of sequences already computed, kept so that
a later call extending one of them computes only its new tokens.

Tree search continues partial solutions that an earlier policy call wrote, and a reward
model built on the policy's own frozen layers scores texts the policy has just written.
`PrefixStore` keeps what was computed (the sampler fills it, `tsc.lm.fast.sample_rows`);
`values_reusing` and `trunk_states` are the reward model's side (`tsc.lm.reward`). A
strategy opts in through `tsc.strategies.reuse`; the ledger charges only what was computed.
"""

from __future__ import annotations

from collections import OrderedDict

import torch


class PrefixStore:
    """Keys and values of token sequences the sampler has already computed, so that a later
    prompt extending one of them computes only its new tokens.

    Tree search asks for the next step of a partial solution that an earlier call wrote: its
    keys and values exist already, and re-encoding them would pay twice for the shared
    prefix. Entries are whole sequences (a prompt, or a prompt plus a completion that ended at
    a stop token); the least recently used ones go once more than ``max_tokens`` tokens are
    kept.
    """

    def __init__(self, max_tokens: int = 50_000):
        self.max_tokens = max_tokens
        self.entries: OrderedDict[tuple[int, ...], tuple[torch.Tensor, ...]] = OrderedDict()
        self.tokens = 0

    def longest(self, ids: list[int]) -> tuple[int, tuple[torch.Tensor, ...] | None]:
        """The longest stored sequence that ``ids`` starts with and extends by at least one
        token (the logits of the last prompt token are always computed): (its length, its
        entry: keys and values [n_layer, n_head, length, head_dim], then whatever else was
        stored with them), or (0, None)."""
        for length in range(len(ids) - 1, 0, -1):
            entry = self.entries.get(tuple(ids[:length]))
            if entry is not None:
                self.entries.move_to_end(tuple(ids[:length]))
                return length, entry
        return 0, None

    def add(self, ids: list[int], *tensors: torch.Tensor) -> None:
        """Keep ``tensors`` (keys, values and, for a reward model, its value at every position)
        of the sequence ``ids``."""
        key = tuple(ids)
        if not key or key in self.entries or len(key) > self.max_tokens:
            return
        self.entries[key] = tuple(t.clone() for t in tensors)
        self.tokens += len(key)
        while self.tokens > self.max_tokens:
            old, _ = self.entries.popitem(last=False)
            self.tokens -= len(old)
