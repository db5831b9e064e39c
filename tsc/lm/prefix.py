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

from tsc.lm.fast import LeanLlama, joined, prefill, stored_kv


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
