"""Dice and IoU for binary masks: count tp/fp/fn/tn once per image and target, then reduce.

Every score is derived from per-image counts (``confusion_counts``), so training-time validation
and final evaluation share one definition. Per image, Dice = 2tp/(2tp+fp+fn) and
IoU = tp/(tp+fp+fn), hence Dice = 2*IoU/(1+IoU) >= IoU. Two named reductions:
``imagewise`` (mean over images of the per-image score) and ``dataset_level`` (pool tp/fp/fn
over all images, then divide); they differ, and every summary says which is which.

Empty-mask rule: when truth and prediction are both empty, Dice and IoU are NaN (undefined) and
left out of the imagewise mean, while empty truth with any predicted pixel scores 0. That is
nnU-Net's rule (NaN, then nanmean); MONAI's default ``ignore_empty=True`` drops every empty-truth
image, false positives included, and smp's ``zero_division=1`` scores a both-empty image as 1.
So that healthy images still count, ``any_positive_rate`` reports the share of empty-truth
images with any predicted positive pixel (``healthy_fp_rate`` in summaries).

Where overlap saturates (lungs, Dice near 0.98), ``hausdorff95`` measures the boundary; a
total miss scores the image's diagonal (BraTS), so it is counted and never improves a mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from scipy import ndimage
from torch import Tensor

TP, FP, FN, TN = range(4)
METRICS = ("dice", "iou")
# The names of the scores, everywhere (metrics.json, history, ablation, comparison): a metric
# and its reduction; flat tables prefix the target (``score_key``).
SCORES = ("dice_imagewise", "iou_imagewise", "dice_dataset", "iou_dataset")
HEALTHY_FP = "healthy_fp_rate"
# A pixel belongs to a mask when its predicted probability is above this.
THRESHOLD = 0.5
THRESHOLD_TEXT = f"probability > {THRESHOLD}"
# The definitions every metrics.json carries, one line each (this module's docstring explains).
DEFINITIONS = {
    "dice": "2|P∩G| / (|P|+|G|) per image and target", "iou": "|P∩G| / |P∪G|",
    "imagewise": "mean over images where the score is defined; an image whose prediction and "
                 "truth are both empty is left out (n_images_scored)",
    "dataset": "pixel counts pooled over all images, then the ratio",
    HEALTHY_FP: "share of images with empty truth that get any predicted pixel",
    "threshold": THRESHOLD_TEXT,
    "hd95": "95th-percentile symmetric boundary distance, native pixels; one mask empty and the "
            "other not (a total miss) scores the image diagonal (BraTS convention), both empty "
            "is undefined",
}


def score_key(target: str, score: str) -> str:
    """A score's column in a flat table: ``lung_dice_imagewise``; history adds ``val_``."""
    return f"{target}_{score}"


def binarize(logits: Tensor) -> Tensor:
    """Boolean masks from logits: sigmoid(x) > THRESHOLD, computed as x > logit(THRESHOLD)."""
    return logits > math.log(THRESHOLD / (1.0 - THRESHOLD))


def confusion_counts(pred: Tensor, target: Tensor) -> Tensor:
    """Per-image, per-target (tp, fp, fn, tn) as int64 ``(N, C, 4)``; nonzero means positive.

    Shapes are checked on the host; values are never read, so CUDA inputs cause no sync.
    """
    if pred.ndim != 4 or pred.shape != target.shape:
        raise ValueError(
            f"confusion_counts needs pred and target of the same shape (N, C, H, W); got "
            f"pred {tuple(pred.shape)} and target {tuple(target.shape)}. Binarise the model "
            "output per target channel and pass masks with a channel axis."
        )
    pred, target = pred.bool(), target.bool()
    pixels = pred.shape[2] * pred.shape[3]
    tp = (pred & target).sum(dim=(2, 3))
    fp = pred.sum(dim=(2, 3)) - tp
    fn = target.sum(dim=(2, 3)) - tp
    tn = pixels - tp - fp - fn
    return torch.stack((tp, fp, fn, tn), dim=-1).to(torch.int64)


def counts_of(pred: Sequence[np.ndarray], truth: Sequence[np.ndarray]) -> Tensor:
    """``confusion_counts`` ``(N, T, 4)`` of masks of any sizes: one boolean ``(T, H, W)``
    array per image, each at its own size (as evaluation scores them, at native size)."""
    return torch.cat([confusion_counts(torch.from_numpy(np.asarray(p)[None]),
                                       torch.from_numpy(np.asarray(t)[None]))
                      for p, t in zip(pred, truth, strict=True)])


def _ratio(numerator: Tensor, denominator: Tensor) -> Tensor:
    """numerator/denominator in float64, NaN where the denominator is 0 (metric undefined)."""
    numerator, denominator = numerator.double(), denominator.double()
    return torch.where(denominator > 0, numerator / denominator, math.nan)


def dice_from_counts(counts: Tensor) -> Tensor:
    """Dice 2tp/(2tp+fp+fn) for each count row, NaN where truth and prediction are both empty."""
    tp, fp, fn = counts[..., TP], counts[..., FP], counts[..., FN]
    return _ratio(2 * tp, 2 * tp + fp + fn)


def iou_from_counts(counts: Tensor) -> Tensor:
    """IoU tp/(tp+fp+fn) for each count row, NaN where truth and prediction are both empty."""
    tp, fp, fn = counts[..., TP], counts[..., FP], counts[..., FN]
    return _ratio(tp, tp + fp + fn)


def _score(counts: Tensor, metric: str) -> Tensor:
    """Dispatch ``metric`` ("dice" or "iou") to its count formula."""
    if metric == "dice":
        return dice_from_counts(counts)
    if metric == "iou":
        return iou_from_counts(counts)
    raise ValueError(f"Unknown metric {metric!r}; use one of {METRICS}.")


def imagewise(scores: Tensor) -> Tensor:
    """Per-target mean over images ``(N, C) -> (C,)``, leaving out NaN (undefined) images."""
    return torch.nanmean(scores, dim=0)


def dataset_level(counts: Tensor, metric: str) -> Tensor:
    """Pool tp/fp/fn over all images, then compute ``metric`` ("dice"/"iou"): ``(C,)``."""
    return _score(counts.sum(dim=0), metric)


def any_positive_rate(counts: Tensor, empty_truth_only: bool = True) -> Tensor:
    """Per target, the share of images with any predicted positive pixel ``(C,)``.

    With ``empty_truth_only`` only images whose truth is empty count (the healthy false-positive
    rate); NaN for a target with no such image.
    """
    tp, fp, fn = counts[..., TP], counts[..., FP], counts[..., FN]
    predicted = (tp + fp) > 0
    eligible = (tp + fn) == 0 if empty_truth_only else torch.ones_like(predicted)
    return _ratio((predicted & eligible).sum(dim=0), eligible.sum(dim=0))


def _json_float(value: Tensor) -> float | None:
    """A 0-d tensor as a float, NaN as None so the result is valid JSON."""
    number = float(value)
    return None if math.isnan(number) else number


def summarize_counts(counts: Tensor, target_names: list[str] | tuple[str, ...]) -> dict:
    """Named, JSON-ready scores per target from per-image counts ``(N, C, 4)``.

    ``*_imagewise`` averages images where the score is defined (``n_images_scored`` of
    ``n_images``); ``*_dataset`` pools the counts; ``healthy_fp_rate`` is over the
    ``n_images_empty_truth`` images whose truth is empty for that target.
    """
    if counts.ndim != 3 or counts.shape[1] != len(target_names):
        raise ValueError(
            f"counts of shape {tuple(counts.shape)} do not match target_names {list(target_names)};"
            " pass one name per target channel (the C in (N, C, 4))."
        )
    counts = counts.cpu()
    dice, iou = dice_from_counts(counts), iou_from_counts(counts)
    by_metric = {"dice": dice, "iou": iou}
    columns = {
        **{f"{m}_imagewise": imagewise(by_metric[m]) for m in METRICS},
        **{f"{m}_dataset": dataset_level(counts, m) for m in METRICS},
        HEALTHY_FP: any_positive_rate(counts, empty_truth_only=True),
    }
    scored = (~dice.isnan()).sum(dim=0)
    empty_truth = ((counts[..., TP] + counts[..., FN]) == 0).sum(dim=0)
    return {
        name: {
            **{key: _json_float(column[c]) for key, column in columns.items()},
            "n_images": int(counts.shape[0]),
            "n_images_scored": int(scored[c]),
            "n_images_empty_truth": int(empty_truth[c]),
        }
        for c, name in enumerate(target_names)
    }


class CountsAccumulator:
    """Collects per-image counts batch by batch (on the batch's device, no sync) for validation."""

    def __init__(self) -> None:
        self._batches: list[Tensor] = []

    def update(self, logits: Tensor, target: Tensor) -> None:
        """Binarize model ``logits`` (N, C, H, W) and add their counts against ``target``."""
        self.update_masks(binarize(logits.detach()), target)

    def update_masks(self, pred: Tensor, target: Tensor) -> None:
        """Add counts for already-binary predictions (e.g. after post-processing)."""
        self._batches.append(confusion_counts(pred, target))

    @property
    def counts(self) -> Tensor:
        """All per-image counts so far, ``(N, C, 4)`` int64 on the CPU."""
        if not self._batches:
            raise ValueError("CountsAccumulator is empty; call update() with a batch first.")
        return torch.cat([batch.cpu() for batch in self._batches])

    def summary(self, target_names: list[str] | tuple[str, ...]) -> dict:
        """``summarize_counts`` of everything added so far."""
        return summarize_counts(self.counts, target_names)


def hausdorff95(pred: np.ndarray, truth: np.ndarray) -> float:
    """95th-percentile symmetric Hausdorff distance between two 2-D masks' boundaries, in
    pixels: the larger of the two directed 95th percentiles (as MONAI's).

    Empty masks follow the BraTS convention: when exactly one mask is empty (a total miss, or a
    mask drawn where there is none) the distance is the image's diagonal, the largest one
    possible, so a miss is counted and never lowers a mean; both empty is NaN (undefined).
    """
    pred, truth = pred.astype(bool), truth.astype(bool)
    if not pred.any() and not truth.any():
        return math.nan
    if not pred.any() or not truth.any():
        return diagonal(pred.shape)
    edge_pred, edge_truth = boundary(pred), boundary(truth)
    to_truth = ndimage.distance_transform_edt(~edge_truth)[edge_pred]
    to_pred = ndimage.distance_transform_edt(~edge_pred)[edge_truth]
    return float(max(np.percentile(to_truth, 95), np.percentile(to_pred, 95)))


def diagonal(shape: tuple[int, ...]) -> float:
    """The diagonal of an image of ``shape`` (H, W), in pixels: HD95 of a total miss."""
    return math.hypot(*shape[-2:])


def boundary(mask: np.ndarray) -> np.ndarray:
    """The pixels of a boolean ``mask`` that touch the background (4-connected), the image's
    edge included: a mask's outline."""
    return mask & ~ndimage.binary_erosion(mask, border_value=0)
