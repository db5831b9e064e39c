"""A kernel that cannot harm the machine that grades it.

`tsc grade` runs code that students wrote, with the teacher's rights. Each notebook's kernel
starts through this module, in a folder of its own (its working directory and ``HOME``), with an
environment that carries none of the teacher's variables, and with limits on memory, CPU time,
processes, file size and (counted by the grader, `tsc.grade`) output. When its time is up it is
killed with every process it started. Where the system allows it, more is cut off:

- **Linux**: a user, network and PID namespace (``unshare``): no network at all (not even
  127.0.0.1 of the machine), no other process visible, and all of its processes die with it;
  Landlock: it may write only in its folder and read only the Python installation, the
  system's folders and its own, it can neither signal nor trace a process outside, nor use
  TCP; seccomp: ``connect()`` is refused, so no socket of the machine (a database, the Docker
  daemon, an SSH agent) can be reached; as root, where cgroups can be made, a cap on the
  processes and memory of all its processes together (``RLIMIT_NPROC`` does not bind root).
- **macOS**: the limits on CPU time, processes and file size (macOS does not enforce memory
  limits), its own folder and a clean environment; writes, reads and the network are NOT cut.
- **Windows**: the time limit (the kernel is killed), the output cap, its own folder and a
  clean environment only.

`describe` says which of these hold on the machine at hand; `tsc grade` prints it before it
grades, so nobody is told a notebook was contained when it was not. The kernel is started by
`tsc.confine` (``python -m tsc.confine SPEC -- KERNEL ARGV``), which sets all this up in the
kernel's own process before it starts.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

MB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """What one notebook's kernel may use. ``cpu_seconds`` None: the notebook's time limit
    times the cores (a backstop: the wall clock is the time limit)."""

    memory_mb: int = 4096  # address space of each process; and of all together, where a cgroup can be made
    processes: int = 256  # processes and threads together (a kernel with torch loaded runs about 20)
    file_mb: int = 64  # the largest file it may write
    output_mb: int = 16  # all it may print or show (no chapter came near it when graded in the sandbox)
    cpu_seconds: int | None = None

    def __post_init__(self):
        for name in ("memory_mb", "processes", "file_mb", "output_mb"):
            if getattr(self, name) < 1:
                raise ValueError(f"Limits.{name} must be at least 1, got {getattr(self, name)}")


# Environment variables a kernel is given from the grader's own (nothing else: no tokens, no keys).
PASSED_ON = ("PATH", "LANG", "LANGUAGE", "TZ", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "SYSTEMROOT")
# Folders a kernel may read (Linux, Landlock) besides the Python installation and its own folder.
SYSTEM_FOLDERS = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc", "/proc", "/sys", "/dev", "/var/cache/fontconfig")


class Sandbox:
    """One kernel's confinement: its folder (``work``, and ``kernel`` for its connection file
    and sockets), the environment and command that start it, and what kills it.
    Use as a context manager: leaving it kills what is left and removes the folder."""

    def __init__(self, limits: Limits = Limits(), *, timeout: float = 600):
        self.limits = limits
        cpu = limits.cpu_seconds or int(timeout * (os.cpu_count() or 1)) + 60
        self.cpu_seconds = cpu
        self.folder = Path(tempfile.mkdtemp(prefix="tsc-grade-"))
        self.work, self.sockets = self.folder / "work", self.folder / "kernel"
        self.work.mkdir()
        self.sockets.mkdir()
        self.cgroups = _make_cgroups(self.folder.name, limits) if sys.platform.startswith("linux") else []
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *_) -> None:
        self.close()

    def environment(self) -> dict[str, str]:
        """The kernel's whole environment: a few harmless variables of the grader's, the rest
        pointing into its own folder."""
        env = {name: os.environ[name] for name in PASSED_ON if name in os.environ}
        env.update({key: value for key, value in os.environ.items() if key.startswith("LC_")})
        work = str(self.work)
        env.update(HOME=work, USERPROFILE=work, TMPDIR=work, TEMP=work, TMP=work, MPLCONFIGDIR=str(self.work / ".matplotlib"))
        env.update(XDG_CACHE_HOME=str(self.work / ".cache"), XDG_CONFIG_HOME=str(self.work / ".config"))
        env.update(IPYTHONDIR=str(self.work / ".ipython"))
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONNOUSERSITE="1", PYDEVD_DISABLE_FILE_VALIDATION="1")
        env.setdefault("OMP_NUM_THREADS", "1")  # grading is one notebook after another, as the chapters are tested
        env.setdefault("PATH", os.defpath)
        return env

    def spec(self, *, probe: bool = False) -> dict:
        """What the launcher needs to know (passed as JSON on its command line)."""
        return {
            "work": str(self.work),
            "sockets": str(self.sockets),
            "readable": readable_folders(),
            "limits": asdict(self.limits) | {"cpu_seconds": self.cpu_seconds},
            "cgroups": [str(path) for path in self.cgroups],
            "probe": probe,
        }

    def command(self, kernel_argv: list[str]) -> list[str]:
        """The kernel's command line wrapped in the launcher (POSIX; unchanged on Windows)."""
        if os.name != "posix":
            return list(kernel_argv)
        return [sys.executable, "-m", "tsc.confine", json.dumps(self.spec()), "--", *kernel_argv]

    def kernel_manager(self, kernel_name: str = "python3"):
        """A jupyter_client kernel manager whose kernel starts inside this sandbox. On POSIX it
        talks to the kernel over Unix sockets in ``kernel/`` (TCP on 127.0.0.1 would not cross
        the network namespace)."""
        from jupyter_client.manager import AsyncKernelManager

        sandbox = self

        class SandboxedKernelManager(AsyncKernelManager):
            def format_kernel_cmd(self, extra_arguments=None):
                return sandbox.command(super().format_kernel_cmd(extra_arguments))

        options = {"kernel_name": kernel_name, "connection_file": str(self.sockets / "connection.json")}
        if os.name == "posix":
            options.update(transport="ipc", ip=str(self.sockets / "ipc"))
        return SandboxedKernelManager(**options)

    def start_options(self) -> dict:
        """Keyword arguments for ``start_kernel``: its folder, its environment, and its own
        stdout/stderr thrown away (what it prints reaches the grader only as output)."""
        return {"cwd": str(self.work), "env": self.environment(), "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}

    def kill(self, pid: int | None = None) -> None:
        """Kill the kernel's launcher and its process group now, and (where there is one)
        every process in its cgroup. In the PID namespace the rest dies with the launcher."""
        if pid and os.name == "posix":
            for kill in (lambda: os.killpg(os.getpgid(pid), signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
                try:
                    kill()
                except (OSError, ProcessLookupError):
                    pass
        for group in self.cgroups:
            _kill_cgroup(group)

    def out_of_memory(self) -> bool:
        """Whether the cgroup's memory cap killed one of its processes."""
        return any(_cgroup_oom(group) for group in self.cgroups)

    def too_many_processes(self) -> bool:
        """Whether a process could not start for the cgroup's cap on processes."""
        return any(_cgroup_count(group / "pids.events", "max") > 0 for group in self.cgroups)

    def close(self) -> None:
        self.kill()
        for group in self.cgroups:
            for _ in range(50):
                try:
                    group.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    _kill_cgroup(group)
                    time.sleep(0.05)
        shutil.rmtree(self.folder, ignore_errors=True)


def readable_folders() -> list[str]:
    """What a kernel may read under Landlock: the system's folders, the Python installation
    (with its site-packages), this package (an editable install lives outside them), and the
    kernel specs; not the folder the grader runs in (the class's notebooks may be there)."""
    places = [*SYSTEM_FOLDERS, sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    places += [str(Path(sys.executable).parent), str(Path(os.path.realpath(sys.executable)).parent.parent)]
    places += [p for p in sys.path if p.endswith(("site-packages", "dist-packages", ".zip"))]
    places.append(str(Path(__file__).resolve().parent))  # the package: this module's folder
    try:
        from jupyter_core.paths import jupyter_path

        places += jupyter_path("kernels")
    except ImportError:
        pass
    return list(dict.fromkeys(real for real in map(os.path.realpath, places) if os.path.exists(real)))  # in order, each once


@cache
def describe(limits: Limits = Limits(), timeout: float = 600) -> dict[str, str | None]:
    """What confines a kernel on this machine, found by starting the launcher once without a
    kernel: protection -> how it is done, or None where this system does not allow it."""
    report: dict[str, str | None] = {
        "folder": "its own temporary folder (working directory and HOME), removed afterwards",
        "environment": "none of the grader's variables but PATH, the locale and thread counts",
        "time": "killed at the time limit",
        "output": f"stopped after {limits.output_mb} MB of output",
    }
    keys = ("memory", "cpu", "processes", "files", "killed with it", "writes", "reads", "network", "other processes")
    report.update(dict.fromkeys(keys))
    if os.name != "posix":
        return report
    with Sandbox(limits, timeout=timeout) as box:
        run = subprocess.run(
            [sys.executable, "-m", "tsc.confine", json.dumps(box.spec(probe=True)), "--", "probe"],
            env=box.environment(),
            cwd=box.work,
            capture_output=True,
            text=True,
            timeout=60,
        )
    try:
        found = json.loads(run.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        found = {}
    report.update({key: found.get(key) for key in keys})
    return report


def summary(limits: Limits = Limits(), timeout: float = 600) -> list[str]:
    """``describe`` as lines a teacher reads: what holds, then what does not."""
    report = describe(limits, timeout)
    held = [f"  {key}: {how}" for key, how in report.items() if how]
    missing = [key for key, how in report.items() if not how]
    lines = ["Each notebook runs sandboxed:", *held]
    if missing:
        lines.append(f"NOT limited on this system ({platform.system()}): {', '.join(missing)}")
    return lines


# ---------------------------------------------------------------------------------------------
# cgroups (root only in practice: a place where the grader may make one)


def _own_cgroups() -> dict[str, str]:
    """controller -> this process's cgroup path, from /proc/self/cgroup ("" is cgroup v2)."""
    out = {}
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                out[controller] = path
    except (OSError, ValueError):
        pass
    return out


def _make_cgroups(name: str, limits: Limits) -> list[Path]:
    """A cgroup capping the kernel's processes and memory together, where this process may make
    one (cgroup v2 with the controllers delegated, or v1's pids and memory hierarchies);
    otherwise none."""
    own, root = _own_cgroups(), Path("/sys/fs/cgroup")
    memory = str(limits.memory_mb * MB)
    try:
        if (root / "cgroup.controllers").exists() and "" in own:  # cgroup v2
            parent = root / own[""].lstrip("/")
            if not {"pids", "memory"} <= set((parent / "cgroup.subtree_control").read_text().split()):
                (parent / "cgroup.subtree_control").write_text("+pids +memory")
            group = parent / name
            group.mkdir()
            (group / "pids.max").write_text(str(limits.processes))
            (group / "memory.max").write_text(memory)
            if (group / "memory.swap.max").exists():
                (group / "memory.swap.max").write_text("0")
            return [group]
        made = []
        for controller, limit_file, value in (("pids", "pids.max", str(limits.processes)), ("memory", "memory.limit_in_bytes", memory)):
            if controller not in own or not (root / controller).is_dir():
                continue
            group = root / controller / own[controller].lstrip("/") / name
            try:
                group.mkdir()
                (group / limit_file).write_text(value)
                made.append(group)
            except OSError:
                if group.exists():
                    group.rmdir()
        return made
    except OSError:
        return []


def _kill_cgroup(group: Path) -> None:
    try:
        if (group / "cgroup.kill").exists():
            (group / "cgroup.kill").write_text("1")
            return
        for pid in (group / "cgroup.procs").read_text().split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
    except OSError:
        pass


def _cgroup_count(path: Path, key: str) -> int:
    """The count named ``key`` in a cgroup's events file (0 where there is none)."""
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _cgroup_oom(group: Path) -> bool:
    if _cgroup_count(group / "memory.events", "oom_kill") or _cgroup_count(group / "memory.oom_control", "oom_kill"):
        return True
    try:
        return int((group / "memory.failcnt").read_text()) > 0 and not (group / "memory.events").exists()
    except (OSError, ValueError):
        return False
