"""The kernel launcher of `tsc.sandbox`: confine this process's future, then start the kernel.

Run as ``python -m tsc.confine SPEC_JSON -- KERNEL ARGV...`` (by `tsc.sandbox.Sandbox.command`,
never by hand). On Linux it

1. joins the cgroups the grader made (a cap on processes and memory counted from here on);
2. makes a user, network, PID and mount namespace (``unshare``): no capability of the machine
   is kept (not even by root), there is no network, and only its own processes are visible;
3. forks the namespace's first process, which mounts its own ``/proc``, reaps orphans, and dies
   with this launcher (``PR_SET_PDEATHSIG``), taking every process of the namespace with it;
4. forks the kernel from it with ``setrlimit`` limits, a seccomp filter (``connect`` and
   cross-process tracing refused) and Landlock (writes in its folder only, reads of the Python
   installation and the system's folders only, no TCP, no signal or trace across the boundary).

Each step that the system refuses is skipped; what was set up is what ``SPEC["probe"]`` prints
as JSON instead of starting a kernel (`tsc.sandbox.describe`). Elsewhere (macOS) only the
rlimits and the process group apply.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import signal
import struct
import sys
from pathlib import Path

MB = 1 << 20
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 1 << 14, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP = 1, 38, 22
# Landlock (linux/landlock.h); its three system calls have the same numbers on every architecture
LL_CREATE, LL_ADD_RULE, LL_RESTRICT = 444, 445, 446
LL_EXECUTE, LL_WRITE_FILE, LL_READ_FILE, LL_READ_DIR = 1, 2, 4, 8
LL_REMOVE_FILE, LL_MAKE_SOCK, LL_REFER, LL_TRUNCATE = 1 << 5, 1 << 9, 1 << 13, 1 << 14
LL_WRITES_V1 = sum(1 << bit for bit in range(4, 13))  # remove dir/file, make char/dir/reg/sock/fifo/block/sym
LL_FILE_ONLY = LL_EXECUTE | LL_WRITE_FILE | LL_READ_FILE | LL_TRUNCATE
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
# seccomp: (audit arch, syscalls refused: connect, ptrace, process_vm_readv, process_vm_writev)
SECCOMP = {"x86_64": (0xC000003E, (42, 101, 310, 311)), "aarch64": (0xC00000B7, (203, 117, 270, 271))}


class Found(dict):
    """protection -> the mechanisms that give it, as a teacher reads them."""

    def add(self, key: str, how: str) -> None:
        self.setdefault(key, []).append(how)

    def text(self) -> dict[str, str]:
        return {key: "; ".join(hows) for key, hows in self.items()}


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def join_cgroups(groups: list[str], limits: dict, found: Found) -> None:
    for group in groups:
        try:
            _write(os.path.join(group, "cgroup.procs"), str(os.getpid()))
        except OSError:
            continue
        if os.path.exists(os.path.join(group, "pids.max")):
            found.add("processes", f"{limits['processes']} processes and threads in all (cgroup)")
            found.add("killed with it", "its cgroup is emptied")
        if any(os.path.exists(os.path.join(group, name)) for name in ("memory.max", "memory.limit_in_bytes")):
            found.add("memory", f"{limits['memory_mb']} MB for all its processes together (cgroup)")


def unshare(libc) -> bool:
    """User, network, PID and mount namespaces for everything started from here. The user
    namespace maps this user to itself: no capability of the machine's survives in it."""
    uid, gid = os.geteuid(), os.getegid()
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWNS) != 0:
        return False
    try:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    except OSError:
        return False
    return True


def own_proc(libc) -> bool:
    """In the namespace's first process: a /proc that shows only the namespace's processes."""
    if libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        return False
    return libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None) == 0


def rlimits(limits: dict, in_namespace: bool, found: Found) -> None:
    import resource

    def cap(kind, value) -> bool:
        try:
            resource.setrlimit(kind, (value, value))
            return True
        except (ValueError, OSError):
            return False

    if sys.platform.startswith("linux") and cap(resource.RLIMIT_AS, limits["memory_mb"] * MB):  # macOS ignores it
        found.add("memory", f"{limits['memory_mb']} MB of address space per process")
    if cap(resource.RLIMIT_CPU, limits["cpu_seconds"]):
        found.add("cpu", f"{limits['cpu_seconds']} s of CPU time per process")
    if cap(resource.RLIMIT_FSIZE, limits["file_mb"] * MB):
        found.add("files", f"none over {limits['file_mb']} MB")
    cap(resource.RLIMIT_CORE, 0)
    # RLIMIT_NPROC counts every process of the user (in a new user namespace, only this
    # sandbox's); root is exempt from it, and gets a cgroup instead where one can be made.
    if os.geteuid() != 0 and "processes" not in found:
        others = 0 if in_namespace else _own_tasks()
        if cap(resource.RLIMIT_NPROC, limits["processes"] + others):
            found.add("processes", f"{limits['processes']} processes and threads")


def _own_tasks() -> int:
    """How many processes (and, on Linux, threads) this user runs now: RLIMIT_NPROC counts
    them all, so the sandbox's allowance is added to them. From /proc on Linux, from ps
    elsewhere (macOS counts processes only)."""
    uid, count = str(os.getuid()), 0
    if not os.path.isdir("/proc/self"):
        import subprocess

        try:
            listing = subprocess.run(["ps", "-U", uid, "-o", "pid="], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return 1024  # cannot tell: leave room rather than stop the kernel from starting
        return len(listing.split())
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        if fields.get("Uid", "").split()[:1] == [uid]:
            count += int(fields.get("Threads", "1").strip() or 1)
    return count


def seccomp(libc) -> bool:
    """A classic BPF filter: connect() (TCP, UDP or Unix: no database, Docker daemon or SSH
    agent of the machine) and reading or tracing another process's memory fail with EACCES."""
    if platform.machine() not in SECCOMP:
        return False
    arch, denied = SECCOMP[platform.machine()]
    load, equal, at_least, ret = 0x20, 0x15, 0x35, 0x06
    refuse, allow = 0x00050000 | 13, 0x7FFF0000  # SECCOMP_RET_ERRNO | EACCES, SECCOMP_RET_ALLOW
    program = [(load, 0, 0, 4), (equal, 1, 0, arch), (ret, 0, 0, refuse), (load, 0, 0, 0)]
    program.append((at_least, len(denied) + 1, 0, 0x40000000))  # x32 system calls: refused
    program += [(equal, len(denied) - i, 0, number) for i, number in enumerate(denied)]
    program += [(ret, 0, 0, allow), (ret, 0, 0, refuse)]
    code = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *op) for op in program))
    fprog = struct.pack("HxxxxxxQ", len(program), ctypes.addressof(code))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    return libc.prctl(PR_SET_SECCOMP, 2, ctypes.c_char_p(fprog), 0, 0) == 0


def landlock(libc, spec: dict, found: Found) -> None:
    """Writes only in its folder (and Unix sockets in ``kernel/``), reads only where
    ``spec["readable"]`` says; with ABI 4 no TCP, with ABI 6 no signal across the boundary.
    Tracing (and so /proc/PID/environ) of a process outside is refused by every ABI."""
    abi = libc.syscall(LL_CREATE, None, 0, 1)
    if abi < 1:
        return
    writes = LL_WRITES_V1 | LL_WRITE_FILE | (LL_REFER if abi >= 2 else 0) | (LL_TRUNCATE if abi >= 3 else 0)
    reads = LL_EXECUTE | LL_READ_FILE | LL_READ_DIR
    handled, net, scoped = reads | writes, 3 if abi >= 4 else 0, 3 if abi >= 6 else 0
    attr = struct.pack("QQQ", handled, net, scoped)[: 8 if abi < 4 else 16 if abi < 6 else 24]
    ruleset = libc.syscall(LL_CREATE, attr, len(attr), 0)
    if ruleset < 0:
        return

    def allow(path: str, access: int) -> None:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return
        access &= handled if os.path.isdir(path) else LL_FILE_ONLY
        libc.syscall(LL_ADD_RULE, ruleset, 1, struct.pack("=Qi", access, fd), 0)
        os.close(fd)

    for path in spec["readable"]:
        allow(path, reads)
    for path in DEVICES:
        allow(path, LL_READ_FILE | LL_WRITE_FILE | LL_TRUNCATE)
    allow(spec["work"], handled)
    allow(spec["sockets"], reads | LL_MAKE_SOCK | LL_REMOVE_FILE)
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if libc.syscall(LL_RESTRICT, ruleset, 0) != 0:
        return
    found.add("writes", "only inside its own folder (Landlock)")
    found.add("reads", "only the Python installation, the system's folders and its own (Landlock)")
    found.add("other processes", "none outside can be traced or its environment read (Landlock)")
    if net:
        found.add("network", "no TCP (Landlock)")
    if scoped:
        found.add("other processes", "none outside can be signalled (Landlock)")


def probe(spec: dict, found: Found) -> None:
    """Print what was set up as JSON, after checking that a write outside and a connection
    are refused (not assumed)."""
    try:
        (Path(spec["work"]).parent / "outside").write_text("x")
        found.pop("writes", None)
    except OSError:
        pass
    import socket

    try:
        socket.create_connection(("127.0.0.1", 9), timeout=1).close()
        found.pop("network", None)
    except OSError as error:
        if error.errno not in (1, 13, 101):  # refused by the sandbox, or no route at all
            found.pop("network", None)
    print(json.dumps(found.text()), flush=True)


def launch(spec: dict, argv: list[str]) -> int:
    """Start ``argv`` confined as the module docstring says; return its exit status
    (128 + the signal that ended it)."""
    linux = sys.platform.startswith("linux")
    libc = _libc() if linux else None
    found = Found()
    if linux:
        join_cgroups(spec["cgroups"], spec["limits"], found)
    namespaces = linux and unshare(libc)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # an interrupt is the kernel's (it reaches it through the process group)
    launcher = os.getpid()
    first = os.fork()
    if first:
        return _status(os.waitpid(first, 0)[1])
    # the namespace's first process (without namespaces, a plain go-between)
    if linux:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() not in (launcher, 0):  # the launcher died first (its pid reads 0 across the namespace)
            os._exit(137)
    if namespaces:
        found.add("killed with it", "every process it started dies with it (PID namespace)")
        found.add("network", "none at all, not even 127.0.0.1 of this machine (network namespace)")
        found.add("other processes", "none visible (PID namespace" + (", its own /proc)" if own_proc(libc) else ")"))
    elif os.name == "posix":
        found.add("killed with it", "its process group is killed (a process that starts a session of its own survives)")
    kernel = os.fork()
    if kernel:
        while True:  # reap every orphan until the kernel itself ends
            try:
                pid, status = os.wait()
            except ChildProcessError:
                os._exit(0)
            if pid == kernel:
                os._exit(_status(status))
    # the kernel
    if linux:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.chdir(spec["work"])
    rlimits(spec["limits"], bool(namespaces), found)
    if linux:
        if seccomp(libc):
            found.add("network", "connect() refused to every socket, Unix sockets included (seccomp)")
        landlock(libc, spec, found)
    if spec.get("probe"):
        probe(spec, found)
        os._exit(0)
    # ipykernel quits when its parent's pid reads 1, as it always does in the PID namespace; the
    # namespace and PR_SET_PDEATHSIG end it with the grader instead
    env = {key: value for key, value in os.environ.items() if key != "JPY_PARENT_PID"}
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as error:
        print(f"tsc.confine: cannot start {argv[0]}: {error}", file=sys.stderr, flush=True)
        os._exit(127)


def _status(status: int) -> int:
    return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        print("usage (tsc grade starts it): python -m tsc.confine SPEC_JSON -- KERNEL_ARGV...", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(launch(json.loads(sys.argv[1]), sys.argv[3:]))
