"""A character-level tokenizer that is an ordinary `transformers` tokenizer.

Built with the `tokenizers` library (one token per character), wrapped as a
`PreTrainedTokenizerFast`, so `save_pretrained` / `AutoTokenizer.from_pretrained` round-trip
with no custom code and a checkpoint folder stays a plain Hugging Face folder.
"""

from __future__ import annotations

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
# Every character the tasks write: digits, the four operations, '=' and the separators
# of the compact format ("13 4 7 2>48:" then "13-7=6,6*4=24,24*2=48.").
CHARS = list("0123456789+-*/=, >:.")


def build_char_tokenizer(chars: list[str] = CHARS) -> PreTrainedTokenizerFast:
    """A fresh tokenizer over ``chars`` plus the special tokens pad, bos, eos and unk."""
    vocab = {tok: i for i, tok in enumerate(SPECIALS + list(chars))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    backend.decoder = decoders.Fuse()  # join characters back without spaces
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        bos_token="<bos>",
        eos_token="<eos>",
        unk_token="<unk>",
        padding_side="left",
    )
