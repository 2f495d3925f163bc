"""Bootstrap intervals: resampling by group, percentiles, and the same scores as the point
estimate when every image is drawn once."""

import numpy as np
import pandas as pd
import pytest
import torch

from practical3.scoring.metrics import summarize_counts
from practical3.scoring.summaries import class_summaries
from practical3.scoring.uncertainty import (
    MIN_IMAGES,
    TOO_FEW,
    ZERO_BY_CONSTRUCTION,
    bootstrap_weights,
    ci_entry,
    interval,
    score_intervals,
    standard_error,
    weighted_correlation,
    weighted_mean,
)


def test_resamples_draw_as_many_groups_as_there_are():
    weights = bootstrap_weights(["a", "b", "c", "d"], resamples=50)
    assert weights.shape == (50, 4)
    np.testing.assert_array_equal(weights.sum(axis=1), np.full(50, 4))


def test_images_of_one_patient_are_drawn_together():
    weights = bootstrap_weights(["p1", "p1", "p2", "p3", "p3", "p3"], resamples=200)
    np.testing.assert_array_equal(weights[:, 0], weights[:, 1])
    np.testing.assert_array_equal(weights[:, 3], weights[:, 5])
    # three patients are drawn per resample, whatever their sizes
    np.testing.assert_array_equal(weights[:, [0, 2, 3]].sum(axis=1), np.full(200, 3))


def test_the_same_seed_gives_the_same_resamples():
    first, again = bootstrap_weights(list("abcde"), 20), bootstrap_weights(list("abcde"), 20)
    assert np.array_equal(first, again)
    assert not np.array_equal(bootstrap_weights(list("abcde"), 20, seed=1),
                              bootstrap_weights(list("abcde"), 20))


def test_interval_is_the_central_95_percent_and_ignores_undefined_draws():
    samples = np.concatenate([np.arange(1001) / 1000, [np.nan] * 7])
    assert interval(samples) == pytest.approx([0.025, 0.975])
    assert interval(np.full(10, 0.5)) == [0.5, 0.5]
    assert interval(np.full(3, np.nan)) is None


def test_weighted_mean_leaves_undefined_images_out():
    values = np.array([1.0, np.nan, 3.0])
    weights = np.array([[1, 1, 1], [2, 5, 0], [0, 3, 0]], float)
    np.testing.assert_allclose(weighted_mean(values, weights), [2.0, 1.0, np.nan])


def test_weighted_correlation_with_every_image_once_is_pearsons_r():
    rng = np.random.default_rng(0)
    x, y = rng.random(12), rng.random(12)
    assert weighted_correlation(x, y, np.ones((1, 12)))[0] == pytest.approx(np.corrcoef(x, y)[0, 1])


def test_score_intervals_with_every_image_drawn_once_are_the_point_estimates():
    counts = torch.tensor([[[9, 1, 0, 6], [0, 2, 0, 14]],
                           [[4, 0, 4, 8], [3, 1, 2, 10]],
                           [[5, 5, 5, 1], [0, 0, 0, 16]]] * 5)  # 10 healthy of 15: enough
    names = ["lung", "infection"]
    point = summarize_counts(counts, names)
    intervals = score_intervals(counts, np.ones((1, 15)), names)
    for target in names:
        for score in ("dice_imagewise", "iou_imagewise", "dice_dataset", "iou_dataset"):
            expected = point[target][score]
            got = intervals[target][f"{score}_ci95"]
            assert got == ([pytest.approx(expected)] * 2 if expected is not None else None)


def test_an_interval_needs_ten_images():
    samples = np.linspace(0, 1, 101)
    assert ci_entry("dice", samples, MIN_IMAGES) == {"dice_ci95": pytest.approx([0.025, 0.975])}
    entry = ci_entry("dice", samples, MIN_IMAGES - 1)
    assert entry["dice_ci95"] is None
    assert entry["dice_ci95_note"] == f"{TOO_FEW}: 9 image(s), an interval needs 10"


def test_one_image_gets_no_zero_width_interval():
    counts = torch.tensor([[[90, 5, 3, 2]]])
    scores = score_intervals(counts, bootstrap_weights(["a"], resamples=20), ["lung"])["lung"]
    assert scores["dice_imagewise_ci95"] is None
    assert scores["dice_imagewise_ci95_note"].startswith(TOO_FEW)


def test_a_dice_that_is_zero_by_construction_gets_no_interval():
    # 12 healthy images, 5 with a false-positive infection: every scored image scores 0.
    counts = torch.tensor([[[0, 3, 0, 13]]] * 5 + [[[0, 0, 0, 16]]] * 7)
    scores = class_summaries(counts, pd.Series(["Normal"] * 12), ("infection",),
                             bootstrap_weights(range(12), resamples=50))["infection"]["Normal"]
    for score in ("dice_imagewise", "iou_imagewise", "dice_dataset", "iou_dataset"):
        assert scores[f"{score}_ci95"] is None
        assert scores[f"{score}_ci95_note"] == ZERO_BY_CONSTRUCTION
    low, high = scores["healthy_fp_rate_ci95"]  # the meaningful number keeps its interval
    assert low < 5 / 12 < high and scores["healthy_fp_rate_ci95_method"] == "Clopper-Pearson"


def test_standard_error_is_the_spread_of_the_resamples():
    assert standard_error(np.array([1.0, 3.0, np.nan])) == pytest.approx(np.sqrt(2))
    assert standard_error(np.array([np.nan])) is None
