"""Summaries per class: the lungs' boundary distance with its misses and intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from practical3.scoring.summaries import boundary_summaries
from practical3.scoring.uncertainty import TOO_FEW, bootstrap_weights


def test_boundary_summaries_count_total_misses_at_the_diagonal():
    # 12 Normal images: 10 with HD95 2 px, one total miss (diagonal of 30 x 40 = 50), one both
    # empty (undefined): the miss raises the mean, and is counted.
    hd95 = np.array([2.0] * 10 + [50.0, np.nan])
    misses = np.array([False] * 10 + [True, False])
    classes = pd.Series(["Normal"] * 12)
    summary = boundary_summaries(hd95, misses, classes, bootstrap_weights(range(12)))["Normal"]
    assert summary["hd95_mean"] == pytest.approx(70 / 11)
    assert summary["hd95_median"] == 2.0
    assert (summary["n_images_hd95"], summary["n_images_hd95_miss"]) == (11, 1)
    low, high = summary["hd95_mean_ci95"]
    assert low <= 70 / 11 <= high


def test_boundary_summaries_give_no_interval_under_ten_images():
    summary = boundary_summaries(np.array([1.0, 3.0]), np.zeros(2, bool),
                                 pd.Series(["COVID-19"] * 2), np.ones((5, 2)))["COVID-19"]
    assert summary["hd95_mean"] == 2.0 and summary["hd95_mean_ci95"] is None
    assert summary["hd95_mean_ci95_note"].startswith(TOO_FEW)
