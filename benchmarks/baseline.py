"""The usual-notebook path the benchmarks compare against: a per-sample Dataset in a DataLoader.

Not the project's training path (that is ``practical3.data.batches``): every sample is decoded
(or read from the cache) and augmented on its own (``practical3.data.dataset``, the Dataset
notebook 03's own loop uses), and a training step runs in fp32 with NCHW tensors.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from practical3.data.dataset import CachedSource, JointAugment, PngSource, SegmentationDataset

__all__ = ["CachedSource", "JointAugment", "PngSource", "SegmentationDataset", "baseline_step"]


def baseline_step(model: nn.Module, images: Tensor, masks: Tensor, loss_fn: nn.Module,
                  optimizer: torch.optim.Optimizer, device: torch.device) -> Tensor:
    """One fp32, NCHW optimisation step, as a notebook writes it; returns the detached loss."""
    images, masks = images.to(device, non_blocking=True), masks.to(device, non_blocking=True)
    loss = loss_fn(model(images), masks)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()
