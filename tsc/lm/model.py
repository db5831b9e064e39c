"""Model shapes: a Llama-style decoder from `transformers`, configured by one small dataclass."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from transformers import LlamaConfig, LlamaForCausalLM


@dataclass(frozen=True)
class ModelShape:
    """The knobs that set a model's size. ``d_model`` must divide by ``n_head``."""

    d_model: int = 128
    n_layer: int = 4
    n_head: int = 4
    d_ff: int = 512
    max_len: int = 96

    def to_dict(self) -> dict:
        return asdict(self)


def build_model(shape: ModelShape, tokenizer, *, seed: int = 0) -> LlamaForCausalLM:
    """A freshly initialised Llama model of ``shape`` over ``tokenizer``'s vocabulary."""
    import torch

    if shape.d_model % shape.n_head:
        raise ValueError(f"d_model={shape.d_model} must be divisible by n_head={shape.n_head}")
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=shape.d_model,
        intermediate_size=shape.d_ff,
        num_hidden_layers=shape.n_layer,
        num_attention_heads=shape.n_head,
        num_key_value_heads=shape.n_head,
        max_position_embeddings=shape.max_len,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        attn_implementation="sdpa",
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)
