"""The severity score: how much of the lung is infected, in percent of its area, per image;
and how well the predicted severities agree with the true ones (Pearson r, mean absolute
error), with bootstrap intervals (``uncertainty``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from practical3.scoring.uncertainty import ci_entry, weighted_correlation, weighted_mean


def infected_percent(lung: np.ndarray, infection: np.ndarray) -> float:
    """100 x infected pixels / lung pixels of one image's masks; NaN when the lung mask is
    empty, as a share of no lung is undefined (not 0)."""
    lung_area = np.count_nonzero(lung)
    if lung_area == 0:
        return math.nan
    return 100 * np.count_nonzero(infection) / lung_area


def severity(pred: Sequence[np.ndarray], truth: Sequence[np.ndarray], targets: tuple[str, ...]
             ) -> tuple[np.ndarray, np.ndarray]:
    """``infected_percent`` of every image, predicted and true (NaN without lung); each image's
    masks are ``(T, H, W)`` with channels ``targets``."""
    lung, infection = targets.index("lung"), targets.index("infection")

    def percent(masks: Sequence[np.ndarray]) -> np.ndarray:
        return np.array([infected_percent(m[lung], m[infection]) for m in masks])

    return percent(pred), percent(truth)


def severity_agreement(predicted: np.ndarray, true: np.ndarray,
                       weights: np.ndarray | None = None) -> dict[str, Any]:
    """Pearson r and mean absolute error (percentage points) over images where both exist,
    with bootstrap intervals when ``weights`` (``uncertainty.bootstrap_weights``) are given."""
    ok = ~(np.isnan(predicted) | np.isnan(true))
    p, t = predicted[ok], true[ok]
    defined = len(p) >= 2 and p.std() > 0 and t.std() > 0
    result: dict[str, Any] = {
        "n_images": int(ok.sum()),
        "pearson_r": float(np.corrcoef(p, t)[0, 1]) if defined else None,
        "mae_percentage_points": float(np.abs(p - t).mean()) if len(p) else None,
        "mean_true_percent": float(t.mean()) if len(t) else None,
        "mean_predicted_percent": float(p.mean()) if len(p) else None,
    }
    if weights is not None:
        w = weights[:, ok]
        correlation = weighted_correlation(p, t, w) if defined else np.array([np.nan])
        result |= ci_entry("pearson_r", correlation, len(p))
        result |= ci_entry("mae_percentage_points", weighted_mean(np.abs(p - t), w), len(p))
    return result
