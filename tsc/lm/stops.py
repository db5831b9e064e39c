"""Where a completion ends: at the first stop string in the decoded text, or at an end token.

A stop string is matched on the text, not on token ids. With the bundled character-level
models the two agree (``"."`` is one token), but a real model's BPE vocabulary has thousands
of tokens that merely *contain* a full stop (``"e.g."``, ``".\\n"``), and a stop such as
``"</answer>"`` spans several tokens. So:

* a token can finish a stop string only if its text holds that string's last character
  (the occurrence ends inside it): those are the ``candidates``, and only a sequence that
  has just written one is decoded and searched;
* the completion's text is cut right after the stop string, even inside a token;
* when every stop string is one character and every candidate token is exactly a stop
  string, token ids decide alone (``exact``): no sequence is ever decoded while sampling,
  which is what keeps the bundled models' sampler fast.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tsc.tasks.prompts import cut_at_stop


class StopMatcher:
    """The stop rule of one `LocalPolicy.sample` call for one tokenizer."""

    def __init__(self, tokenizer, stops: Sequence[str], end_ids: Sequence[int]):
        self.tokenizer = tokenizer
        self.stops = tuple(s for s in stops if s)
        self.end_ids = sorted({int(i) for i in end_ids if i is not None})
        lasts = {s[-1] for s in self.stops}
        texts = token_texts(tokenizer)
        self.candidate_ids = sorted(i for i, text in texts.items() if any(c in text for c in lasts) and i not in self.end_ids)
        self.exact = all(len(s) == 1 for s in self.stops) and all(texts[i] in self.stops for i in self.candidate_ids)

    def ending_ids(self) -> torch.Tensor:
        """Token ids that end a sequence by themselves: the end tokens, and the stop tokens
        when matching is exact."""
        ids = self.end_ids + (self.candidate_ids if self.exact else [])
        return torch.tensor(sorted(set(ids)), dtype=torch.long)

    def needs_check(self) -> torch.Tensor:
        """Token ids after which the decoded text must be searched (none when exact)."""
        return torch.tensor([] if self.exact else self.candidate_ids, dtype=torch.long)

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode([i for i in ids if i not in self.end_ids], skip_special_tokens=True)

    def hit(self, ids: Sequence[int]) -> bool:
        """Whether the text of ``ids`` holds a stop string."""
        text = self.decode(ids)
        return any(s in text for s in self.stops)

    def ended(self, ids: Sequence[int]) -> bool:
        """Whether a sequence of ``ids`` ended at a stop (its last token ends it), rather than
        being cut by a length limit."""
        if not ids:
            return False
        last = ids[-1]
        return last in self.end_ids or (last in set(self.candidate_ids) and (self.exact or self.hit(ids)))

    def cut(self, text: str) -> str:
        return cut_at_stop(text, self.stops)


def token_texts(tokenizer) -> dict[int, str]:
    """Every token id's text as it appears in decoded output (cached on the tokenizer)."""
    cached = getattr(tokenizer, "_tsc_token_texts", None)
    if cached is None:
        cached = {}
        for token, index in tokenizer.get_vocab().items():
            try:
                cached[index] = tokenizer.convert_tokens_to_string([token])
            except Exception:  # a byte-level piece that is not text on its own
                cached[index] = token
        try:
            tokenizer._tsc_token_texts = cached
        except AttributeError:
            pass
    return cached
