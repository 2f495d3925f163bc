"""A decoded uint8 cache: decode (and resize) a split's PNGs once, reuse them every epoch.

A cache folder is keyed by a fingerprint of its source files (path, size, modification time),
the image size and the targets, so it is rebuilt when the source changes. It is written to a
temporary folder and renamed into place, with ``meta.json`` last: a crash leaves no cache that
looks complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from practical3.config import cache_dir as default_cache_dir
from practical3.index import read_sample

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

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        return self.images[i], self.masks[i]


def decode_resized(row: pd.Series | dict, targets: tuple[str, ...], image_size: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Decode one row and resize it to ``image_size`` (image bilinear, masks by area > 0.5)."""
    image, masks = read_sample(row, targets)
    if image.shape == (image_size, image_size):
        return image, masks
    size = (image_size, image_size)
    image = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
    masks = np.stack([
        np.asarray(Image.fromarray(m * 255).resize(size, Image.Resampling.BILINEAR)) > 127
        for m in masks
    ]).astype(np.uint8)
    return image, masks


def fingerprint(index: pd.DataFrame, targets: tuple[str, ...], image_size: int) -> str:
    """A hash of every source file's path, size and mtime, plus the decoding settings."""
    digest = hashlib.sha256(f"v{CACHE_VERSION}|{image_size}|{','.join(targets)}".encode())
    for column in ("image", *targets):
        for path in index[column]:
            stat = os.stat(path)
            digest.update(f"{path}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def load_decoded(index: pd.DataFrame, targets: tuple[str, ...], image_size: int,
                 cache_dir: str | Path | None = None, progress: bool = False) -> DecodedArrays:
    """The decoded arrays of ``index``, from the cache when it is current, else built now.

    ``cache_dir`` defaults to ``config.cache_dir()`` (``$PRACTICAL3_CACHE`` or ``data/cache``).
    """
    key = fingerprint(index, targets, image_size)
    folder = Path(cache_dir or default_cache_dir()) / f"{image_size}px-{len(index)}img-{key}"
    if not (folder / "meta.json").is_file():
        _build(index, targets, image_size, folder, progress)
    return DecodedArrays(
        images=np.load(folder / "images.npy"),
        masks=np.load(folder / "masks.npy"),
        targets=targets,
        records=pd.read_csv(folder / "records.csv", dtype=str, keep_default_na=False),
    )


def _build(index: pd.DataFrame, targets: tuple[str, ...], image_size: int, folder: Path,
           progress: bool) -> None:
    from tqdm import tqdm

    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        rows = [row for _, row in index.iterrows()]
        images = np.empty((len(rows), image_size, image_size), np.uint8)
        masks = np.empty((len(rows), len(targets), image_size, image_size), np.uint8)
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            decoded = pool.map(lambda r: decode_resized(r, targets, image_size), rows)
            for i, (image, mask) in enumerate(tqdm(decoded, total=len(rows), disable=not progress,
                                                   desc="decoding", unit="img")):
                images[i], masks[i] = image, mask
        np.save(tmp / "images.npy", images)
        np.save(tmp / "masks.npy", masks)
        index[RECORD_COLUMNS].to_csv(tmp / "records.csv", index=False)
        meta = {"version": CACHE_VERSION, "image_size": image_size, "targets": list(targets),
                "count": len(rows)}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
