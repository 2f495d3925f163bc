"""A fingerprint of the data a run used: the same files give the same fingerprint on any machine.

It hashes every indexed file's content with its path relative to the copy's root, so moving a
copy elsewhere keeps it and changing one pixel changes it. Paths are taken as the user sees
them, links kept: a copy whose splits or files are links (a shared dataset folder, the Hugging
Face cache, git-annex) has the fingerprint of the same files copied in place. Content hashes
are remembered per file (path, inode, size, modification and change times) in the cache folder,
so only new or changed files are read; any write to a file changes its change time, so it is
read again.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import pandas as pd

from practical3.base.atomic import write_text
from practical3.base.parallel import thread_map
from practical3.base.paths import cache_folder
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
    files = sorted({Path(os.path.abspath(p)) for column in ("image", "lung", "infection")
                    for p in index[column].dropna()})
    known_file = cache_folder() / HASHES_FILE
    known = _known_hashes(known_file)
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


def _known_hashes(file: Path) -> dict[str, str]:
    """The remembered content hashes; a damaged file (a kill mid-write on a filesystem without
    atomic rename, an edit) is only a cache: warned about and rebuilt."""
    if not file.is_file():
        return {}
    try:
        known = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        print(f"warning: {file} is damaged ({err}); rehashing the data files", file=sys.stderr)
        return {}
    if not isinstance(known, dict):
        print(f"warning: {file} is not a table of hashes; rehashing the data files",
              file=sys.stderr)
        return {}
    return known


def _key(path: Path) -> str:
    """What says a file is unchanged since it was hashed: its path, inode, size, modification
    time and change time. The change time is set by the system on every write and cannot be
    set back (``os.utime`` sets only access and modification times), so an edit that keeps
    the size and restores the mtime is still seen."""
    stat = os.stat(path)
    return f"{path}|{stat.st_ino}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ctime_ns}"
