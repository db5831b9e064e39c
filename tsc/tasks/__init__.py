"""Tasks: problem generators, prompts, parsers and oracle checks (the ground floor).

Everything task-specific lives here, so that the rest of the package (the CLI, evaluation,
training data, verifiers) asks the registry instead of comparing task names. A task is a
module in this folder and one `Task` entry in `TASKS`: how to generate problems at a point
of its difficulty dial, how to read a `solve` input line, how to write an answer, and how to
put a problem to a real language model (`tsc.tasks.prompts`). Each problem itself knows its
prompt, oracle (`check`), vote key (`answer_key`), steps, step labels and difficulty
(the protocol strategies read them through: `tsc.core.Problem`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tsc.tasks import arithmetic, countdown
from tsc.tasks.arithmetic import Arithmetic
from tsc.tasks.countdown import Countdown
from tsc.tasks.prompts import FORMATS, Chat


@dataclass(frozen=True)
class Task:
    """One task as the rest of the package sees it."""

    name: str
    problem: type  # the class of its problems
    line: str  # an example `solve` input line
    dial: str  # what the difficulty dial counts ("numbers", "operations")
    sizes: tuple[int, ...]  # the dial's values the bundled models were trained on
    card_key: str  # where a model's card lists the dial's values it was trained on (card["problems"][card_key])
    split: str  # what the held-out split is, in words (for the cards)
    chat: Chat | None  # how to put a problem to a real language model
    _generate: Callable  # (count, *, seed, sizes, split, **options) -> problems
    _read: Callable  # (record, card, model) -> problem, or a ValueError
    answer: Callable  # completion text -> the answer `python -m tsc solve` writes
    seen: Callable  # (sizes, **options) -> what a model's card records of the problems it trained on (`trained` reads it)
    options: tuple[str, ...] = ()  # more dials `generate` takes (arithmetic: digits)

    def generate(self, count: int, *, seed: int, sizes: tuple[int, ...] | None = None, split: str = "test", **options) -> list:
        """``count`` problems at the dial's ``sizes`` (default: the trained ones) from
        ``split`` (``"test"``: the held-out tenth), reproducibly from ``seed``."""
        return self._generate(count, seed=seed, sizes=tuple(sizes or self.sizes), split=split, **options)

    def per_size(self, count: int, *, seed: int, sizes: tuple[int, ...] | None = None, **options) -> list:
        """``count`` problems of each of ``sizes`` in turn, those of size ``s`` drawn from ``seed + s``:
        a size's problems are the same whichever other sizes are asked for (the cards' held-out problems)."""
        return [p for size in sizes or self.sizes for p in self.generate(count, seed=seed + size, sizes=(size,), **options)]

    def read(self, record: dict, card: dict | None = None, model: str = "the model"):
        """The problem of a `solve` input line (a dict), or a one-line ValueError saying what
        is wrong; ``card`` (the model's) bounds what the model accepts."""
        if not isinstance(record, dict):
            raise ValueError(f"each line must be a JSON object such as {self.line}")
        return self._read(record, card, model)

    def trained(self, card: dict | None) -> tuple[tuple[int, ...], dict]:
        """The dial's values a model was trained on (its card's, else this task's) and the
        other dials `generate` takes for them (arithmetic: the operands' digits)."""
        seen = (card or {}).get("problems") or {}
        sizes = tuple(seen.get(self.card_key) or self.sizes)
        return sizes, {k: seen[k] for k in self.options if k in seen}


def _generate_arithmetic(count, *, seed, sizes, split, digits: int = arithmetic.DIGITS):
    return arithmetic.generate(count, seed=seed, ops=sizes, digits=digits, split=split)


def _seen_countdown(sizes, **_) -> dict:
    return {"sizes": list(sizes), "max_number": countdown.MAX_NUMBER, "max_target": countdown.MAX_TARGET}


def _seen_arithmetic(sizes, *, digits: int = arithmetic.DIGITS) -> dict:
    return {"ops": list(sizes), "digits": digits, "max_value": arithmetic.MAX_VALUE}


TASKS: dict[str, Task] = {
    "countdown": Task(
        name="countdown",
        problem=Countdown,
        line='{"numbers": [13, 4, 7, 2], "target": 48}',
        dial="numbers",
        sizes=countdown.SIZES,
        card_key="sizes",
        split="test (held-out tenth of problems, uniform over solvable ones)",
        chat=Chat(countdown.CHAT_RULES, Countdown((13, 4, 7, 2), 48), countdown.CHAT_EXAMPLE_ANSWER),
        _generate=countdown.generate,
        _read=countdown.from_record,
        answer=countdown.answer_text,
        seen=_seen_countdown,
    ),
    "arithmetic": Task(
        name="arithmetic",
        problem=Arithmetic,
        line='{"question": "7*8-13+6*4"}',
        dial="operations",
        sizes=arithmetic.OPS,
        card_key="ops",
        split="test (held-out tenth of questions)",
        chat=Chat(arithmetic.CHAT_RULES, Arithmetic("7*8-13+6*4"), arithmetic.CHAT_EXAMPLE_ANSWER),
        _generate=_generate_arithmetic,
        _read=arithmetic.from_record,
        answer=arithmetic.answer_text,
        seen=_seen_arithmetic,
        options=("digits",),
    ),
}


def get_task(name: str | None) -> Task:
    """The task registered as ``name``, or a ValueError listing the known ones."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known: {', '.join(TASKS)}")
    return TASKS[name]


def task_of(problem) -> Task:
    """The task ``problem`` belongs to."""
    return get_task(getattr(problem, "task", None))


def _chat(problem) -> Chat:
    chat = task_of(problem).chat
    if chat is None:
        raise ValueError(f"task {problem.task!r} has no prompt for real language models")
    return chat


def messages(problem) -> list[dict]:
    """The chat messages that put ``problem`` to a chat model (the assistant's turn follows)."""
    chat = _chat(problem)
    return [
        {"role": "system", "content": chat.rules},
        {"role": "user", "content": chat.example.question_text()},
        {"role": "assistant", "content": chat.example_answer},
        {"role": "user", "content": problem.question_text()},
    ]


def render(problem, prompt_format: str, tokenizer=None) -> str:
    """The prompt text for ``problem`` in ``prompt_format`` (``tokenizer`` renders ``chat``)."""
    if prompt_format == "compact":
        return problem.prompt()
    if prompt_format == "text":
        chat = _chat(problem)
        example = f"{chat.example.question_text()}\n{chat.example_answer}"
        return f"{chat.rules}\n\n{example}\n\n{problem.question_text()}\n"
    if prompt_format != "chat":
        raise ValueError(f"prompt_format must be one of {', '.join(FORMATS)}, got {prompt_format!r}")
    turns = messages(problem)
    try:
        return tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
    except Exception:  # a template without a system role (Gemma, Mistral): the rules open the first user turn
        turns = [{"role": "user", "content": f"{turns[0]['content']}\n\n{turns[1]['content']}"}] + turns[2:]
        return tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)


__all__ = ["TASKS", "Arithmetic", "Countdown", "Task", "arithmetic", "countdown", "get_task", "messages", "render", "task_of"]
