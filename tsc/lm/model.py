"""Model shapes: a Llama-style decoder from `transformers`, configured by one small dataclass."""

from __future__ import annotations

from transformers import LlamaConfig, LlamaForCausalLM

from tsc.lm.recipes import ModelShape


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
