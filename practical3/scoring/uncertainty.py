"""How sure a score is: bootstrap 95 % confidence intervals over the evaluated images.

Images are resampled with replacement, by patient when the data name patients (images of one
patient are not independent, so they are drawn together), and every score is recomputed from
the same per-image counts as the point estimate. The interval is the 2.5th to 97.5th
percentile of the resampled scores (percentile bootstrap, ``RESAMPLES`` draws, fixed seed).

An interval is given only where it means something: a score made from fewer than
``MIN_IMAGES`` images gets none ("n too small"), nor does a Dice or IoU that is 0 by
construction (no image has the target, so every scored image is a false positive). Either way
``<score>_ci95`` is None and ``<score>_ci95_note`` says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from practical3.scoring.metrics import (
    FN,
    METRICS,
    TP,
    dice_from_counts,
    iou_from_counts,
)

RESAMPLES = 1000
SEED = 0
LEVEL = 0.95
MIN_IMAGES = 10
CI_DEFINITION = (f"percentile bootstrap {LEVEL * 100:.0f} % interval, images resampled by "
                 f"patient where the data name patients, {RESAMPLES:,} resamples; none under "
                 f"{MIN_IMAGES} images (n too small) or for a score that is 0 by construction; "
                 "a rate (the healthy false-positive rate) gets its exact Clopper-Pearson "
                 "interval instead")
TOO_FEW = "n too small"
ZERO_BY_CONSTRUCTION = ("0 by construction: no image has this target, so every scored image is a "
                        "false positive; the healthy FP rate is the meaningful number")


def bootstrap_weights(groups: Sequence, resamples: int = RESAMPLES, seed: int = SEED
                      ) -> np.ndarray:
    """How often each image is drawn in each resample, ``(resamples, N)``: whole groups
    (patients, or single images) are drawn with replacement until there are as many as before."""
    labels, group_of = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    rng = np.random.default_rng(seed)
    drawn = rng.multinomial(len(labels), np.full(len(labels), 1 / len(labels)), size=resamples)
    return drawn[:, group_of].astype(np.float64)


def interval(samples: np.ndarray) -> list[float] | None:
    """The central ``LEVEL`` interval of resampled values (NaN draws left out); None if none."""
    samples = samples[~np.isnan(samples)]
    if samples.size == 0:
        return None
    tail = 100 * (1 - LEVEL) / 2
    low, high = np.percentile(samples, [tail, 100 - tail])
    return [float(low), float(high)]


def ci_entry(name: str, samples: np.ndarray, n_images: int, zero: bool = False
             ) -> dict[str, Any]:
    """``<name>_ci95``: the interval of ``samples`` over ``n_images`` images, or None with
    ``<name>_ci95_note`` saying why (``zero``: the score is 0 by construction; too few images;
    undefined in every resample)."""
    key = f"{name}_ci95"
    if zero:
        why = ZERO_BY_CONSTRUCTION
    elif n_images < MIN_IMAGES:
        why = f"{TOO_FEW}: {n_images} image(s), an interval needs {MIN_IMAGES}"
    else:
        bounds = interval(samples)
        if bounds is not None:
            return {key: bounds}
        why = "undefined in every resample"
    return {key: None, f"{key}_note": why}


def standard_error(samples: np.ndarray) -> float | None:
    """The bootstrap standard error: the standard deviation of the resampled values (NaN draws
    left out); None if none."""
    samples = samples[~np.isnan(samples)]
    return float(samples.std(ddof=1)) if samples.size > 1 else None


def weighted_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per resample, the weighted mean of ``values`` (N,) over the images where it is defined."""
    defined = ~np.isnan(values)
    total = weights[:, defined] @ values[defined]
    count = weights[:, defined].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1e-300), np.nan)


def score_intervals(counts: torch.Tensor, weights: np.ndarray, targets: Sequence[str]
                    ) -> dict[str, dict[str, Any]]:
    """``ci_entry`` of each Dice and IoU of ``metrics.summarize_counts``, per target, from the
    per-image counts ``(N, T, 4)`` (the healthy false-positive rate, a rate, gets its exact
    interval instead: ``significance.rate_entry``)."""
    counts64 = counts.double().numpy()
    dice, iou = dice_from_counts(counts).numpy(), iou_from_counts(counts).numpy()
    pooled = torch.from_numpy(np.einsum("bn,ntk->btk", weights, counts64))
    tp, fn = counts64[..., TP], counts64[..., FN]
    empty_truth = (tp + fn) == 0
    out = {}
    for t, target in enumerate(targets):
        per_image = {"dice": dice[:, t], "iou": iou[:, t]}
        scored = int((~np.isnan(dice[:, t])).sum())
        zero = scored > 0 and bool(empty_truth[:, t].all())
        out[target] = {}
        for m in METRICS:
            out[target] |= ci_entry(f"{m}_imagewise", weighted_mean(per_image[m], weights),
                                    scored, zero)
            out[target] |= ci_entry(f"{m}_dataset", _pooled(pooled, t, m), len(counts), zero)
    return out


def _pooled(pooled: torch.Tensor, target: int, metric: str) -> np.ndarray:
    """Per resample, the dataset-level ``metric`` of ``target`` from pooled counts (B, T, 4)."""
    score = dice_from_counts if metric == "dice" else iou_from_counts
    return score(pooled[:, target]).numpy()


def weighted_correlation(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per resample, Pearson's r of paired values (N,) under the resample's weights."""
    total = weights.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, my = (weights @ x)[:, None] / total, (weights @ y)[:, None] / total
        dx, dy = x[None] - mx, y[None] - my
        cov = (weights * dx * dy).sum(axis=1)
        var = (weights * dx**2).sum(axis=1) * (weights * dy**2).sum(axis=1)
        return np.where(var > 0, cov / np.sqrt(var), np.nan)
