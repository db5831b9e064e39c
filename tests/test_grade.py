"""The grader on a small class: untouched, half done, all right, one crashing, one timing out,
and a file that is not a notebook; the solved copies of a chapter."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import nbformat
import pytest

from tsc.cli import main
from tsc.grade import exercises, grade, gradebook, solved
from tsc.sandbox import Limits

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
    out = capsys.readouterr()
    records = json.loads(out.out)
    assert "Each notebook runs sandboxed" in out.err  # what confines the students' code is said, on stderr
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


# ---------------------------------------------------------------------------------------------
# Hostile notebooks: each ends in one error record naming what happened, and the grader and the
# rest of the class are unaffected (tsc.sandbox).

SECRET = "tsc-teacher-secret-5c1f"
LIMITS = Limits(memory_mb=2048, processes=128, file_mb=8, output_mb=2)


def hostile(code: str) -> nbformat.NotebookNode:
    """The small chapter with ex-1-1 right and ``code`` in place of ex-1-2's answer."""
    return chapter(first=PASS_AT_K, second=code)


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    import os
    import socketserver
    import subprocess
    import sys
    import threading

    if not sys.platform.startswith("linux"):
        pytest.skip("the sandbox's namespaces, Landlock and seccomp are Linux's")
    folder = tmp_path_factory.mktemp("hostile")
    outside = tmp_path_factory.mktemp("teacher") / "written-by-a-student.txt"
    connections = []

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            connections.append(self.request.recv(100))

    server = socketserver.TCPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    marker = f"tsc-sandbox-orphan-{os.getpid()}"
    class_ = {
        "memory": "hoard = []\nwhile True:\n    hoard.append(bytearray(64 * 2**20))",
        "forks": "import os, time\nwhile True:\n    if os.fork() == 0:\n        time.sleep(600)\n        os._exit(0)",
        "forkbomb": "import os\nwhile True:\n    os.fork()",
        "prints": "while True:\n    print('spam ' * 200)",
        "writes": f"open({str(outside)!r}, 'w').write('gotcha')",
        "peeks": f"print(open({str(folder / 'right.ipynb')!r}).read())",
        "bigfile": "with open('big.bin', 'wb') as f:\n    f.write(bytes(32 * 2**20))",
        "socket": f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=5).sendall(b'hello')",
        "secret": (
            "import glob, os\n"
            f"found = [k for k, v in os.environ.items() if {SECRET!r} in v]\n"
            "for path in glob.glob('/proc/[0-9]*/environ'):\n"
            "    try:\n"
            f"        found += [path] if {SECRET!r}.encode() in open(path, 'rb').read() else []\n"
            "    except OSError:\n"
            "        pass\n"
            "if found:\n"
            "    raise RuntimeError(f'found the secret in {found}')\n" + AGGREGATE
        ),
        "orphan": (
            "import subprocess, sys, time\n"
            f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', {marker!r}], start_new_session=True)\n"
            "time.sleep(300)"
        ),
        "right": AGGREGATE,
    }
    paths = []
    for name, code in class_.items():
        path = folder / f"{name}.ipynb"
        nbformat.write(hostile(code), str(path))
        paths.append(path)
    # the grader's environment holds a secret, and so does another process of the teacher's
    os.environ["TSC_TEACHER_TOKEN"] = SECRET
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], env=dict(os.environ))
    try:
        grades = grade(paths, timeout=15, limits=LIMITS)
    finally:
        del os.environ["TSC_TEACHER_TOKEN"]
        other.kill()
        server.shutdown()
    left = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            left += [cmdline] if marker.encode() in cmdline.read_bytes() else []
        except OSError:
            pass
    return {p.stem: [g for g in grades if g.notebook == str(p)] for p in paths}, outside, connections, left


def only_error(records) -> str:
    """The one error record's text (and ex-1-1 graded correct before it)."""
    errors = [g for g in records if g.status == "error"]
    assert len(errors) == 1, records
    assert [(g.exercise, g.status) for g in records if g.exercise] == [("ex-1-1", "correct"), ("ex-1-2", "not reached")]
    return errors[0].error


def requires(protection: str):
    from tsc.sandbox import describe

    if not describe(LIMITS).get(protection):
        pytest.skip(f"this system does not allow the sandbox to limit {protection} (tsc.sandbox.describe)")


def test_memory_without_end_is_stopped(attacked):
    requires("memory")
    assert "MemoryError" in (error := only_error(attacked[0]["memory"])) and "memory" in error and "2048 MB" in error


def test_processes_without_end_are_stopped(attacked):
    requires("processes")
    for name in ("forks", "forkbomb"):
        error = only_error(attacked[0][name])
        assert "too many processes" in error and "128 processes" in error, error


def test_printing_without_end_is_stopped(attacked):
    error = only_error(attacked[0]["prints"])
    assert "printed more than the limit of 2 MB" in error and "cell 8" in error


def test_a_write_outside_its_folder_is_refused(attacked):
    requires("writes")
    records, outside, _, _ = attacked
    error = only_error(records["writes"])
    assert "PermissionError" in error and "outside its own folder" in error
    assert not outside.exists()


def test_another_students_notebook_cannot_be_read(attacked):
    requires("reads")
    error = only_error(attacked[0]["peeks"])
    assert "PermissionError" in error and "right.ipynb" in error and "outside its own folder" in error


def test_a_file_over_the_limit_is_refused(attacked):
    requires("files")
    assert "File too large" in (error := only_error(attacked[0]["bigfile"])) and "8 MB" in error


def test_no_connection_reaches_a_server_on_this_machine(attacked):
    requires("network")
    records, _, connections, _ = attacked
    error = only_error(records["socket"])
    assert "network connection" in error, error
    assert connections == []


def test_the_teachers_secrets_are_not_found(attacked):
    assert [(g.exercise, g.status) for g in attacked[0]["secret"]] == [("ex-1-1", "correct"), ("ex-1-2", "correct")]


def test_a_notebook_is_killed_at_its_time_limit_with_every_process_it_started(attacked):
    requires("killed with it")
    records, *_, left = attacked
    assert "timed out after 15 s" in only_error(records["orphan"])
    assert left == [], f"processes outlived their notebook: {left}"


def test_the_rest_of_the_class_is_graded(attacked):
    assert [(g.exercise, g.status) for g in attacked[0]["right"]] == [("ex-1-1", "correct"), ("ex-1-2", "correct")]


def test_an_output_widgets_send_does_not_hide_a_waiting_reply():
    """The stall the book build hit (a chapter's explorer cell waiting ~300 s for its reply):
    nbclient's stand-in Output widget sends on the shell socket after the reply has arrived and
    before the event loop looked; the send consumes the socket's wake-up. Unpatched, the poll for
    the reply sleeps; with `wake_after_widget_sends` it returns at once."""
    import asyncio
    import time

    import zmq
    import zmq.asyncio
    from jupyter_client.channels import AsyncZMQSocketChannel
    from jupyter_client.session import Session
    from nbclient.output_widget import OutputWidget

    from tsc.grade import wake_after_widget_sends

    async def reply_seen(publish) -> bool:
        context = zmq.asyncio.Context()
        kernel, client = context.socket(zmq.ROUTER), context.socket(zmq.DEALER)
        client.connect(f"tcp://127.0.0.1:{kernel.bind_to_random_port('tcp://127.0.0.1')}")
        session = Session()
        shell = AsyncZMQSocketChannel(client, session)
        try:
            shell.send(session.msg("execute_request", {}))
            ident = (await kernel.recv_multipart())[0]
            waiting = asyncio.ensure_future(shell.get_msg(timeout=None))
            await asyncio.sleep(0.05)  # the client polls for the reply
            session.send(kernel, "execute_reply", {}, ident=ident)
            time.sleep(0.2)  # a busy client: the reply is there before its loop looks
            widget = OutputWidget("comm", {"outputs": []}, type("Kernel", (), {"session": session, "shell_channel": shell})(), None)
            widget.parent_header = {}
            publish(widget, "comm_msg", data={"method": "update"})
            done, _ = await asyncio.wait([waiting], timeout=1)
            waiting.cancel()
            return bool(done)
        finally:
            client.close(linger=0)
            kernel.close(linger=0)
            context.term()

    if not getattr(OutputWidget._publish_msg, "wakes", False):  # nbclient as shipped
        assert not asyncio.run(reply_seen(OutputWidget._publish_msg)), "fixed upstream? then wake_after_widget_sends can go"
    wake_after_widget_sends()
    assert asyncio.run(reply_seen(OutputWidget._publish_msg))
