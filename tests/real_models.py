"""Small random-weight models of real architectures, built without any download.

A byte-level BPE tokenizer is trained on the fly (`tokenizers`) on text like what the chat
prompts hold, so that its vocabulary has what a real one has: tokens that merely contain a
full stop, multi-character pieces, special tokens. Two architectures:

* Qwen2 (grouped-query attention, biases on q/k/v, a ChatML chat template, ``<|im_end|>``
  ending a turn): what `load_policy` sees for Qwen2/Qwen2.5 and friends;
* GPT-2 (learned positions, no chat template): a plain causal LM, put to with the ``text``
  prompt format.

The weights are random, so the answers are gibberish: the tests check the plumbing (prompts,
stop strings, devices, strategies, `solve`), not the answers.
"""

from __future__ import annotations

from pathlib import Path

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

CORPUS = [
    "Numbers: 13, 4, 7, 2. Target: 48.",
    "13 - 7 = 6\n6 * 4 = 24\n24 * 2 = 48\nAnswer: (13 - 7) * 4 * 2",
    "Evaluate: 7*8-13+6*4",
    "7 * 8 = 56\n6 * 4 = 24\n56 - 13 = 43\n43 + 24 = 67\nAnswer: 67",
    "You solve Countdown puzzles. Combine all of the given numbers, each exactly once, with +, -, * and / to reach the target.",
    "Sure! Let me think step by step. First, e.g. we try 3 + 5 = 8. The answer is 8.",
    "<think>I should try products first.</think> Answer: 12. End of answer.\n\nDone.",
] * 20


def train_tokenizer(special: list[str], chat_template: str | None, eos: str):
    """A byte-level BPE tokenizer of about 400 tokens, wrapped as a `PreTrainedTokenizerFast`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    backend.train_from_iterator(CORPUS, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=eos, pad_token=special[0])
    if chat_template:
        tokenizer.chat_template = chat_template
    return tokenizer


def build_qwen2(folder: Path, *, seed: int = 0) -> Path:
    """A random Qwen2 model (grouped-query attention) with a ChatML template, saved to ``folder``."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = train_tokenizer(["<|endoftext|>", "<|im_start|>", "<|im_end|>"], CHATML, eos="<|im_end|>")
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = [config.eos_token_id, config.pad_token_id]
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_gpt2(folder: Path, *, seed: int = 0) -> Path:
    """A random GPT-2 model (no chat template), saved to ``folder``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = train_tokenizer(["<|endoftext|>"], None, eos="<|endoftext|>")
    end = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    config = GPT2Config(vocab_size=len(tokenizer), n_embd=64, n_layer=2, n_head=4, n_positions=1024, bos_token_id=end, eos_token_id=end)
    torch.manual_seed(seed)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
