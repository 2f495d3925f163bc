"""Per-image scores summarized per class and for all images: the overlap scores of every
target with their bootstrap intervals, the lungs' boundary distance (HD95), and the headline
row an ablation table shows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from practical3.data import layout
from practical3.scoring.metrics import HEALTHY_FP, score_key, summarize_counts
from practical3.scoring.significance import rate_entry
from practical3.scoring.uncertainty import ci_entry, score_intervals, weighted_mean

ALL = "all"  # the summary over every image, beside one per class
HEADLINE = ("dice_imagewise", "iou_imagewise", "dice_dataset")


def class_rows(classes: pd.Series) -> dict[str, np.ndarray]:
    """A boolean row selection per class present in ``classes`` (``layout.CLASSES`` order),
    then ``ALL`` for every image (none when there is no image)."""
    rows = {cls: (classes == cls).to_numpy() for cls in layout.CLASSES}
    rows[ALL] = np.ones(len(classes), bool)
    return {cls: selected for cls, selected in rows.items() if selected.any()}


def class_summaries(counts: torch.Tensor, classes: pd.Series, targets: tuple[str, ...],
                    weights: np.ndarray | None = None) -> dict[str, dict]:
    """``summarize_counts`` per target for each class and for all images, with the bootstrap
    intervals of each score when ``weights`` (``uncertainty.bootstrap_weights``) are given."""
    by_class: dict[str, dict] = {}
    for cls, rows in class_rows(classes).items():
        subset = counts[torch.as_tensor(rows.copy())]
        by_class[cls] = summarize_counts(subset, targets)
        if weights is not None:
            for target, cis in score_intervals(subset, weights[:, rows], targets).items():
                by_class[cls][target].update(cis)
            for summary in by_class[cls].values():
                summary.update(healthy_fp_interval(summary))
    return {t: {cls: summary[t] for cls, summary in by_class.items()} for t in targets}


def healthy_fp_count(summary: dict[str, Any]) -> int:
    """How many images of a ``summarize_counts`` target summary are healthy false positives:
    its rate times the images with an empty truth (an integer ratio, so exact)."""
    return round((summary[HEALTHY_FP] or 0.0) * summary["n_images_empty_truth"])


def healthy_fp_interval(summary: dict[str, Any]) -> dict[str, Any]:
    """The exact interval of a target summary's healthy false-positive rate, or the note that
    it is not applicable (no image lacks the target)."""
    return rate_entry(HEALTHY_FP, healthy_fp_count(summary), summary["n_images_empty_truth"])


def boundary_summaries(hd95: np.ndarray, misses: np.ndarray, classes: pd.Series,
                       weights: np.ndarray) -> dict[str, dict[str, Any]]:
    """Mean and median HD95 (pixels) per class and for all images, with the mean's interval
    and the count of total misses scored as the image diagonal (``metrics.hausdorff95``)."""
    out: dict[str, dict[str, Any]] = {}
    for cls, rows in class_rows(classes).items():
        values = hd95[rows]
        defined = values[~np.isnan(values)]
        out[cls] = {
            "hd95_mean": float(defined.mean()) if defined.size else None,
            "hd95_median": float(np.median(defined)) if defined.size else None,
            **ci_entry("hd95_mean", weighted_mean(values, weights[:, rows]), defined.size),
            "n_images_hd95": int(defined.size),
            "n_images_hd95_miss": int(misses[rows].sum()),
        }
    return out


def headline(summary: dict, targets: tuple[str, ...]) -> dict[str, Any]:
    """The ``HEADLINE`` scores of every target of a ``summarize_counts`` result, flat
    (``lung_dice_imagewise``), and the infection's healthy false-positive rate."""
    row: dict[str, Any] = {}
    for t in targets:
        for name in HEADLINE:
            row[score_key(t, name)] = summary[t][name]
    if "infection" in targets:
        row[f"infection_{HEALTHY_FP}"] = summary["infection"][HEALTHY_FP]
    return row
