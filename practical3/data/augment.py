"""Joint image/mask augmentation: one small random affine shared by an image and its masks,
plus brightness/contrast on the image alone.

No horizontal flips: a chest X-ray is not left-right symmetric (the heart lies on the patient's
left, the left lung is smaller, and the lung masks follow that), so a flipped film shows an
anatomy the test set never contains (situs inversus). Small rotations, shifts and zooms mimic
patient positioning; brightness and contrast mimic exposure.

Training augments a whole batch on its device at once (``augment_batch``), each sample with its
own parameters; the benchmark's per-sample baseline reuses the same functions one image at a
time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class AugmentSpec:
    """Ranges of the random augmentation (uniform in +-range, scale in [1-s, 1+s])."""

    rotation_deg: float = 7.0
    translate: float = 0.05
    scale: float = 0.08
    brightness: float = 0.1
    contrast: float = 0.15


def sample_params(n: int, spec: AugmentSpec, device: torch.device | str = "cpu"
                  ) -> dict[str, Tensor]:
    """Draw ``n`` independent parameter sets on ``device`` from torch's default generator."""
    def uniform(half_width: float) -> Tensor:
        return (torch.rand(n, device=device) * 2 - 1) * half_width

    return {
        "angle": uniform(math.radians(spec.rotation_deg)),
        "tx": uniform(2 * spec.translate),  # grid coordinates span [-1, 1]: a side is 2 wide
        "ty": uniform(2 * spec.translate),
        "scale": 1 + uniform(spec.scale),
        "brightness": uniform(spec.brightness),
        "contrast": 1 + uniform(spec.contrast),
    }


def warp(x: Tensor, params: dict[str, Tensor], mode: str) -> Tensor:
    """Apply each sample's affine to a (N, C, H, W) float batch; ``mode`` nearest for masks."""
    cos, sin = torch.cos(params["angle"]), torch.sin(params["angle"])
    inv_scale = 1 / params["scale"]
    theta = torch.stack([
        torch.stack([cos * inv_scale, -sin * inv_scale, params["tx"]], dim=1),
        torch.stack([sin * inv_scale, cos * inv_scale, params["ty"]], dim=1),
    ], dim=1).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)


def adjust_intensity(x: Tensor, params: dict[str, Tensor]) -> Tensor:
    """Contrast about each image's mean, then brightness; values stay in [0, 1]."""
    shape = (-1, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    out = (x - mean) * params["contrast"].view(shape) + mean + params["brightness"].view(shape)
    return out.clamp_(0, 1)


def augment_batch(images: Tensor, masks: Tensor, spec: AugmentSpec) -> tuple[Tensor, Tensor]:
    """Augment a batch on its own device, every sample with its own random parameters."""
    params = sample_params(images.shape[0], spec, images.device)
    images = adjust_intensity(warp(images, params, "bilinear"), params)
    return images, warp(masks, params, "nearest")
