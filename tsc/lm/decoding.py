"""From logits to a choice: the next-token distribution of a prompt, and what the sampling
knobs do to it.

A language model's forward pass ends in one number per vocabulary entry, the *logits*. The
sampler turns them into probabilities with a softmax, divides the logits by the
``temperature`` first (below 1 sharpens, above 1 flattens), and then the truncation rules
(top-k, top-p, min-p; `tsc.lm.fast.filter_probs`, the one implementation both samplers use)
remove unlikely tokens before one is drawn. Chapter 3 looks at each step on the bundled
models; `tsc.viz.decoding.next_token_explorer` puts them behind sliders.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tsc.core import check_sampling
from tsc.lm.fast import filter_probs, pad_rows


@torch.no_grad()
def next_token_logits(policy, texts: list[str]) -> torch.Tensor:
    """The logits of the token that follows each of ``texts`` (prompt plus any prefix of a
    completion), shape [len(texts), vocabulary], from the policy's `transformers` model."""
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings; wrap a single text in a list")
    if not texts:
        raise ValueError("texts is empty: pass at least one prompt")
    rows = policy.encode(list(texts))
    longest = max(map(len, rows))
    if longest > policy.max_len:
        raise ValueError(f"a text of {longest} tokens does not fit {policy.name}'s context of {policy.max_len} tokens")
    pad = policy.tokenizer.pad_token_id if policy.tokenizer.pad_token_id is not None else 0
    ids, mask = pad_rows(rows, pad, left=True).values()
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return policy.model(input_ids=ids, attention_mask=mask, position_ids=positions).logits[:, -1].float()


def reshape(logits: torch.Tensor, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, min_p: float = 0.0) -> torch.Tensor:
    """The distribution the sampler draws from, given the logits (any leading shape): the
    softmax of ``logits / temperature``, truncated by top-k, then top-p, then min-p, and
    renormalised. Temperature 0 is greedy decoding: all mass on the most likely token."""
    check_sampling(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p)
    logits = torch.as_tensor(logits, dtype=torch.float32)
    if temperature == 0:
        return torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).float()
    probs = filter_probs(torch.softmax(logits / temperature, dim=-1), top_k=top_k, top_p=top_p, min_p=min_p)
    return probs / probs.sum(-1, keepdim=True)


@dataclass(frozen=True)
class Candidate:
    """One possible next token: its text, its probability as the model gives it (temperature
    1, nothing removed) and after the knobs (0.0 when a truncation rule removed it)."""

    token: str
    model: float
    sampled: float


def candidates(
    policy,
    text: str,
    *,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    min_p: float = 0.0,
    show: int = 8,
) -> list[Candidate]:
    """The ``show`` most likely next tokens after ``text`` (the model's own ranking), each
    with its probability before and after the sampling knobs."""
    logits = next_token_logits(policy, [text])[0]
    model = torch.softmax(logits, dim=-1)
    sampled = reshape(logits, temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p)
    order = model.argsort(descending=True)[:show].tolist()
    return [Candidate(token_text(policy, i), float(model[i]), float(sampled[i])) for i in order]


def token_text(policy, token_id: int) -> str:
    """How a token reads: its characters, or its name for a special token (``<eos>``)."""
    special = set(policy.tokenizer.all_special_ids)
    if token_id in special:
        return policy.tokenizer.convert_ids_to_tokens(int(token_id))
    return policy.tokenizer.decode([int(token_id)])


def entropy_bits(probs: torch.Tensor) -> torch.Tensor:
    """The entropy of each distribution (last axis) in bits: 0 for a certain choice, log2(k)
    for k equally likely tokens."""
    probs = torch.as_tensor(probs, dtype=torch.float64)
    logs = torch.where(probs > 0, probs.log2(), torch.zeros_like(probs))
    return -(probs * logs).sum(-1)


@torch.no_grad()
def completion_entropies(policy, prompt: str, completion: str) -> torch.Tensor:
    """The entropy in bits (temperature 1) of the distribution each token of ``completion``
    was drawn from, after ``prompt`` and the completion's earlier tokens: one forward pass
    over both. Where it is high the model could have written something else: the *forking*
    positions of a chain of thought."""
    [prompt_ids] = policy.encode([prompt])
    [both] = policy.encode([prompt + completion])
    if both[: len(prompt_ids)] != prompt_ids:
        raise ValueError("the prompt's tokens change when the completion follows it; pass a prompt that ends at a token boundary")
    if len(both) > policy.max_len:
        raise ValueError(f"prompt and completion take {len(both)} tokens, more than {policy.name}'s context of {policy.max_len}")
    logits = policy.model(input_ids=torch.tensor([both])).logits[0, len(prompt_ids) - 1 : -1].float()
    return entropy_bits(logits.softmax(-1))
