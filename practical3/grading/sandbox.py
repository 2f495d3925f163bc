"""Run a student's notebook as untrusted code: its own user, limits, and a time limit.

Each submission runs in its own scratch copy of the course. Where the grader runs as root, the
run also gets a user id of its own (``SANDBOX_UID + n``, no login, no groups), which owns only
that scratch copy: the teacher's checkout, the gradebook and the other submissions are then
read-only to it, as the file system's permissions say. Otherwise, on Linux where mount
namespaces are allowed (root, or unprivileged user namespaces), the run sees the teacher's
checkout, the submissions, the grader's output and work folders as read-only bind mounts in a
mount namespace of its own, with only its scratch copy writable (``read_only_mounts``);
tests/test_grade.py tries to write into each. Elsewhere the scratch copy is the only
separation, and ``isolation()`` says so.
Every run gets an address-space limit, a file-size limit, no core files and a wall-clock
limit; past it, the run and every process it started (its kernel too) are killed.
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SANDBOX_UID = 61000  # the first user id lent to a submission (no account needed)


@dataclass(frozen=True)
class Limits:
    """What one notebook run may use."""

    timeout_s: float = 600.0
    memory_bytes: int = 8 * 2**30  # address space: torch alone maps about 4 GiB
    file_bytes: int = 2 * 2**30


@dataclass(frozen=True)
class Finished:
    """How a run ended: its exit status (None when killed at the time limit) and its output."""

    returncode: int | None
    output: str

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def others_can_run(path: Path) -> bool:
    """Whether a user of no group can reach and run ``path`` (every folder above it open)."""
    return all(p.stat().st_mode & 0o001 for p in [path, *path.parents])


def separate_users() -> bool:
    """Whether runs can get a user id of their own: the grader runs as root, and another user
    can run this Python (a venv on an interpreter under a closed /root cannot)."""
    return os.geteuid() == 0 and others_can_run(Path(sys.executable).resolve()) \
        and others_can_run(Path(sys.prefix).resolve())


def _unshare(command: Sequence[str]) -> list[str]:
    """``command`` in a mount namespace of its own (mapped to root when not root)."""
    as_root = [] if os.geteuid() == 0 else ["--map-root-user"]
    return ["unshare", "--mount", "--propagation", "private", *as_root, *command]


@functools.cache
def read_only_mounts() -> bool:
    """Whether runs can get read-only bind mounts in a mount namespace of their own: Linux,
    ``unshare`` on the PATH, and namespaces allowed (probed once, on a throwaway bind)."""
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return False
    here = shlex.quote(str(Path(sys.prefix).resolve()))
    probe = _unshare(["sh", "-ec", f"mount --bind {here} {here}; "
                                   f"mount -o remount,bind,ro {here} {here}"])
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


def confined(command: Sequence[str], protected: Sequence[Path], writable: Path
             ) -> list[str]:
    """``command`` run where every folder of ``protected`` is a read-only bind mount and
    ``writable`` (inside one of them, e.g. the submission's scratch copy) is writable again."""
    steps = [f"mount --bind {shlex.quote(str(p))} {shlex.quote(str(p))} && "
             f"mount -o remount,bind,ro {shlex.quote(str(p))} {shlex.quote(str(p))}"
             for p in protected]
    here = shlex.quote(str(writable))  # a bind inside a read-only one is read-only until remounted
    steps.append(f"mount --bind {here} {here} && mount -o remount,bind,rw {here} {here}")
    return _unshare(["sh", "-ec", "; ".join([*steps, 'exec "$@"']), "sh", *command])


def isolation() -> str:
    """What keeps a submission from the teacher's files and the others', in a sentence."""
    if separate_users():
        return ("each submission runs as a user of its own in its own scratch copy: the "
                "teacher's files, the gradebook and other submissions are read-only to it")
    if read_only_mounts():
        return ("each submission runs in its own scratch copy, in a mount namespace where the "
                "teacher's checkout, the submissions, the gradebook's folder and the grader's "
                "work folder are read-only")
    why = "the grader is not root" if os.geteuid() else \
        f"other users cannot run {Path(sys.executable).resolve()}"
    return (f"each submission runs in its own scratch copy, as the grader's own user ({why}): "
            "run the grader as root with a Python every user can run (e.g. in a container) "
            "to give each submission a user of its own")


def hand_over(folder: Path, uid: int | None) -> None:
    """Make ``folder`` (and all in it) the property of ``uid``, when runs have their own."""
    if uid is None:
        return
    for path in [folder, *folder.rglob("*")]:
        os.lchown(path, uid, uid)


def _limit(limits: Limits, uid: int | None) -> None:
    """In the child, before it runs anything: the limits, then the user."""
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)


def run(command: Sequence[str], cwd: Path, env: Mapping[str, str], limits: Limits,
        uid: int | None = None, protected: Sequence[Path] = (),
        writable: Path | None = None) -> Finished:
    """Run ``command`` in ``cwd`` with only ``env``, ``limits`` and (as root) user ``uid``;
    without a user of its own, ``protected`` folders are mounted read-only where the system
    allows it, all but ``writable``."""
    if uid is None and protected and writable is not None and read_only_mounts():
        command = confined(command, protected, writable)
    process = subprocess.Popen(list(command), cwd=cwd, env=dict(env), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True,
                               preexec_fn=lambda: _limit(limits, uid))
    try:
        output, _ = process.communicate(timeout=limits.timeout_s)
        finished = Finished(process.returncode, output[-4000:])
    except subprocess.TimeoutExpired:
        kill_tree(process.pid)  # still unreaped, so its id is still its own
        output, _ = process.communicate()
        finished = Finished(None, output[-4000:])
    if uid is not None:
        kill_user(uid)  # anything it left behind, even detached from its tree
    return finished


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return tree


def kill_user(uid: int) -> None:
    """SIGKILL every process of the sandbox user ``uid`` (never the grader's own)."""
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            lines = status.read_text().splitlines()
        except OSError:
            continue
        real = next((line.split()[1] for line in lines if line.startswith("Uid:")), None)
        if real == str(uid):
            _kill(int(status.parent.name))


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and every process descended from it (found before any is killed)."""
    tree, todo, found = _children(), [pid], []
    while todo:
        current = todo.pop()
        found.append(current)
        todo += tree.get(current, [])
    for target in found:
        _kill(target)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)
