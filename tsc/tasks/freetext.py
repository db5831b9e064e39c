"""Reading answers the way real language models write them.

The bundled models write the compact format (``13-7=6,6*4=24,24*2=48.``). A chat model
writes prose: ``Sure! First, 13 − 7 = 6 …``, one step per line, ``×`` for ``*``, markdown,
LaTeX (``\\boxed{48}``), a ``<think>…</think>`` block before the answer, and, when asked as
our prompts ask (`tsc.tasks.prompts`), a last line ``Answer: …``. This module turns such text
into what the tasks' compact readers take; each task decides what its answer is
(`tsc.tasks.countdown.parse`, `tsc.tasks.arithmetic.parse`). Nothing here raises: text it
cannot read gives None, and the answer is simply wrong.

A text is read this way only when it could not be compact output (`is_free`): it holds a
character the compact format never uses (a letter, a newline, ``×``, ...). So the bundled
models' answers are read exactly as before.
"""

from __future__ import annotations

import re

COMPACT = set("0123456789+-*/=,.:>#|() ")  # every character the compact formats use

_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)
_THINK = re.compile(r"<think>.*?</think>", re.IGNORECASE | re.DOTALL)
_MARKER = re.compile(r"(?:final\s+answer|answer)\s*(?:is)?\s*[:=]?\s*", re.IGNORECASE)
_REPLACE = [
    (re.compile(r"\\boxed\s*\{([^{}]*)\}"), r"\1"),
    (re.compile(r"\\text\s*\{([^{}]*)\}"), r"\1"),
    (re.compile(r"\\(?:times|cdot)"), "*"),
    (re.compile(r"\\div"), "/"),
    (re.compile(r"\\left|\\right|\\[()\[\]]|\$"), ""),
    (re.compile(r"[×·∗✕⋅]"), "*"),
    (re.compile(r"(?<=\d)\s*[xX]\s*(?=\d)"), " * "),  # 6 x 4
    (re.compile(r"[÷∕]"), "/"),
    (re.compile(r"[−–—]"), "-"),
    (re.compile(r"\*\*|__|`"), ""),  # markdown bold and code
]
_BULLET = re.compile(r"^[ \t]*[-*+•][ \t]+", re.MULTILINE)  # a markdown list item's mark
_STEP = re.compile(r"(?<![\d)])(\d{1,12})\s*([-+*/])\s*(\d{1,12})\s*=\s*(\d{1,12})(?![\d(])", re.ASCII)
_EXPRESSION = re.compile(r"[\d(][\d\s+\-*/()]*[\d)]", re.ASCII)
_NUMBER = re.compile(r"(?<![\d.])-?\d{1,3}(?:,\d{3})+(?![\d])|(?<![\d.])-?\d+", re.ASCII)


def is_free(text: str) -> bool:
    """Whether ``text`` holds a character the compact formats never write. The tasks ask it
    of what a compact reader would read (what follows a thinking model's last ``#``); if so
    the whole completion is read as free text."""
    return isinstance(text, str) and any(c not in COMPACT for c in text)


def clean(text: str) -> str | None:
    """The text without its thinking and its markup: ``<think>…</think>`` blocks dropped (and
    everything before a lone ``</think>``, whose ``<think>`` was in the prompt), LaTeX and
    markdown removed, ``×``/``÷``/``−`` as ``*``/``/``/``-``. None when the thinking never ended
    (an unclosed ``<think>``): the model gave no answer."""
    if not isinstance(text, str):
        return None
    text = _THINK.sub("", text)
    if "<think>" in text.lower():
        return None
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:
        text = text[closes[-1].end() :]
    text = _BULLET.sub("", text)
    for pattern, replacement in _REPLACE:
        text = pattern.sub(replacement, text)
    return text


def answer_region(text: str) -> str | None:
    """What follows the last ``Answer:`` (or ``final answer is``) on its line, or None."""
    matches = list(_MARKER.finditer(text))
    if not matches:
        return None
    rest = text[matches[-1].end() :]
    lines = [line for line in rest.splitlines() if line.strip()]
    return lines[0] if lines else ""


def step_matches(line: str) -> list[tuple[int, str, int, int]]:
    """Every ``a op b = c`` in a line whose left side is one operation (not the tail of a
    longer expression such as ``(13-7)*4*2 = 48``)."""
    out = []
    for match in _STEP.finditer(line):
        before = line[: match.start()].rstrip()
        if before and before[-1] in "+-*/(":
            continue  # `4*2 = 48` inside `(13-7)*4*2 = 48` is not a step
        left, op, right, result = match.groups()
        out.append((int(left), op, int(right), int(result)))
    return out


def last_step_block(text: str) -> list[tuple[int, str, int, int]]:
    """The steps of the last run of consecutive lines that hold steps."""
    blocks: list[list] = [[]]
    for line in text.splitlines():
        found = step_matches(line)
        if found:
            blocks[-1] += found
        elif line.strip() and blocks[-1]:  # a line without steps ends a block; a blank line does not
            blocks.append([])
    return next((block for block in reversed(blocks) if block), [])


def expression_in(line: str) -> str | None:
    """The longest arithmetic expression in a line, without a trailing ``= value``."""
    left = line.split("=", 1)[0] if line.count("=") == 1 and re.fullmatch(r"\s*-?\d+\s*\.?\s*", line.split("=", 1)[1]) else line
    found = [m.group(0) for m in _EXPRESSION.finditer(left) if any(op in m.group(0) for op in "+-*/")]
    return max(found, key=len).strip() if found else None


def last_number(text: str) -> int | None:
    """The last whole number in ``text`` (``1,234`` read as 1234; a leading minus kept)."""
    found = _NUMBER.findall(text)
    if not found:
        return None
    try:
        return int(found[-1].replace(",", ""))
    except ValueError:
        return None
