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
        (
            "the exponent's sign",
            "log10 for the natural log",
            "taking the log of only one side",
            "ln(goal) approximated by goal − 1",
            "answering with the largest k measured",
        ),
    ),
    "ex-1-3": ExerciseInfo(
        2,
        25,
        "code",
        (
            "not redoing each step's arithmetic",
            "numbers left unused",
            "operands that are not on the table",
            "a division that floors",
            "a subtraction that takes the absolute value",
            "no guard against dividing by zero",
            "refusing spaces inside a step",
        ),
    ),
    "ex-1-4": ExerciseInfo(
        3,
        25,
        "experiment",
        ("pass@1 instead of coverage", "sampling at temperature 1", "the plug-in estimate", "a percentage for a fraction"),
    ),
    "ex-2-1": ExerciseInfo(
        1,
        10,
        "code",
        ("not dividing by the number of tasks", "reading the price as per thousand tokens", "forgetting to divide by a million"),
    ),
    "ex-2-2": ExerciseInfo(
        2,
        20,
        "code",
        (
            "not dividing by the group's standard deviation",
            "one mean for the whole batch instead of each group",
            "the sample standard deviation instead of the population one",
            "dividing by zero for groups that all agree",
        ),
    ),
    "ex-2-3": ExerciseInfo(
        2,
        25,
        "experiment",
        ("the chance of at least one correct sample", "forgetting the all-wrong groups", "a formula without the group size"),
    ),
    "ex-2-4": ExerciseInfo(
        3,
        25,
        "code",
        (
            "no clip",
            "the clipped term alone, without the minimum",
            "the maximum instead of the minimum",
            "the surrogate not negated into a loss",
            "each completion averaged first (GRPO's paper) instead of every trained token (policy_update)",
            "dividing by every padded position",
            "padding and prompt positions left in (no mask)",
            "the inverse ratio",
        ),
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
    "ex-4-1": ExerciseInfo(
        1,
        10,
        "math",
        (
            "the inference rule 2N per token",
            "the ratio upside down",
            "20 tokens instead of 20 per parameter",
            "the FLOPs of one training token",
        ),
    ),
    "ex-4-2": ExerciseInfo(
        2, 15, "math", ("log base 10 where the ratio's own log is asked", "an answer that is not one number", "the ratio upside down")
    ),
    "ex-4-3": ExerciseInfo(
        2,
        15,
        "math",
        (
            "forgetting what A spent",
            "each query saving the whole cost instead of the difference",
            "adding the trainings instead of subtracting",
            "a negative volume where the answer is never (math.inf)",
        ),
    ),
    "ex-4-4": ExerciseInfo(
        3,
        30,
        "experiment",
        ("the most accurate candidate everywhere, over budget", "a size left without a strategy", "a strategy that is not a candidate"),
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
    "ex-5-5": ExerciseInfo(
        2,
        20,
        "code",
        (
            "pointers without the draw u",
            "u not divided by the count",
            "weights not normalised",
            "a pointer on a boundary given to the slice before",
            "fewer copies than the count (floors only)",
            "indices out of order",
        ),
    ),
    "ex-6-1": ExerciseInfo(
        1,
        10,
        "code",
        (
            "crashing on an empty list",
            "the product of nothing taken as 1",
            "the first step for the last",
            "the mean for the product",
            "a minimum that leaves the first or the last step out",
            "the highest step for the lowest",
        ),
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
            "a fraction for percentage points",
            "the difference the wrong way round (PRM minus ORM)",
            "the ORM loop's accuracy alone, not the paired difference",
            "another number of attempts than four",
            "the PRM loop at another threshold than the ORM's",
            "an unpaired interval for two loops run on the same problems",
        ),
    ),
    "ex-7-1": ExerciseInfo(
        1,
        15,
        "code",
        (
            "forgetting the per-million",
            "reused tokens at the full input price",
            "reused tokens left out",
            "the verifier's tokens forgotten",
        ),
    ),
    "ex-7-2": ExerciseInfo(
        2,
        20,
        "code",
        (
            "keeping points that another beats",
            "equal points removing each other",
            "only the cheapest and the best",
            "not a list of indices",
        ),
    ),
    "ex-7-3": ExerciseInfo(
        3,
        30,
        "experiment",
        (
            "stopping on whatever the first sample said",
            "letting one disagreeing sample stop the window",
            "looking at an old window instead of the latest",
            "firing before the window is full",
            "an answer other than True or False",
        ),
    ),
    "ex-8-1": ExerciseInfo(
        1,
        15,
        "code",
        (
            "the entropy of the prediction without the ambiguity",
            "bits instead of nats",
            "the subtraction reversed",
            "the ambiguity alone",
        ),
    ),
    "ex-8-2": ExerciseInfo(
        2,
        30,
        "code",
        (
            "vote shares taken as beliefs",
            "no share left for something else",
            "the Beta part without the Dirichlet process",
            "not normalised",
        ),
    ),
    "ex-8-3": ExerciseInfo(
        3,
        40,
        "experiment",
        (
            "stopping at once on one sample",
            "never stopping early",
            "a fixed budget presented as a stopping rule",
            "crashing before the first sample",
            "stopping too soon",
            "not answering True or False",
        ),
    ),
    "ex-9-1": ExerciseInfo(
        1,
        10,
        "math",
        (
            "one standard error instead of 1.96",
            "1.645 (a 90 % interval)",
            "the variance without its square root",
            "p / n without the factor 1 − p",
        ),
    ),
    "ex-9-2": ExerciseInfo(
        2,
        25,
        "code",
        (
            "a front sorted on one key (dollars or seconds alone)",
            "equal points removing each other",
            "only the first of two equal points kept",
            "beaten only when worse on every axis",
            "lower accuracy taken as better",
            "indices instead of names",
        ),
    ),
    "ex-9-3": ExerciseInfo(
        3,
        25,
        "experiment",
        (
            "the budget ignored",
            "an adaptive strategy chosen",
            "the cheapest strategy chosen",
            "accuracy per FLOP instead of accuracy",
            "an index instead of a name",
        ),
    ),
}

EXERCISE = re.compile(r"^```+\s*\{exercise\}\s*([^\n]*)\n(?:.*\n)*?:label:\s*(ex-\d+-\d+)", re.MULTILINE)


def exercises_in(notebook: str | Path) -> list[tuple[str, str]]:
    """(label, title) of each exercise in a chapter notebook, in order."""
    cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return [(label, title.strip()) for title, label in EXERCISE.findall(text)]


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
