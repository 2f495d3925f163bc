"""The score post-processing is chosen by, and when a gain in it counts.

The score is the mean over targets of the imagewise Dice (an undefined one counts 0): it scores
a healthy image with a false-positive infection as 0, so removing false positives is rewarded.
A gain counts only beyond noise: by more than ``MIN_GAIN`` and by more than the bootstrap
standard error of the paired gain (the images of each resample scored before and after).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from practical3.scoring.metrics import counts_of, dice_from_counts, summarize_counts
from practical3.scoring.uncertainty import standard_error, weighted_mean

MIN_GAIN = 0.005
SELECTION_RULE = (f"greedy on Val: a step stays on only if it raises the mean imagewise Dice "
                  f"by more than {MIN_GAIN * 100:g} Dice points and by more than the bootstrap "
                  "standard error of the paired gain (images resampled together)")


def selection_score(pred: Sequence[np.ndarray], truth: Sequence[np.ndarray],
                    targets: tuple[str, ...]) -> float:
    """The mean over ``targets`` of the imagewise Dice of masks of any sizes (undefined: 0)."""
    summary = summarize_counts(counts_of(pred, truth), targets)
    return sum(summary[t]["dice_imagewise"] or 0.0 for t in targets) / len(targets)


def resampled_selection_score(pred: Sequence[np.ndarray], truth: Sequence[np.ndarray],
                              weights: np.ndarray) -> np.ndarray:
    """``selection_score`` in each bootstrap resample ``weights`` (B, N): (B,)."""
    dice = dice_from_counts(counts_of(pred, truth)).numpy()
    per_target = [np.nan_to_num(weighted_mean(dice[:, t], weights)) for t in range(dice.shape[1])]
    return np.mean(per_target, axis=0)


def beyond_noise(gain: float, paired_gains: np.ndarray) -> tuple[float, bool]:
    """The standard error of the resampled ``paired_gains`` (0 when undefined), and whether
    ``gain`` exceeds both it and ``MIN_GAIN``."""
    noise = standard_error(paired_gains) or 0.0
    return noise, gain > max(MIN_GAIN, noise)
