"""One writer per folder: an exclusive ``flock`` on a lock file inside it.

The operating system drops the lock when its holder exits, however it ends (kill -9
included), so a kill never leaves a folder locked. A second writer is refused at once, told
who holds the folder (pid and start time, which the holder writes into the lock file).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from practical3.base.errors import BusyError

LOCK_FILE = ".lock"


@contextmanager
def exclusive(folder: str | Path, what: str) -> Iterator[Path]:
    """Hold ``folder`` (created if absent) for writing while the block runs; ``what`` says
    what the folder is, for the refusal. The lock file is removed on release."""
    folder = Path(folder)
    path = folder / LOCK_FILE
    fd = _acquire(path, what)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}".encode())
        yield folder
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


def _acquire(path: Path, what: str) -> int:
    """An open descriptor of ``path`` holding its lock. A lock file its previous holder
    removed while we opened it is opened again, so two writers never lock two files."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace") or "a process starting now"
            os.close(fd)
            raise BusyError(f"{path.parent} is being written by another {what} ({holder}): "
                            "wait for it to finish, or write elsewhere") from None
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)
