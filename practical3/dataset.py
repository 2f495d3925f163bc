"""The PyTorch Dataset over an indexed split, from the decoded cache or straight from PNGs."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import tv_tensors

from practical3 import layout
from practical3.augment import AugmentSpec, JointAugment
from practical3.cache import DecodedArrays, decode_resized, load_decoded


class SampleSource(Protocol):
    """Anything that hands out decoded uint8 samples: (H, W) image and (T, H, W) 0/1 masks."""

    targets: tuple[str, ...]
    records: pd.DataFrame

    def __len__(self) -> int: ...

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray]: ...


class PngSource:
    """Decodes (and resizes) each PNG on every access: the slow path the cache replaces."""

    def __init__(self, index: pd.DataFrame, targets: tuple[str, ...], image_size: int):
        self.index = index.reset_index(drop=True)
        self.targets, self.image_size = targets, image_size
        self.records = self.index[["part", "split", "cls", "name"]]

    def __len__(self) -> int:
        return len(self.index)

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        return decode_resized(self.index.iloc[i], self.targets, self.image_size)


def select_split(index: pd.DataFrame, part: str, split: str, limit: int | None = None,
                 seed: int = 0) -> pd.DataFrame:
    """Rows of one part and split; ``limit`` keeps a seeded random subset in index order."""
    rows = index[(index["part"] == part) & (index["split"] == split)]
    if rows.empty:
        raise ValueError(f"no {part} images in split {split!r} of this index: check --data "
                         f"and --part (splits present: {sorted(index['split'].unique())})")
    if limit is not None and limit < len(rows):
        rows = rows.sample(n=limit, random_state=seed).sort_index()
    return rows.reset_index(drop=True)


def open_source(index: pd.DataFrame, part: str, image_size: int, cached: bool = True,
                progress: bool = False, cache_dir: str | Path | None = None) -> SampleSource:
    """A sample source for rows of ``part``: the decoded cache, or per-access PNG decoding."""
    targets = layout.TARGETS[part]
    if cached:
        return load_decoded(index, targets, image_size, cache_dir=cache_dir, progress=progress)
    return PngSource(index, targets, image_size)


class SegmentationDataset(Dataset):
    """(image, masks) pairs as float tensors: image (1, H, W) in [0, 1], masks (T, H, W) 0/1.

    With ``augment`` set, image and masks go through the v2 ``JointAugment`` together.
    """

    def __init__(self, source: SampleSource | DecodedArrays, augment: AugmentSpec | None = None):
        self.source = source
        self.transform = JointAugment(augment) if augment is not None else None

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        image, masks = self.source.load(i)
        image_t = tv_tensors.Image(torch.from_numpy(np.array(image, np.float32) / 255)[None])
        masks_t = tv_tensors.Mask(torch.from_numpy(np.array(masks, np.float32)))
        if self.transform is not None:
            image_t, masks_t = self.transform(image_t, masks_t)
        return image_t.as_subclass(Tensor), masks_t.as_subclass(Tensor)
