"""How sure a score is: bootstrap 95 % confidence intervals over the evaluated images.

Images are resampled with replacement, by patient when the data name patients (images of one
patient are not independent, so they are drawn together), and every score is recomputed from
the same per-image counts as the point estimate. The interval is the 2.5th to 97.5th
percentile of the resampled scores (percentile bootstrap, ``RESAMPLES`` draws, fixed seed).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from practical3.scoring.metrics import (
    FN,
    FP,
    HEALTHY_FP,
    METRICS,
    TP,
    dice_from_counts,
    iou_from_counts,
)

RESAMPLES = 1000
SEED = 0
LEVEL = 0.95


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


def weighted_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per resample, the weighted mean of ``values`` (N,) over the images where it is defined."""
    defined = ~np.isnan(values)
    total = weights[:, defined] @ values[defined]
    count = weights[:, defined].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1e-300), np.nan)


def score_intervals(counts: torch.Tensor, weights: np.ndarray, targets: Sequence[str]
                    ) -> dict[str, dict[str, list[float] | None]]:
    """``<score>_ci95`` for each score of ``metrics.summarize_counts``, per target, from the
    per-image counts ``(N, T, 4)``."""
    counts64 = counts.double().numpy()
    dice, iou = dice_from_counts(counts).numpy(), iou_from_counts(counts).numpy()
    pooled = torch.from_numpy(np.einsum("bn,ntk->btk", weights, counts64))
    tp, fp, fn = counts64[..., TP], counts64[..., FP], counts64[..., FN]
    healthy = np.where((tp + fn) == 0, ((tp + fp) > 0).astype(float), np.nan)
    out = {}
    for t, target in enumerate(targets):
        per_image = {"dice": dice[:, t], "iou": iou[:, t]}
        resampled = {
            **{f"{m}_imagewise": weighted_mean(per_image[m], weights) for m in METRICS},
            **{f"{m}_dataset": _pooled(pooled, t, m) for m in METRICS},
            HEALTHY_FP: weighted_mean(healthy[:, t], weights),
        }
        out[target] = {f"{name}_ci95": interval(values) for name, values in resampled.items()}
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
