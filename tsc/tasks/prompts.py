"""How a problem is put to a model: three prompt formats.

* ``compact``: what the models `tsc` trains read, e.g. ``13 4 7 2>48:`` (`Problem.prompt`);
  they answer in the compact format and stop at ``.``.
* ``chat``: for a model whose tokenizer has a chat template (Qwen2, Llama-3-Instruct, ...):
  a system message with the rules and the answer format, one worked example as a user and
  an assistant turn, then the problem as a user turn; the assistant turn is left open. The
  model's own end-of-turn token ends the answer.
* ``text``: the same as plain text for any other causal LM, ending in a line for the answer;
  a blank line ends it.

Each task states its rules, its worked example and how its question reads (`Chat`, one per
task in `tsc.tasks.TASKS`, which also renders a problem in each format: `tsc.tasks.render`);
its reader takes the answer from free text (`tsc.tasks.freetext`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FORMATS = ("compact", "chat", "text")
STOPS = {"compact": (".",), "chat": (), "text": ("\n\n",)}


@dataclass(frozen=True)
class Chat:
    """A task's prompt for real language models: the rules, a worked example, the question."""

    rules: str  # the system message: what to do and how to write the answer
    example: Any  # a problem of the task (its question_text() is the example's question)
    example_answer: str  # the worked answer to ``example``, ending in "Answer: ..."


def answer_stops(prompt_format: str) -> tuple[str, ...]:
    """The stop strings that end a whole answer in ``prompt_format``."""
    return STOPS[prompt_format]


def cut_at_stop(text: str, stops) -> str:
    """``text`` up to and including its first stop string (all of it if it has none)."""
    ends = [text.find(s) + len(s) for s in stops if s and s in text]
    return text[: min(ends)] if ends else text


def default_format(card: dict | None, tokenizer) -> str:
    """``compact`` for a model `tsc` trained (its card names a task, or its vocabulary is
    characters), ``chat`` when the tokenizer has a chat template, else ``text``."""
    if isinstance(card, dict) and card.get("task"):
        return "compact"
    vocab = tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else {}
    specials = set(getattr(tokenizer, "all_special_tokens", []) or [])
    if vocab and len(vocab) < 128 and all(len(t) == 1 for t in vocab if t not in specials):
        return "compact"  # a character-level tokenizer: a tsc model without its card
    return "chat" if getattr(tokenizer, "chat_template", None) else "text"
