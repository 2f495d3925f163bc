"""A per-sample torch ``Dataset``: (image, masks) float tensors, one sample at a time.

The usual notebook's path, kept for notebook 03's own training loop and for the benchmark
against the project's path (``batches``: the decoded split held on the device, augmented a
whole batch at once). Samples come from the decoded cache (``CachedSource``) or straight from
the PNGs (``PngSource``); augmentation reuses ``augment``'s warp and intensity functions
through a torchvision v2 transform, so both paths train on the same distribution.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from practical3.data.augment import AugmentSpec, adjust_intensity, sample_params, warp
from practical3.data.cache import RECORD_COLUMNS, DecodedArrays
from practical3.data.decode import decode_resized


class PngSource:
    """Decodes (and resizes) each PNG on every access, as a notebook's Dataset does."""

    def __init__(self, index: pd.DataFrame, targets: tuple[str, ...], image_size: int):
        self.index = index.reset_index(drop=True)
        self.targets, self.image_size = targets, image_size
        self.records = self.index[RECORD_COLUMNS]

    def __len__(self) -> int:
        return len(self.index)

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        return decode_resized(self.index.iloc[i], self.targets, self.image_size)


class CachedSource:
    """The decoded cache behind the same one-sample-at-a-time interface."""

    def __init__(self, arrays: DecodedArrays):
        self.arrays = arrays

    def __len__(self) -> int:
        return len(self.arrays)

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        return self.arrays.images[i], self.arrays.masks[i]


class JointAugment(v2.Transform):
    """torchvision v2 transform: the same affine for ``Image`` and ``Mask``, intensity on images."""

    def __init__(self, spec: AugmentSpec | None = None):
        super().__init__()
        self.spec = spec or AugmentSpec()

    def make_params(self, flat_inputs: list) -> dict[str, Tensor]:
        return sample_params(1, self.spec)

    def transform(self, inpt: Tensor, params: dict[str, Tensor]) -> Tensor:
        if isinstance(inpt, tv_tensors.Mask):
            out = warp(inpt[None].float(), params, "nearest")[0].to(inpt.dtype)
        elif isinstance(inpt, tv_tensors.Image):
            out = adjust_intensity(warp(inpt[None], params, "bilinear"), params)[0]
        else:
            return inpt
        return tv_tensors.wrap(out, like=inpt)


class SegmentationDataset(Dataset):
    """(image, masks) pairs as float tensors: image (1, H, W) in [0, 1], masks (T, H, W) 0/1.

    With ``augment`` set, image and masks go through ``JointAugment`` together.
    """

    def __init__(self, source: PngSource | CachedSource, augment: AugmentSpec | None = None):
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
