"""Atomic writes: a file or folder is complete under its name, or absent; never half-written."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _scratch_name(path: Path) -> Path:
    """A hidden sibling of ``path`` that only this process uses."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def write_with(path: str | Path, writer: Callable[[Path], Any]) -> Path:
    """Call ``writer(tmp_path)`` and rename the result over ``path`` only once it succeeded."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _scratch_name(path)
    try:
        writer(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_with(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def build_folder(path: str | Path, builder: Callable[[Path], Any], replace: bool = False) -> Path:
    """Call ``builder(tmp_folder)`` and rename the folder to ``path`` once it succeeded.

    An existing ``path`` is deleted first when ``replace``; otherwise it must be empty. A crash
    leaves only the hidden temporary folder, which the next call clears.
    """
    path = Path(path)
    tmp = _scratch_name(path)
    shutil.rmtree(tmp, ignore_errors=True)
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
