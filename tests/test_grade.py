"""The grader on a small class: untouched, half done, all right, one crashing, one timing out,
and a file that is not a notebook; the solved copies of a chapter."""

from __future__ import annotations

import csv
import json

import nbformat
import pytest

from tsc.cli import main
from tsc.grade import exercises, grade, gradebook, solved

PASS_AT_K = """def my_pass_at_k(n, c, k):
    if n - c < k:
        return 1.0
    fail = 1.0
    for i in range(n - c + 1, n + 1):
        fail *= 1 - k / i
    return 1 - fail
"""
AGGREGATE = """import math


def my_aggregate(step_scores, how):
    if not step_scores:
        return 0.0
    if how == "min":
        return min(step_scores)
    if how == "last":
        return step_scores[-1]
    return math.prod(step_scores)
"""
PLACEHOLDERS = (
    "def my_pass_at_k(n, c, k):\n    return None  # replace with your code",
    "def my_aggregate(step_scores, how):\n    return None  # replace with your code",
)


def chapter(first: str = PLACEHOLDERS[0], second: str = PLACEHOLDERS[1]) -> nbformat.NotebookNode:
    """A two-exercise chapter in the book's layout, with the given student cells."""
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    hidden = code("import tsc.exercises")
    hidden.metadata["tags"] = ["remove-cell"]
    proof = code('assert tsc.exercises.check_aggregate(lambda *args: None).status == "not attempted" or True')
    proof.metadata["tags"] = ["remove-cell"]
    return nbformat.v4.new_notebook(
        cells=[
            hidden,
            md("```{exercise} pass@k\n:label: ex-1-1\n\nWrite `my_pass_at_k`.\n```"),
            code(first),
            code("print(tsc.exercises.check_pass_at_k(my_pass_at_k))"),
            md(f"````{{solution}} ex-1-1\n:class: dropdown\n\n```python\n{PASS_AT_K}```\n````"),
            md("```{exercise} One score from step scores\n:label: ex-1-2\n\nWrite `my_aggregate`.\n```"),
            code("scores = [0.9, 0.8]  # some context the exercise sets up"),
            code(second),
            code("print(tsc.exercises.check_aggregate(my_aggregate))"),
            md(f"````{{solution}} ex-1-2\n:class: dropdown\n\n```python\n{AGGREGATE}```\n````"),
            proof,
        ]
    )


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("class")
    class_ = {
        "untouched": chapter(),
        "half": chapter(first=PASS_AT_K),
        "right": chapter(first=PASS_AT_K, second=AGGREGATE),
        "crashing": chapter(first=PASS_AT_K, second="raise RuntimeError('my bug')"),
        "slow": chapter(first=PASS_AT_K, second="import time\ntime.sleep(120)"),
    }
    paths = []
    for name, nb in class_.items():
        path = folder / f"{name}.ipynb"
        nbformat.write(nb, str(path))
        paths.append(path)
    (folder / "notes.ipynb").write_text("this is not a notebook")
    paths.append(folder / "notes.ipynb")
    before = {p: p.read_bytes() for p in paths}
    grades = grade(paths, timeout=15)
    assert all(p.read_bytes() == before[p] for p in paths)  # the students' files are never changed
    return folder, paths, grades


def status(grades, name: str) -> dict:
    return {g.exercise: g.status for g in grades if g.notebook.endswith(f"{name}.ipynb")}


def test_the_gradebook_of_a_small_class(graded):
    _, _, grades = graded
    assert status(grades, "untouched") == {"ex-1-1": "not attempted", "ex-1-2": "not attempted"}
    assert status(grades, "half") == {"ex-1-1": "correct", "ex-1-2": "not attempted"}
    assert status(grades, "right") == {"ex-1-1": "correct", "ex-1-2": "correct"}
    assert status(grades, "crashing") == {"ex-1-1": "correct", "ex-1-2": "not reached", None: "error"}
    assert status(grades, "slow") == {"ex-1-1": "correct", "ex-1-2": "not reached", None: "error"}
    assert status(grades, "notes") == {None: "error"}
    errors = {g.notebook.rsplit("/", 1)[-1]: g.error for g in grades if g.exercise is None}
    assert "RuntimeError: my bug" in errors["crashing.ipynb"] and "cell 8" in errors["crashing.ipynb"]
    assert "timed out after 15 s" in errors["slow.ipynb"]
    assert "not a readable notebook" in errors["notes.ipynb"]
    table = gradebook(grades)
    assert "right.ipynb" in table and "2/2" in table and "my bug" in table


def test_wrong_answers_are_graded_incorrect_with_the_checkers_message(tmp_path):
    path = tmp_path / "wrong.ipynb"
    nbformat.write(chapter(first="def my_pass_at_k(n, c, k):\n    return 1 - (1 - c / n) ** k"), str(path))
    [first, second] = grade([path], timeout=60)
    assert first.status == "incorrect" and "plug-in" in first.message
    assert second.status == "not attempted"


def test_the_cli_writes_json_and_csv(graded, tmp_path, capsys):
    folder, paths, _ = graded
    sheet = tmp_path / "grades.csv"
    assert main(["grade", str(paths[1]), str(paths[-1]), "--json", "--csv", str(sheet), "--timeout", "60"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert {"notebook", "exercise", "status", "message"} <= set(records[0])
    assert [r["status"] for r in records] == ["correct", "not attempted", "error"]
    rows = list(csv.DictReader(sheet.read_text().splitlines()))
    assert len(rows) == 3 and rows[-1]["error"].startswith("not a readable notebook")
    assert main(["grade", str(paths[1]), "--timeout", "0"]) == 2


def test_solved_copies_fill_every_exercise_and_assert_it(tmp_path):
    nb = solved(chapter())
    assert [label for label, *_ in exercises(nb)] == ["ex-1-1", "ex-1-2"]
    assert nb.cells[2].source.startswith("def my_pass_at_k") and "fail *=" in nb.cells[2].source
    assert nb.cells[6].source.startswith("scores = ")  # the exercise's own setup stays
    assert nb.cells[7].source.startswith("import math")
    assert nb.cells[8].source.endswith("assert _feedback.correct, _feedback")
    assert nb.cells[10].source == chapter().cells[10].source  # hidden cells stay as they are
    path = tmp_path / "solved.ipynb"
    nbformat.write(nb, str(path))
    assert [g.status for g in grade([path], timeout=60)] == ["correct", "correct"]
    broken = chapter()
    del broken.cells[4]  # ex-1-1's solution
    with pytest.raises(ValueError, match="ex-1-1 has no reference solution"):
        solved(broken)
