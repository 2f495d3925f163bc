"""A trained model loaded from its checkpoint, and its masks at each image's native size.

``load_model`` is the one way evaluation, its cases and ``predict`` load a checkpoint. The
model sees every image resized to its training size (``decode.resize_image``); its logits
are resized back to the image's own height and width (bilinear) and only then thresholded, so
masks line up pixel for pixel with the original file and are scored against the native masks.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from practical3.data.decode import resize_image
from practical3.scoring.metrics import binarize
from practical3.training import checkpoint
from practical3.training.config import TrainConfig
from practical3.training.device import (
    FP32,
    Precision,
    choose_precision,
    resolve_device,
    to_device,
)

BATCH = 64
NATIVE_SCORING = "at each image's native size: logits resized bilinearly, then thresholded"


@dataclass(frozen=True)
class LoadedModel:
    """A checkpoint ready to predict: its state, network, settings, device and precision."""

    state: dict[str, Any]
    net: nn.Module
    cfg: TrainConfig
    device: torch.device
    precision: Precision


def load_model(checkpoint_path: str | Path, device: str = "auto") -> LoadedModel:
    """The checkpoint's network on ``device`` ("auto", "cpu", "cuda" ...), in the precision
    its settings ask for where the device runs it."""
    dev = resolve_device(device)
    state = checkpoint.load(checkpoint_path, dev)
    net, cfg = checkpoint.model_from(state, dev)
    return LoadedModel(state, net, cfg, dev, choose_precision(cfg.precision, dev))


def to_native(logits: Tensor, size: tuple[int, int]) -> np.ndarray:
    """Boolean masks (N, T, H, W) at ``size`` from logits (N, T, h, w): resize, then threshold."""
    logits = logits.float()
    if tuple(logits.shape[-2:]) != tuple(size):
        logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
    return binarize(logits).cpu().numpy()


@torch.inference_mode()
def logits_of(model: nn.Module, images: np.ndarray, device: torch.device,
              precision: Precision = FP32, batch_size: int = BATCH) -> Iterator[Tensor]:
    """Logits (B, T, s, s) batch by batch for uint8 images (N, s, s) at the training size."""
    model.eval()
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(images[start:start + batch_size]).unsqueeze(1)
        with precision.autocast(device):
            yield model(to_device(batch.float().div_(255), device)).float()


def predict_native(model: nn.Module, images: np.ndarray, sizes: Sequence[tuple[int, int]],
                   device: torch.device, precision: Precision = FP32,
                   batch_size: int = BATCH) -> list[np.ndarray]:
    """Boolean masks (T, H, W) per image, each at its native ``sizes[i]``; ``images`` are
    the uint8 model inputs (N, s, s)."""
    masks: list[np.ndarray] = []
    for logits in logits_of(model, images, device, precision, batch_size):
        batch_sizes = sizes[len(masks):len(masks) + len(logits)]
        if len(set(batch_sizes)) == 1:  # the usual case: one resize for the whole batch
            masks += list(to_native(logits, batch_sizes[0]))
        else:
            masks += [to_native(logits[i:i + 1], size)[0] for i, size in enumerate(batch_sizes)]
    return masks


def predict_images(model: LoadedModel, images: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Boolean masks (T, H, W) of uint8 gray ``images`` (H, W) of any sizes, each at its own
    size: resized to the training size for the model, the logits resized back."""
    inputs = np.stack([resize_image(image, model.cfg.image_size) for image in images])
    return predict_native(model.net, inputs, [image.shape for image in images], model.device,
                          model.precision)
