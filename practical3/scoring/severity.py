"""The severity score: how much of the lung is infected, in percent of its area, per image;
and how well the predicted severities agree with the true ones, with bootstrap intervals
(``uncertainty``).

Pearson r measures association, not agreement: a prediction that is always half the truth
correlates perfectly. Agreement is Bland and Altman's (1986): the bias (mean of predicted minus
true), the limits of agreement (bias +- 1.96 SD of the differences) and the mean absolute
error; whether the bias differs from 0 is decided by the Wilcoxon signed-rank test (the
differences need not be normal; Shapiro-Wilk says whether they are)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from practical3.scoring.significance import Comparison
from practical3.scoring.uncertainty import ci_entry, weighted_correlation, weighted_mean

LOA_Z = 1.96  # limits of agreement: bias +- LOA_Z SD, where 95 % of normal differences fall


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
    result |= bland_altman(p - t)
    if weights is not None:
        w = weights[:, ok]
        correlation = weighted_correlation(p, t, w) if defined else np.array([np.nan])
        result |= ci_entry("pearson_r", correlation, len(p))
        result |= ci_entry("mae_percentage_points", weighted_mean(np.abs(p - t), w), len(p))
        for name, samples in resampled_limits(p - t, w).items():
            result |= ci_entry(name, samples, len(p))
    return result


def bland_altman(differences: np.ndarray) -> dict[str, Any]:
    """Bias, SD and limits of agreement (percentage points) of paired differences, the
    Wilcoxon signed-rank test of a zero bias and the Shapiro-Wilk test of their normality."""
    d = differences
    if len(d) < 3:
        return {"bias_pp": float(d.mean()) if len(d) else None, "sd_pp": None,
                "loa_lower_pp": None, "loa_upper_pp": None, "bias_test": None,
                "normality_test": None}
    sd = float(d.std(ddof=1))
    zero_bias = (Comparison("Wilcoxon signed-rank test", *map(float, stats.wilcoxon(d)))
                 if np.any(d != 0) else Comparison("Wilcoxon signed-rank test", None, None))
    shapiro = stats.shapiro(d)
    return {"bias_pp": float(d.mean()), "sd_pp": sd,
            "loa_lower_pp": float(d.mean() - LOA_Z * sd),
            "loa_upper_pp": float(d.mean() + LOA_Z * sd),
            "bias_test": zero_bias.as_dict(),
            "normality_test": Comparison("Shapiro-Wilk test", float(shapiro.statistic),
                                         float(shapiro.pvalue)).as_dict()}


def resampled_limits(differences: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Per bootstrap resample (``weights`` (B, N)), the bias and both limits of agreement."""
    bias = weighted_mean(differences, weights)
    total = weights.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = (weights * (differences[None] - bias[:, None]) ** 2).sum(axis=1) / (total - 1)
    sd = np.sqrt(variance)
    return {"bias_pp": bias, "loa_lower_pp": bias - LOA_Z * sd, "loa_upper_pp": bias + LOA_Z * sd}
