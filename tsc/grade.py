"""Grading handed-in notebooks, and the solved copies of the chapters.

A chapter's exercise is a MyST ``{exercise}`` block labelled ``ex-C-K`` (chapter C, exercise
K), a cell the student edits, a check cell that prints the feedback of a `tsc.exercises`
checker (a line that starts with ✅, ❌ or …), and a ``{solution} ex-C-K`` dropdown with the
reference code. `grade` runs each handed-in notebook top to bottom in a fresh kernel confined by
`tsc.sandbox` (its own temporary folder, a clean environment, limits; the student's file is
never touched), reads each check cell's feedback and returns one record per exercise; a
notebook that is not a notebook, crashes, runs out of time or hits a limit is one ``error``
record naming what happened, after the exercises it reached. `solved` writes a chapter
with every student cell replaced by its reference solution and every check cell turned into
an assertion that the feedback is correct (``make solutions``; CI runs them).
"""

from __future__ import annotations

import copy
import json
import re
import signal
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tsc.sandbox import MB, Limits, Sandbox

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


def wake_after_widget_sends() -> None:
    """Keep nbclient from stalling after a cell that draws into an ipywidgets Output (the
    explorers): nbclient's stand-in for the widget sends each output back to the kernel on the
    shell socket, through a blocking twin of the asyncio socket, and that send can use up the
    wake-up of an execute_reply just arrived; the reply then waits unread until the client's
    timeout (300 s in the book build; jupyter/nbclient#312, jupyter/jupyter_client#1059).
    Reading EVENTS on the asyncio socket after each send wakes the waiting poll."""
    import zmq
    from nbclient.output_widget import OutputWidget

    send = OutputWidget._publish_msg
    if getattr(send, "wakes", False):
        return

    def publish(self, *args, **kwargs) -> None:
        send(self, *args, **kwargs)
        self.kernel_client.shell_channel.socket.get(zmq.EVENTS)

    publish.wakes = True  # type: ignore[attr-defined]
    OutputWidget._publish_msg = publish


class _Client:
    """nbclient's NotebookClient that counts what the kernel sends and kills the kernel (and
    every process it started) once it has sent more than ``limit`` bytes."""

    def __new__(cls, nb, *, box: Sandbox, limit: int, **options):
        from nbclient import NotebookClient

        wake_after_widget_sends()

        class Counting(NotebookClient):
            def process_message(self, msg, cell, cell_index):
                if self.flooded is not None:
                    return None  # the kernel is being killed: what it still sends is dropped
                self.received += len(json.dumps(msg.get("content", {}), default=str))
                if self.received > limit:
                    self.flooded = cell_index
                    box.kill(self.kernel_pid())
                    return None
                return super().process_message(msg, cell, cell_index)

            def kernel_pid(self) -> int | None:
                process = getattr(getattr(self.km, "provisioner", None), "process", None)
                return getattr(process, "pid", None)

            def kernel_status(self) -> int | None:
                process = getattr(getattr(self.km, "provisioner", None), "process", None)
                return process.poll() if process is not None else None

        client = Counting(nb, km=box.kernel_manager(options.pop("kernel")), **options)
        client.received, client.flooded = 0, None
        return client


class _Watchdog:
    """Kills the kernel as soon as it hits the sandbox's cap on processes (where a cgroup
    counts it): a fork bomb breaks the kernel's own sockets (its children share them), so
    waiting for its error would wait for the time limit."""

    def __init__(self, box: Sandbox, client):
        self.box, self.client, self.tripped = box, client, False
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.watch, daemon=True)

    def watch(self) -> None:
        while not self.stop.wait(0.25):
            if self.box.too_many_processes():
                self.tripped = True
                self.box.kill(self.client.kernel_pid())
                return

    def __enter__(self):
        if self.box.cgroups:
            self.thread.start()
        return self

    def __exit__(self, *_):
        self.stop.set()


def _raised(failure: Exception, cell: int, limits: Limits) -> str:
    """The error record of a cell that raised: its last line, and what the sandbox did when
    the cause is one of its limits."""
    text = ANSI.sub("", str(failure))
    lines = [line for line in text.splitlines() if line.strip()]
    last = lines[-1][:160] if lines else "an error"
    why = ""
    if last.startswith("MemoryError"):
        why = f"it ran out of memory: the limit is {limits.memory_mb} MB"
    elif "Resource temporarily unavailable" in last and re.search(r"fork|Popen|spawn|Thread|start", text):
        why = f"it started too many processes: the limit is {limits.processes} processes and threads"
    elif "File too large" in last:
        why = f"it wrote a file over the limit of {limits.file_mb} MB"
    elif re.search(r"\[Errno (13|1|101|111)\]", last) and re.search(r"socket|connect|urlopen|http", text, re.IGNORECASE):
        why = "it tried to open a network connection, which the grader does not allow"
    elif re.search(r"PermissionError|Read-only file system|\[Errno (13|1|30)\]", last):
        why = "it tried to use a file outside its own folder, which the grader does not allow"
    return f"cell {cell + 1} raised {last}" + (f" ({why})" if why else "")


def _died(status: int | None, cell: int, limits: Limits, box: Sandbox) -> str:
    """The error record of a kernel that died, from how it ended."""
    if box.out_of_memory() or status == 128 + signal.SIGKILL:
        cause = f"killed: it used more than the memory limit of {limits.memory_mb} MB" if box.out_of_memory() else "killed"
    elif status == 128 + getattr(signal, "SIGXCPU", 24):
        cause = f"stopped: it used more than {box.cpu_seconds} s of CPU time"
    elif status is not None and status > 128:
        cause = f"stopped by signal {signal.Signals(status - 128).name}" if status - 128 in signal.Signals._value2member_map_ else "stopped"
    else:
        cause = "ended" if status is None else f"ended with status {status}"
    return f"the kernel died in cell {cell + 1} ({cause})"


def grade_notebook(path: str | Path, *, timeout: float = 600, kernel: str = "python3", limits: Limits | None = None) -> list[Grade]:
    """Run the notebook at ``path`` in a fresh, sandboxed kernel (`tsc.sandbox`) and grade
    each of its exercises."""
    import nbformat
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    limits = limits or Limits()
    name = str(path)
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as error:  # not JSON, not a notebook, missing: one record, the class goes on
        detail = " ".join(str(error).split())[:160] or type(error).__name__
        return [Grade(name, None, "error", "", error=f"not a readable notebook ({detail})")]
    wanted = exercises(nb)
    error, index, watchdog = None, 0, None
    with Sandbox(limits, timeout=timeout) as box:  # the student's files stay as they are
        client = _Client(nb, box=box, limit=limits.output_mb * MB, kernel=kernel, timeout=timeout, allow_errors=False)
        deadline = time.monotonic() + timeout
        try:
            with client.setup_kernel(cleanup_kc=True, **box.start_options()), _Watchdog(box, client) as watchdog:
                for index, cell in enumerate(nb.cells):
                    if cell.cell_type != "code":
                        continue
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise CellTimeoutError.error_from_timeout_and_cell("", timeout, cell)
                    client.timeout = max(1, int(left))
                    client.execute_cell(cell, index)
        except CellTimeoutError:
            error = f"timed out after {timeout:g} s (cell {index + 1}); stopped with every process it started"
        except CellExecutionError as failure:
            error = _raised(failure, index, limits)
        except DeadKernelError:
            error = _died(client.kernel_status(), index, limits, box)
        except Exception as failure:  # no kernel, say: the notebook could not run at all
            error = f"could not run ({type(failure).__name__}: {' '.join(str(failure).split())[:160]})"
        finally:
            box.kill(client.kernel_pid())
        if client.flooded is not None:
            error = f"cell {client.flooded + 1} printed more than the limit of {limits.output_mb} MB of output: stopped there"
        elif watchdog is not None and watchdog.tripped:
            error = f"cell {index + 1} started too many processes: stopped at the limit of {limits.processes} processes and threads"
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


def grade(paths: list[str | Path], *, timeout: float = 600, limits: Limits | None = None, progress=None) -> list[Grade]:
    """Every notebook's grades, one notebook after another, each in its own sandbox (a failure
    stops only its own)."""
    out = []
    for path in paths:
        graded = grade_notebook(path, timeout=timeout, limits=limits)
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

    from tsc.io import write_atomic

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sources:
        nb = nbformat.read(str(source), as_version=4)
        target = out / Path(source).name
        write_atomic(target, nbformat.writes(solved(nb)))
        written.append(target)
    return written
