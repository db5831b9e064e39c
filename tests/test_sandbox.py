"""The sandbox of `tsc grade` (tsc.sandbox, tsc.confine): what it passes on, what it says it
does. The hostile notebooks it contains are in tests/test_grade.py."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import tsc.sandbox
from tsc.sandbox import Limits, Sandbox, describe, summary


def test_limits_below_one_are_refused():
    with pytest.raises(ValueError, match="Limits.memory_mb must be at least 1, got 0"):
        Limits(memory_mb=0)


def test_the_kernel_gets_none_of_the_graders_variables(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-teacher")
    monkeypatch.setenv("HF_TOKEN", "hf_teacher")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    with Sandbox() as box:
        env = box.environment()
        assert "OPENAI_API_KEY" not in env and "HF_TOKEN" not in env
        assert env["HOME"] == str(box.work) and env["TMPDIR"] == str(box.work) and env["LC_ALL"] == "C.UTF-8"
        assert env["HF_HUB_OFFLINE"] == "1" and "PATH" in env
        folder = box.folder
    assert not folder.exists(), "the sandbox's folder outlives it"


def test_the_launcher_says_what_it_set_up():
    with Sandbox(Limits(memory_mb=1024)) as box:
        run = subprocess.run(
            [sys.executable, "-m", "tsc.confine", json.dumps(box.spec(probe=True)), "--", "probe"],
            env=box.environment(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    found = json.loads(run.stdout.splitlines()[-1])
    assert found["files"] == "none over 64 MB" and "CPU time" in found["cpu"]
    if sys.platform.startswith("linux"):
        assert "1024 MB of address space per process" in found["memory"]
    assert not (box.folder / "outside").exists()


def test_describe_reports_every_protection_and_never_claims_one_it_lacks(monkeypatch):
    report = describe(Limits(), 600)
    assert {"folder", "environment", "time", "output", "memory", "writes", "network", "killed with it"} <= set(report)
    assert all(how is None or isinstance(how, str) for how in report.values())
    monkeypatch.setattr(tsc.sandbox, "describe", lambda limits, timeout: {"folder": "its own", "writes": None, "network": None})
    lines = summary()
    assert lines[-1].startswith("NOT limited on this system") and lines[-1].endswith("writes, network")


def test_the_launcher_explains_its_usage():
    run = subprocess.run([sys.executable, "-m", "tsc.confine"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "usage" in run.stderr
