"""Training and validation batches: a DataLoader on the CPU, device-resident batches on a GPU.

On a CPU the Dataset (decoded cache + v2 ``JointAugment``) feeds a DataLoader. On a GPU the
whole decoded split is copied to the device once and every batch is gathered and augmented
there (``augment_batch``, the same functions), so a step has no host work and no copies.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from practical3.augment import AugmentSpec
from practical3.augment import augment_batch as augment_on_device
from practical3.cache import DecodedArrays
from practical3.dataset import SegmentationDataset


class DeviceBatches:
    """Batches drawn from a decoded split held as uint8 on ``device``."""

    def __init__(self, source: DecodedArrays, batch_size: int, device: torch.device,
                 augment: AugmentSpec | None, shuffle: bool, drop_last: bool):
        self.images = torch.from_numpy(source.images).to(device)
        self.masks = torch.from_numpy(source.masks).to(device)
        self.batch_size, self.augment = batch_size, augment
        self.shuffle, self.drop_last = shuffle, drop_last

    def __len__(self) -> int:
        n = len(self.images)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        n, device = len(self.images), self.images.device
        order = torch.randperm(n, device=device) if self.shuffle else torch.arange(n, device=device)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            images = self.images[idx].unsqueeze(1).float().div_(255)
            masks = self.masks[idx].float()
            if self.augment is not None:
                images, masks = augment_on_device(images, masks, self.augment)
            yield images, masks


def batches(source: DecodedArrays, batch_size: int, device: torch.device, *, train: bool,
            augment: AugmentSpec | None = None, num_workers: int = 0
            ) -> Iterable[tuple[Tensor, Tensor]]:
    """Batches for training (shuffled, augmented, full batches) or evaluation (in order)."""
    augment = augment if train else None
    # Dropping a ragged last batch keeps BatchNorm away from a batch of one image.
    drop_last = train and len(source) > batch_size
    if device.type == "cuda":
        return DeviceBatches(source, batch_size, device, augment, shuffle=train,
                             drop_last=drop_last)
    return DataLoader(SegmentationDataset(source, augment), batch_size=batch_size, shuffle=train,
                      drop_last=drop_last, num_workers=num_workers)
