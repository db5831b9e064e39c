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
task in `tsc.tasks.TASKS`); its reader takes the answer from free text
(`tsc.tasks.freetext`).
"""

from __future__ import annotations

from dataclasses import dataclass

FORMATS = ("compact", "chat", "text")
STOPS = {"compact": (".",), "chat": (), "text": ("\n\n",)}


@dataclass(frozen=True)
class Chat:
    """A task's prompt for real language models: the rules, a worked example, the question."""

    rules: str  # the system message: what to do and how to write the answer
    example: object  # a problem of the task
    example_answer: str  # the worked answer to ``example``, ending in "Answer: ..."

    def question(self, problem) -> str:
        return problem.question_text()


def answer_stops(prompt_format: str) -> tuple[str, ...]:
    """The stop strings that end a whole answer in ``prompt_format``."""
    return STOPS[prompt_format]


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


def messages(problem) -> list[dict]:
    """The chat messages that put ``problem`` to a chat model (the assistant's turn follows)."""
    chat = chat_of(problem)
    return [
        {"role": "system", "content": chat.rules},
        {"role": "user", "content": chat.question(chat.example)},
        {"role": "assistant", "content": chat.example_answer},
        {"role": "user", "content": chat.question(problem)},
    ]


def render(problem, prompt_format: str, tokenizer=None) -> str:
    """The prompt text for ``problem`` in ``prompt_format`` (``tokenizer`` renders ``chat``)."""
    if prompt_format == "compact":
        return problem.prompt()
    if prompt_format == "text":
        chat = chat_of(problem)
        example = f"{chat.question(chat.example)}\n{chat.example_answer}"
        return f"{chat.rules}\n\n{example}\n\n{chat.question(problem)}\n"
    if prompt_format != "chat":
        raise ValueError(f"prompt_format must be one of {', '.join(FORMATS)}, got {prompt_format!r}")
    turns = messages(problem)
    try:
        return tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
    except Exception:  # a template without a system role (Gemma, Mistral): the rules open the first user turn
        turns = [{"role": "user", "content": f"{turns[0]['content']}\n\n{turns[1]['content']}"}] + turns[2:]
        return tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)


def chat_of(problem) -> Chat:
    """The chat prompt of ``problem``'s task (a ValueError for a task without one)."""
    from tsc.tasks import get_task

    chat = get_task(getattr(problem, "task", None)).chat
    if chat is None:
        raise ValueError(f"task {problem.task!r} has no prompt for real language models")
    return chat
