"""Training and evaluation batches, gathered from a decoded split held on the training device.

The decoded uint8 cache is copied to the device once (GPU memory on CUDA, plain memory on a
CPU); every batch is then indexed and augmented there by ``augment_batch``, each sample with
its own random parameters. A step has no decoding, no per-sample Python work and, on a GPU, no
host-to-device copy. Measured on 2 CPU cores this is 2-5x cheaper per batch than a per-sample
Dataset in a DataLoader (the benchmark's baseline, ``benchmarks/baseline.py``).

With several data-parallel workers (``training.distributed``) every worker draws the same
shuffled order, augments the whole global batch and keeps its equal share of it, so the
workers together see exactly the images and augmentations one worker would, and their random
generators stay in step (one saved state resumes them all). Evaluation deals whole batches in
turn, so every image is scored once, in the batch one worker would have put it in.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from practical3.data.augment import AugmentSpec, augment_batch
from practical3.data.cache import DecodedArrays


class DeviceBatches:
    """Batches drawn from a decoded split held as uint8 on ``device``."""

    def __init__(self, source: DecodedArrays, batch_size: int, device: torch.device,
                 augment: AugmentSpec | None, shuffle: bool, drop_last: bool,
                 worker: tuple[int, int] = (0, 1), split_each_batch: bool = False):
        self.images = torch.from_numpy(source.images).to(device)
        self.masks = torch.from_numpy(source.masks).to(device)
        self.batch_size, self.augment = batch_size, augment
        self.shuffle, self.drop_last = shuffle, drop_last
        # (rank, workers): a share of every batch (training), or every workers-th batch
        self.rank, self.workers = worker
        self.split_each_batch = split_each_batch

    def __len__(self) -> int:
        """The batches this worker yields: every one (its share of each) or its turns."""
        n = len(self.images)
        total = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        if self.split_each_batch:
            return total
        return len(range(self.rank, total, self.workers))

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        n, device = len(self.images), self.images.device
        order = torch.randperm(n, device=device) if self.shuffle else torch.arange(n, device=device)
        turns = 1 if self.split_each_batch else self.workers
        for b in range(self.rank % turns, len(self) * turns, turns):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            images = self.images[idx].unsqueeze(1).float().div_(255)
            masks = self.masks[idx].float()
            if self.augment is not None:
                images, masks = augment_batch(images, masks, self.augment)
            if self.split_each_batch and self.workers > 1:
                share = len(idx) // self.workers  # equal shares: a ragged remainder is left out
                keep = slice(self.rank * share, (self.rank + 1) * share)
                images, masks = images[keep], masks[keep]
            yield images, masks


def batches(source: DecodedArrays, batch_size: int, device: torch.device, *, train: bool,
            augment: AugmentSpec | None = None, worker: tuple[int, int] = (0, 1)
            ) -> DeviceBatches:
    """Batches for training (shuffled, augmented, full batches) or evaluation (in order);
    ``worker`` (rank, workers) gives a data-parallel worker its share of them."""
    # Dropping a ragged last batch keeps BatchNorm away from a batch of one image.
    return DeviceBatches(source, batch_size, device, augment if train else None, shuffle=train,
                         drop_last=train and len(source) > batch_size, worker=worker,
                         split_each_batch=train)
