"""A decoded uint8 cache: decode (and resize) a split's PNGs once, reuse them every epoch.

A cache folder is keyed by a fingerprint of its source files (path, inode, size, modification
and change times: any write changes the change time), the image size and the targets, so it is
rebuilt when the source changes. It is built in a
temporary folder and renamed into place, ``meta.json`` last: a crash leaves no cache that looks
complete.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from practical3.base.atomic import build_folder, dump_stream
from practical3.base.parallel import thread_map
from practical3.base.paths import cache_folder
from practical3.data import layout
from practical3.data.decode import decode_resized
from practical3.data.index import build_index, select_split

CACHE_VERSION = 1
RECORD_COLUMNS = ["part", "split", "cls", "name"]


@dataclass
class DecodedArrays:
    """Decoded images (N, H, W) and masks (N, T, H, W) as uint8, masks 0/1, in index order."""

    images: np.ndarray
    masks: np.ndarray
    targets: tuple[str, ...]
    records: pd.DataFrame

    def __len__(self) -> int:
        return len(self.images)


def fingerprint(index: pd.DataFrame, targets: tuple[str, ...], image_size: int) -> str:
    """A hash of every source file's path, inode, size, mtime and ctime, plus the decoding
    settings."""
    digest = hashlib.sha256(f"v{CACHE_VERSION}|{image_size}|{','.join(targets)}".encode())
    for column in ("image", *targets):
        for path in index[column]:
            stat = os.stat(path)
            digest.update(f"{path}|{stat.st_ino}|{stat.st_size}|{stat.st_mtime_ns}|"
                          f"{stat.st_ctime_ns}\n".encode())
    return digest.hexdigest()[:20]


def load_decoded(index: pd.DataFrame, targets: tuple[str, ...], image_size: int,
                 cache_dir: str | Path | None = None, progress: bool = False) -> DecodedArrays:
    """The decoded arrays of ``index``, from the cache when it is current, else built now.

    ``cache_dir`` defaults to ``paths.cache_folder()`` (``$PRACTICAL3_CACHE`` or ``data/cache``).
    """
    key = fingerprint(index, targets, image_size)
    folder = Path(cache_dir or cache_folder()) / f"{image_size}px-{len(index)}img-{key}"
    if not (folder / "meta.json").is_file():
        build_folder(folder, lambda tmp: _build(index, targets, image_size, tmp, progress),
                     replace=True)
    return DecodedArrays(
        images=np.load(folder / "images.npy"),
        masks=np.load(folder / "masks.npy"),
        targets=targets,
        records=pd.read_csv(folder / "records.csv", dtype=str, keep_default_na=False),
    )


def load_split(data_root: str | Path, part: str, split: str, image_size: int,
               limit: int | None = None, seed: int = 0, progress: bool = False,
               cache_dir: str | Path | None = None) -> DecodedArrays:
    """The decoded arrays of one split of ``part`` at ``image_size``; ``limit`` keeps a seeded
    random subset; ``cache_dir`` as ``load_decoded``'s."""
    rows = select_split(build_index(data_root, parts=[part]), part, split, limit=limit, seed=seed)
    return load_decoded(rows, layout.TARGETS[part], image_size, cache_dir, progress)


def _build(index: pd.DataFrame, targets: tuple[str, ...], image_size: int, folder: Path,
           progress: bool) -> None:
    """Decode every row into ``folder``: images, masks, records, then ``meta.json``."""
    rows = [row for _, row in index.iterrows()]
    images = np.empty((len(rows), image_size, image_size), np.uint8)
    masks = np.empty((len(rows), len(targets), image_size, image_size), np.uint8)
    decoded = thread_map(lambda r: decode_resized(r, targets, image_size), rows, progress)
    for i, (image, mask) in enumerate(decoded):
        images[i], masks[i] = image, mask
    dump_stream(folder / "images.npy", lambda file: np.save(file, images))
    dump_stream(folder / "masks.npy", lambda file: np.save(file, masks))
    index[RECORD_COLUMNS].to_csv(folder / "records.csv", index=False)
    meta = {"version": CACHE_VERSION, "image_size": image_size, "targets": list(targets),
            "count": len(rows)}
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))
