"""A prediction drawn on its X-ray, pixel for pixel at the image's own size.

Each target is a translucent fill with a solid 1-pixel outline in its colour. Numpy, scipy and
PIL only (no matplotlib figure): exactly the native size, and fast on large X-rays.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import ImageColor

from practical3.plots.common import COLORS
from practical3.scoring.metrics import boundary

ALPHA = 0.4  # weight of a target's colour in its fill


def overlay(image: np.ndarray, masks: np.ndarray, targets: Sequence[str]) -> np.ndarray:
    """RGB uint8 (H, W, 3): the gray uint8 ``image`` (H, W) with the boolean ``masks``
    (T, H, W) of ``targets`` drawn in their ``COLORS``; fills first, so outlines stay solid."""
    rgb = np.repeat(image[..., None], 3, axis=2).astype(np.float64)
    colors = [np.array(ImageColor.getrgb(COLORS[t]), np.float64) for t in targets]
    masks = masks.astype(bool)
    for mask, color in zip(masks, colors, strict=True):
        rgb[mask] = (1 - ALPHA) * rgb[mask] + ALPHA * color
    for mask, color in zip(masks, colors, strict=True):
        rgb[boundary(mask)] = color
    return np.rint(rgb).astype(np.uint8)
