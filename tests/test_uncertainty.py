"""Bootstrap intervals: resampling by group, percentiles, and the same scores as the point
estimate when every image is drawn once."""

import numpy as np
import pytest
import torch

from practical3.scoring.metrics import summarize_counts
from practical3.scoring.uncertainty import (
    bootstrap_weights,
    interval,
    score_intervals,
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
                           [[5, 5, 5, 1], [0, 0, 0, 16]]])
    names = ["lung", "infection"]
    point = summarize_counts(counts, names)
    intervals = score_intervals(counts, np.ones((1, 3)), names)
    for target in names:
        for score in ("dice_imagewise", "iou_imagewise", "dice_dataset", "iou_dataset",
                      "healthy_fp_rate"):
            expected = point[target][score]
            got = intervals[target][f"{score}_ci95"]
            assert got == ([pytest.approx(expected)] * 2 if expected is not None else None)
