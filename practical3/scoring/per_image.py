"""The per-image table (``per_image.csv``): each image's class, native size, Dice and IoU per
target, the lungs' boundary distance (HD95), predicted and true areas, and severity."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from practical3.base.parallel import thread_map
from practical3.scoring.metrics import (
    counts_of,
    dice_from_counts,
    hausdorff95,
    iou_from_counts,
    score_key,
)
from practical3.scoring.severity import severity


def per_image_table(rows: pd.DataFrame, pred: Sequence[np.ndarray],
                    truth: Sequence[np.ndarray], targets: tuple[str, ...],
                    groups: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per image of the index ``rows`` (``name``, ``cls``): class, native size,
    ``<target>_dice`` and ``<target>_iou``, the lungs' HD95, predicted and true areas (native
    pixels), severity; and each image's patient when ``groups`` name them."""
    counts = counts_of(pred, truth)
    dice, iou = dice_from_counts(counts).numpy(), iou_from_counts(counts).numpy()
    table = rows[["name", "cls"]].rename(columns={"name": "image"}).reset_index(drop=True)
    if groups is not None:
        table["patient"] = list(groups)
    table["height"] = [m.shape[-2] for m in truth]
    table["width"] = [m.shape[-1] for m in truth]
    for t, target in enumerate(targets):
        table[score_key(target, "dice")] = dice[:, t]
        table[score_key(target, "iou")] = iou[:, t]
        if target == "lung":
            table[score_key(target, "hd95")] = hd95_of_channel(pred, truth, t)
        table[f"pred_area_{target}"] = [int(m[t].sum()) for m in pred]
        table[f"true_area_{target}"] = [int(m[t].sum()) for m in truth]
    if "infection" in targets:
        table["severity_pred_percent"], table["severity_true_percent"] = severity(
            pred, truth, targets)
    return table


def hd95_of_channel(pred: Sequence[np.ndarray], truth: Sequence[np.ndarray], channel: int
                    ) -> np.ndarray:
    """HD95 of one channel of every image, in native pixels (images in parallel threads)."""
    pairs = list(zip(pred, truth, strict=True))
    return np.array(list(thread_map(lambda pt: hausdorff95(pt[0][channel], pt[1][channel]),
                                    pairs)))
