"""Severity: the infected percentage of the lung per image, and its agreement with the truth,
on hand-counted masks."""

from __future__ import annotations

import numpy as np
import pytest

from practical3.scoring.severity import severity, severity_agreement
from practical3.scoring.uncertainty import bootstrap_weights

TARGETS = ("lung", "infection")


def area_masks(lung_areas: list[int], infection_areas: list[int], side: int = 4) -> np.ndarray:
    """(N, 2, side, side) masks with the given pixel counts (filled in reading order)."""
    flat = np.zeros((len(lung_areas), 2, side * side), bool)
    for i, (lung, infection) in enumerate(zip(lung_areas, infection_areas, strict=True)):
        flat[i, 0, :lung] = True
        flat[i, 1, :infection] = True
    return flat.reshape(len(lung_areas), 2, side, side)


def test_severity_is_the_infected_percentage_of_the_lung():
    pred = area_masks([8, 4, 0], [2, 1, 3])
    truth = area_masks([8, 8, 8], [4, 0, 8])
    predicted, true = severity(pred, truth, TARGETS)
    np.testing.assert_array_equal(predicted, [25.0, 25.0, np.nan])  # no predicted lung: NaN
    np.testing.assert_array_equal(true, [50.0, 0.0, 100.0])


def test_severity_follows_the_channel_order_of_the_targets():
    pred, truth = area_masks([8], [2]), area_masks([8], [4])
    swapped = severity(pred[:, ::-1], truth[:, ::-1], ("infection", "lung"))
    np.testing.assert_array_equal(swapped, ([25.0], [50.0]))


def test_severity_agreement_hand_computed():
    predicted = np.array([0.0, 10.0, 20.0, np.nan])
    true = np.array([10.0, 0.0, 20.0, 50.0])
    # Over the 3 images with both: deviations (-10, 0, 10) and (0, -10, 10), so
    # r = 100 / sqrt(200 * 200) = 0.5; MAE = (10 + 10 + 0) / 3.
    # Differences (-10, 10, 0): bias 0, SD 10, limits of agreement 0 -+ 1.96 x 10.
    agreement = severity_agreement(predicted, true)
    assert {k: agreement[k] for k in ("n_images", "pearson_r", "mae_percentage_points",
                                      "mean_true_percent", "mean_predicted_percent", "bias_pp",
                                      "sd_pp", "loa_lower_pp", "loa_upper_pp")} == {
        "n_images": 3, "pearson_r": pytest.approx(0.5),
        "mae_percentage_points": pytest.approx(20 / 3),
        "mean_true_percent": pytest.approx(10.0), "mean_predicted_percent": pytest.approx(10.0),
        "bias_pp": pytest.approx(0.0), "sd_pp": pytest.approx(10.0),
        "loa_lower_pp": pytest.approx(-19.6), "loa_upper_pp": pytest.approx(19.6),
    }
    assert agreement["bias_test"]["test"] == "Wilcoxon signed-rank test"
    assert not agreement["bias_test"]["significant"]


def test_a_prediction_biased_low_is_found_biased_and_r_does_not_show_it():
    """Pearson r measures association: half the truth correlates perfectly, and only the bias
    and its test say that the two do not agree."""
    true = np.linspace(10, 90, 40)
    agreement = severity_agreement(true / 2, true, bootstrap_weights(np.arange(40)))
    assert agreement["pearson_r"] == pytest.approx(1.0)
    assert agreement["bias_pp"] == pytest.approx(-25.0)
    assert agreement["bias_test"]["significant"] and agreement["bias_test"]["p_value"] < 1e-6
    low, high = agreement["bias_pp_ci95"]
    assert low < -25.0 < high < 0
    assert agreement["loa_lower_pp_ci95"][1] < agreement["loa_upper_pp_ci95"][0]


def test_severity_agreement_without_enough_images_has_no_correlation():
    one = severity_agreement(np.array([30.0]), np.array([20.0]))
    assert one["n_images"] == 1 and one["pearson_r"] is None
    assert one["mae_percentage_points"] == pytest.approx(10.0)
    constant = severity_agreement(np.array([5.0, 5.0]), np.array([1.0, 3.0]))
    assert constant["pearson_r"] is None
    none = severity_agreement(np.array([np.nan]), np.array([1.0]))
    assert {k: none[k] for k in ("n_images", "pearson_r", "mae_percentage_points",
                                 "mean_true_percent", "mean_predicted_percent", "bias_pp",
                                 "bias_test")} == {
        "n_images": 0, "pearson_r": None, "mae_percentage_points": None,
        "mean_true_percent": None, "mean_predicted_percent": None, "bias_pp": None,
        "bias_test": None}
