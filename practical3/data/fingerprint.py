"""A fingerprint of the data a run used: the same files give the same fingerprint on any machine.

It hashes every indexed file's content with its path relative to the copy's root, so moving a
copy elsewhere keeps it and changing one pixel changes it. Content hashes are remembered per
file (path, size, modification time) in the cache folder, so only new or changed files are read.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pandas as pd

from practical3.base.atomic import write_text
from practical3.base.parallel import thread_map
from practical3.base.paths import cache_dir
from practical3.data.sources import copy_root

HASHES_FILE = "file-hashes.json"
CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def data_fingerprint(index: pd.DataFrame, data_root: str | Path) -> str:
    """SHA-256 over (path relative to the copy's root, content hash) of every image and mask of
    ``index``, in sorted order."""
    home = copy_root(data_root)
    files = sorted({Path(p).resolve() for column in ("image", "lung", "infection")
                    for p in index[column].dropna()})
    known_file = cache_dir() / HASHES_FILE
    known = json.loads(known_file.read_text()) if known_file.is_file() else {}
    keys = [_key(path) for path in files]
    missing = [(key, path) for key, path in zip(keys, files, strict=True) if key not in known]
    for (key, _), sha in zip(missing, thread_map(lambda kp: file_sha256(kp[1]), missing),
                             strict=True):
        known[key] = sha
    if missing:
        write_text(known_file, json.dumps(known))
    digest = hashlib.sha256()
    for key, path in zip(keys, files, strict=True):
        digest.update(f"{path.relative_to(home).as_posix()}|{known[key]}\n".encode())
    return digest.hexdigest()


def _key(path: Path) -> str:
    stat = os.stat(path)
    return f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
