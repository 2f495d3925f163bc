"""Atomic writes: a file or folder is complete under its name, or absent; never half-written.

Work in progress lives under a hidden scratch name, ``.NAME.tmp-PID`` (NAME cut and marked
with a hash where the whole would exceed a file name's ``NAME_MAX`` bytes); a process killed
before its rename leaves one behind, and the next build beside it removes every scratch entry
whose process is gone. A set of files appears together (``staged``): the file that says the set
is complete is withdrawn first and moved in last. A full disk or a file-size limit is named as
such ("disk full: PATH"), with nothing left under the real name.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from practical3.base.errors import OutputError

SCRATCH = re.compile(r"\..+\.tmp-(\d+)")
DISK_FULL = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST,
                errno.EISDIR}


NAME_MAX = 255  # bytes in one file name: Linux, macOS and Windows file systems
HASH_MARK = 9  # bytes ``fit_name`` spends on "~" and eight hex digits


def fit_name(name: str, room: int) -> str:
    """``name`` when its bytes fit in ``room``, else its start and "~" with a hash of the whole
    name (distinct names stay distinct), ``room`` bytes at most."""
    raw = os.fsencode(name)
    if len(raw) <= room:
        return name
    digest = hashlib.sha256(raw).hexdigest()[:HASH_MARK - 1]
    start = raw[:room - HASH_MARK].decode(errors="ignore")  # no character cut in half
    return start + "~" + digest


def _scratch_name(path: Path) -> Path:
    """A hidden sibling of ``path`` that only this process uses, a legal name whatever
    ``path``'s."""
    suffix = f".tmp-{os.getpid()}"
    return path.with_name(f".{fit_name(path.name, NAME_MAX - 1 - len(suffix))}{suffix}")


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (one we may not signal counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_scratch(folder: str | Path) -> list[Path]:
    """Delete the scratch files and folders in ``folder`` left by processes that are gone
    (killed mid-write); returns what was removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [entry for entry in folder.iterdir()
             if (match := SCRATCH.fullmatch(entry.name)) and not _alive(int(match[1]))]
    for entry in stale:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    return stale


def output_error(err: OSError, path: str | Path) -> OSError | OutputError:
    """``err`` raised while writing ``path``, as the one-line error a user can act on when it
    is a full disk, a file-size limit or a place that cannot be written; else ``err``."""
    if err.errno in DISK_FULL:
        return OutputError(f"disk full: {path} could not be written ({err.strerror}); free "
                           "space there, raise the file-size limit (ulimit -f), or write "
                           "elsewhere")
    if err.errno in NOT_WRITABLE:
        where = f" at {err.filename}" if err.filename else ""
        return OutputError(f"cannot write {path} ({err.strerror}{where}): choose a writable "
                           "place")
    return err


@contextmanager
def _named_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except OSError as err:
        named = output_error(err, path)
        if named is err:
            raise
        raise named from err


class _Sink:
    """A binary file whose ``write`` writes every byte or raises the OSError that stopped it:
    torch and numpy report a short write as an error of their own that hides the cause."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        done = 0
        try:
            while done < len(view):
                done += self.file.write(view[done:])
        except OSError as err:
            self.error = err
            raise
        return done

    def flush(self) -> None:
        self.file.flush()


def dump_stream(path: str | Path, dump: Callable[[Any], Any]) -> Path:
    """Call ``dump(file)`` on ``path`` opened for binary writing (not atomic: for files inside
    a folder ``build_folder`` is building); a short write raises its OSError."""
    path = Path(path)
    with open(path, "wb", buffering=0) as file:
        sink = _Sink(file)
        try:
            dump(sink)
        except Exception:
            if sink.error is not None:
                raise sink.error from None
            raise
    return path


def write_with(path: str | Path, writer: Callable[[Path], Any]) -> Path:
    """Call ``writer(tmp_path)`` and rename the result over ``path`` only once it succeeded."""
    path = Path(path)
    tmp = _scratch_name(path)
    with _named_errors(path):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            writer(tmp)
            os.replace(tmp, path)
        finally:
            with suppress(OSError):  # a failed clean-up must not hide why the write failed
                tmp.unlink(missing_ok=True)
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_with(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_stream(path: str | Path, dump: Callable[[Any], Any]) -> Path:
    """``dump(file)`` into ``path`` atomically (``torch.save``, ``np.save``)."""
    return write_with(path, lambda tmp: dump_stream(tmp, dump))


def build_folder(path: str | Path, builder: Callable[[Path], Any], replace: bool = False) -> Path:
    """Call ``builder(tmp_folder)`` and rename the folder to ``path`` once it succeeded.

    An existing ``path`` is deleted first when ``replace``; otherwise it must be empty. A crash
    leaves only the hidden temporary folder, which the next build beside it clears.
    """
    path = Path(path)
    tmp = _scratch_name(path)
    remove_stale_scratch(path.parent)
    shutil.rmtree(tmp, ignore_errors=True)
    with _named_errors(path):
        try:
            tmp.mkdir(parents=True)
            builder(tmp)
            if replace:
                shutil.rmtree(path, ignore_errors=True)
            elif path.is_dir():
                path.rmdir()  # the caller checked that it is free
            tmp.rename(path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return path


@contextmanager
def staged(folder: str | Path, last: str) -> Iterator[Path]:
    """A scratch folder inside ``folder`` to write a set of files into; once the block
    succeeds they are moved into ``folder``, ``last`` after all the others, and an older
    ``last`` is removed before any of them: ``last`` present says the set beside it is complete
    and one (a kill midway leaves no ``last``). A failure leaves ``folder`` as it was."""
    folder = Path(folder)
    remove_stale_scratch(folder)
    scratch = _scratch_name(folder / "staged")
    try:
        with _named_errors(folder):
            scratch.mkdir(parents=True)
        yield scratch
        with _named_errors(folder):
            (folder / last).unlink(missing_ok=True)
            for entry in sorted(scratch.iterdir(), key=lambda e: e.name == last):
                os.replace(entry, folder / entry.name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
