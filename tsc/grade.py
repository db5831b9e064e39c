"""Grading handed-in notebooks, and the solved copies of the chapters.

A chapter's exercise is a MyST ``{exercise}`` block labelled ``ex-C-K`` (chapter C, exercise
K), a cell the student edits, a check cell that prints the feedback of a `tsc.exercises`
checker (a line that starts with ✅, ❌ or …), and a ``{solution} ex-C-K`` dropdown with the
reference code. `grade` runs each handed-in notebook top to bottom in a fresh kernel (in a
temporary folder, so the student's file is never touched), reads each check cell's feedback
and returns one record per exercise; a notebook that is not a notebook, crashes or runs out
of time is one ``error`` record, after the exercises it reached. `solved` writes a chapter
with every student cell replaced by its reference solution and every check cell turned into
an assertion that the feedback is correct (``make solutions``; CI runs them).
"""

from __future__ import annotations

import copy
import re
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

STATUSES = ("correct", "incorrect", "not attempted", "not reached")
MARKS = {"✅": "correct", "❌": "incorrect", "…": "not attempted"}
LABEL = re.compile(r"^```+\s*\{exercise\}[^\n]*\n(?:.*\n)*?:label:\s*(ex-\d+-\d+)", re.MULTILINE)
SOLUTION = re.compile(r"\{solution\}\s*(ex-\d+-\d+)")
CODE = re.compile(r"```python\n(.*?)```", re.DOTALL)
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the colours of a traceback
CHECK = re.compile(r"\bexercises\.check_\w+\(|\bcheck_\w+\(")


@dataclass(frozen=True)
class Grade:
    """One line of a gradebook: an exercise's status in one notebook, or the notebook's error
    (``exercise`` None)."""

    notebook: str
    exercise: str | None
    status: str
    message: str
    error: str | None = None

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None or k == "exercise"}


def exercises(nb) -> list[tuple[str, int, int | None]]:
    """Each exercise as (label, index of its check cell, index of the student's cell), in
    notebook order. The check cell is the first shown code cell after the exercise's
    ``{exercise}`` block that calls a checker; the student's cell the code cell just before it
    (None when the check cell follows the block directly)."""
    found, label, start = [], None, 0
    for index, cell in enumerate(nb.cells):
        source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        if cell.cell_type == "markdown":
            match = LABEL.search(source)
            if match:
                label, start = match.group(1), index
            continue
        hidden = "remove-cell" in (cell.get("metadata", {}).get("tags") or [])
        if label and cell.cell_type == "code" and not hidden and CHECK.search(source):
            before = [i for i in range(start + 1, index) if nb.cells[i].cell_type == "code"]
            found.append((label, index, before[-1] if before else None))
            label = None
    return found


def _feedback(cell) -> tuple[str, str] | None:
    """(status, message) from a check cell's output: its first line that starts with a mark."""
    for output in cell.get("outputs", []):
        text = output.get("text") or (output.get("data") or {}).get("text/plain") or ""
        text = text if isinstance(text, str) else "".join(text)
        for line in text.splitlines():
            line = line.strip().strip("'\"")
            for mark, status in MARKS.items():
                if line.startswith(mark):
                    return status, line[len(mark) :].strip()
    return None


def grade_notebook(path: str | Path, *, timeout: float = 600, kernel: str = "python3") -> list[Grade]:
    """Run the notebook at ``path`` in a fresh kernel and grade each of its exercises."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    name = str(path)
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as error:  # not JSON, not a notebook, missing: one record, the class goes on
        detail = " ".join(str(error).split())[:160] or type(error).__name__
        return [Grade(name, None, "error", "", error=f"not a readable notebook ({detail})")]
    wanted = exercises(nb)
    error = None
    with tempfile.TemporaryDirectory(prefix="tsc-grade-") as folder:  # the student's files stay as they are
        client = NotebookClient(nb, timeout=timeout, kernel_name=kernel, resources={"metadata": {"path": folder}}, allow_errors=False)
        deadline = time.monotonic() + timeout
        try:
            # the kernel's own stderr (zmq warnings, its teardown) is not the student's output
            with client.setup_kernel(stderr=subprocess.DEVNULL):
                for index, cell in enumerate(nb.cells):
                    if cell.cell_type != "code":
                        continue
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise CellTimeoutError.error_from_timeout_and_cell("", timeout, cell)
                    client.timeout = max(1, int(left))
                    client.execute_cell(cell, index)
        except CellTimeoutError:
            error = f"timed out after {timeout:g} s (cell {index + 1})"
        except CellExecutionError as failure:
            lines = [line for line in ANSI.sub("", str(failure)).splitlines() if line.strip()]
            error = f"cell {index + 1} raised {lines[-1][:160] if lines else 'an error'}"
        except DeadKernelError:
            error = f"the kernel died in cell {index + 1}"
        except Exception as failure:  # no kernel, say: the notebook could not run at all
            error = f"could not run ({type(failure).__name__}: {' '.join(str(failure).split())[:160]})"
    grades = []
    for label, check, _ in wanted:
        feedback = _feedback(nb.cells[check])
        if feedback is None:
            grades.append(Grade(name, label, "not reached", "the notebook stopped before this exercise's check ran"))
        else:
            grades.append(Grade(name, label, *feedback))
    if error:
        grades.append(Grade(name, None, "error", "", error=error))
    return grades


def grade(paths: list[str | Path], *, timeout: float = 600, progress=None) -> list[Grade]:
    """Every notebook's grades, one notebook after another (a failure stops only its own)."""
    out = []
    for path in paths:
        graded = grade_notebook(path, timeout=timeout)
        out += graded
        if progress:
            progress(path, graded)
    return out


def gradebook(grades: list[Grade]) -> str:
    """Notebooks × exercises: ✅ correct, ❌ incorrect, … not attempted, — not reached; then
    each incorrect answer's and each error's message."""
    symbols = {"correct": "✅", "incorrect": "❌", "not attempted": "…", "not reached": "—"}
    notebooks = list(dict.fromkeys(g.notebook for g in grades))
    labels = sorted({g.exercise for g in grades if g.exercise}, key=lambda s: tuple(int(x) for x in s.split("-")[1:]))
    cell = {(g.notebook, g.exercise): symbols.get(g.status, "?") for g in grades if g.exercise}
    width = max([len(Path(n).name) for n in notebooks] + [8])
    lines = [f"{'notebook':<{width}}  " + "  ".join(f"{label:>7}" for label in labels) + "  correct"]
    for notebook in notebooks:
        marks = [cell.get((notebook, label), " ") for label in labels]
        right = sum(m == "✅" for m in marks)
        lines.append(f"{Path(notebook).name:<{width}}  " + "  ".join(f"{m:>7}" for m in marks) + f"  {right}/{len(labels)}")
    notes = [g for g in grades if g.status in ("incorrect", "error")]
    if notes:
        lines.append("")
        for g in notes:
            what = g.exercise or "notebook"
            lines.append(f"{Path(g.notebook).name} {what}: {g.error or g.message}")
    return "\n".join(lines)


def solved(nb):
    """A copy of chapter ``nb`` with every student cell replaced by the reference solution (the
    first ``python`` block of its ``{solution}`` dropdown) and every check cell asserting that
    its feedback is correct. A ValueError names an exercise without a reference solution.
    (Hidden cells never read what the student's cell defines, so solving an exercise cannot
    break them; `tests/test_notebooks.py` checks that.)"""
    nb = copy.deepcopy(nb)
    solutions = {}
    for cell in nb.cells:
        source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        match = SOLUTION.search(source) if cell.cell_type == "markdown" else None
        if match:
            code = CODE.search(source)
            if code:
                solutions[match.group(1)] = code.group(1)
    for label, check, student in exercises(nb):
        if label not in solutions or student is None:
            raise ValueError(f"exercise {label} has no reference solution (a ```python block in its {{solution}}) or no cell to fill")
        nb.cells[student].source = solutions[label].rstrip() + "\n"
        call = nb.cells[check].source.strip()
        inner = call[len("print(") : -1] if call.startswith("print(") and call.endswith(")") else call
        nb.cells[check].source = f"_feedback = {inner}\nprint(_feedback)\nassert _feedback.correct, _feedback"
    return nb


def write_solutions(sources: list[str | Path], out: str | Path) -> list[Path]:
    """Write the solved copy of each chapter into ``out`` (same file names, atomically)."""
    import nbformat

    from tsc.lm.checkpoint import write_atomic

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sources:
        nb = nbformat.read(str(source), as_version=4)
        target = out / Path(source).name
        write_atomic(target, nbformat.writes(solved(nb)))
        written.append(target)
    return written
