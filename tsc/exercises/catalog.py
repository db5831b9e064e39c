"""What a teacher needs to know about each exercise: how hard, how long, what kind of work,
and which mistakes its checker names.

The table in `book/instructors.md` is generated from `CATALOG` and the chapters' own
exercise blocks (``python -m tsc instructors --write``); a test keeps the two in step, so an
exercise added to a chapter without an entry here fails the tests. The mistakes listed are the
ones the checker's tests feed it (`tests/test_exercise_mistakes.py` and the chapters' test
files), each rejected with a message that points at it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

LEVELS = {1: "★ warm-up", 2: "★★ core", 3: "★★★ stretch"}
KINDS = ("math", "code", "experiment")


@dataclass(frozen=True)
class ExerciseInfo:
    """One exercise: difficulty 1–3 (see `LEVELS`), expected minutes for a student who read
    the chapter, kind (`KINDS`), and the mistakes its checker names."""

    difficulty: int
    minutes: int
    kind: str
    mistakes: tuple[str, ...]


CATALOG: dict[str, ExerciseInfo] = {
    "ex-1-1": ExerciseInfo(
        2,
        20,
        "code",
        (
            "the plug-in estimate 1 − (1 − c/n)^k",
            "an off-by-one in the product",
            "returning the failure probability",
            "the union bound k·c/n",
            "factorials that overflow a float",
        ),
    ),
    "ex-1-2": ExerciseInfo(
        1,
        10,
        "math",
        ("the exponent's sign", "log10 for the natural log", "taking the log of only one side", "answering with the largest k measured"),
    ),
    "ex-1-3": ExerciseInfo(
        2,
        25,
        "code",
        ("not redoing each step's arithmetic", "numbers left unused", "operands that are not on the table"),
    ),
    "ex-1-4": ExerciseInfo(
        3,
        25,
        "experiment",
        ("pass@1 instead of coverage", "sampling at temperature 1", "the plug-in estimate", "a percentage for a fraction"),
    ),
    "ex-3-1": ExerciseInfo(
        2,
        20,
        "code",
        (
            "dropping the token that takes the running total past p",
            "not renormalising",
            "the vocabulary's order instead of sorted by probability",
            "a threshold on each token",
        ),
    ),
    "ex-3-2": ExerciseInfo(
        2,
        15,
        "math",
        (
            "keys only, no values",
            "every query head instead of the key-value heads",
            "two bytes whatever the dtype",
            "one sequence, not the batch",
        ),
    ),
    "ex-3-3": ExerciseInfo(
        3,
        30,
        "experiment",
        ("choosing by coverage", "choosing on the test set", "reporting the dev-set accuracy", "a percentage for a fraction"),
    ),
    "ex-5-1": ExerciseInfo(
        1,
        10,
        "code",
        (
            "no square root on the parent's visits",
            "dividing by child visits instead of 1 + visits",
            "leaving out the prior",
            "c_puct scaling Q too",
        ),
    ),
    "ex-5-2": ExerciseInfo(
        2,
        15,
        "code",
        (
            "keeping finished candidates that have nothing left to expand",
            "keeping duplicates",
            "index order instead of best first",
            "a later copy kept on ties",
        ),
    ),
    "ex-5-3": ExerciseInfo(
        2,
        20,
        "math",
        ("a step reading itself", "counting only the prompt", "forgetting that every step reads the prompt"),
    ),
    "ex-5-4": ExerciseInfo(
        3,
        20,
        "experiment",
        ("the policy's saving alone", "the ratio instead of the saving", "prompt tokens instead of FLOPs", "a percentage for a fraction"),
    ),
    "ex-6-1": ExerciseInfo(
        1,
        10,
        "code",
        ("crashing on an empty list", "the product of nothing taken as 1", "the first step for the last", "the mean for the product"),
    ),
    "ex-6-2": ExerciseInfo(
        2,
        20,
        "code",
        ("ties ignored", "ties counted as wins", "0.5 where the AUC is undefined", "dividing by zero"),
    ),
    "ex-6-3": ExerciseInfo(
        2,
        20,
        "code",
        (
            "best-of-N instead of a vote",
            "counts instead of scores (plain majority)",
            "the group's first member instead of its best",
            "malformed samples voting",
        ),
    ),
    "ex-6-4": ExerciseInfo(
        3,
        25,
        "experiment",
        (
            "a count instead of a fraction",
            "the PRM's result instead of the ORM's",
            "the first (greedy) attempt alone",
            "a percentage for a fraction",
        ),
    ),
}

EXERCISE = re.compile(r"^```+\s*\{exercise\}\s*([^\n]*)\n(?:.*\n)*?:label:\s*(ex-\d+-\d+)", re.MULTILINE)


def exercises_in(notebook: str | Path) -> list[tuple[str, str]]:
    """(label, title) of each exercise in a chapter notebook, in order."""
    cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return [(label, title.strip()) for title, label in EXERCISE.findall(text)]


def chapter_title(notebook: str | Path) -> str:
    """The first level-1 heading of a chapter notebook."""
    for cell in json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]:
        for line in "".join(cell["source"]).splitlines():
            if cell["cell_type"] == "markdown" and line.startswith("# "):
                return line[2:].strip()
    return Path(notebook).stem


def exercise_table(book: str | Path = "book") -> str:
    """The instructors' guide's exercise table (Markdown): every chapter's exercises with
    difficulty, minutes, kind and the mistakes the checker names."""
    rows = ["| exercise | chapter | title | level | minutes | kind | mistakes the checker names |", "|---|---|---|---|---|---|---|"]
    for notebook in sorted(Path(book).glob("[0-9][0-9]_*.ipynb")):
        chapter = int(notebook.name[:2])
        for label, title in exercises_in(notebook):
            info = CATALOG.get(label)
            if info is None:
                raise KeyError(f"{label} in {notebook.name} has no entry in tsc/exercises/catalog.py CATALOG: add one")
            mistakes = "; ".join(info.mistakes)
            level = LEVELS[info.difficulty]
            rows.append(f"| [{label}]({notebook.name}) | {chapter} | {title} | {level} | {info.minutes} | {info.kind} | {mistakes} |")
    return "\n".join(rows)


START, END = "<!-- exercise table: generated by python -m tsc instructors --write; do not edit -->", "<!-- end of exercise table -->"


def render_guide(guide: str, book: str | Path = "book") -> str:
    """The guide's text with its generated exercise table replaced by the current one."""
    head, found, rest = guide.partition(START)
    _, found_end, tail = rest.partition(END)
    if not (found and found_end):
        raise ValueError(f"the guide has no generated table: put the lines\n{START}\n{END}\nwhere it belongs")
    return f"{head}{START}\n{exercise_table(book)}\n{END}{tail}"
