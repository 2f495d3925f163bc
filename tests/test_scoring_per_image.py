"""The per-image table on two hand-drawn 4x4 images: every column's value, exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd

from practical3.scoring.per_image import per_image_table

TARGETS = ("lung", "infection")
CSV_COLUMNS = ["image", "cls", "height", "width", "lung_dice", "lung_iou", "lung_hd95",
               "pred_area_lung", "true_area_lung", "infection_dice", "infection_iou",
               "pred_area_infection", "true_area_infection", "severity_pred_percent",
               "severity_true_percent"]


def test_per_image_table_hand_computed():
    on, off = [1, 1, 1, 1], [0, 0, 0, 0]
    truth = np.array([
        [[on, on, off, off], [[1, 1, 0, 0], off, off, off]],  # COVID-19: 2 infected pixels
        [[on, on, off, off], [off, off, off, off]],  # Normal: no infection
    ], bool)
    pred = np.array([
        [[on, on, off, off], [on, off, off, off]],  # lung exact; infection 4 px, 2 of them true
        [[off, on, on, off], [off, off, off, off]],  # lung shifted by a row; no infection
    ], bool)
    rows = pd.DataFrame({"part": "infection", "split": "Test", "cls": ["COVID-19", "Normal"],
                         "name": ["covid_1.png", "Normal (1).png"]})
    expected = pd.DataFrame({
        "image": ["covid_1.png", "Normal (1).png"], "cls": ["COVID-19", "Normal"],
        "height": [4, 4], "width": [4, 4],
        "lung_dice": [1.0, 8 / 16], "lung_iou": [1.0, 4 / 12],
        "lung_hd95": [0.0, 1.0],  # the shifted lung's edges lie one row from the truth's
        "pred_area_lung": [8, 8], "true_area_lung": [8, 8],
        "infection_dice": [4 / 6, np.nan], "infection_iou": [2 / 4, np.nan],  # both empty: NaN
        "pred_area_infection": [4, 0], "true_area_infection": [2, 0],
        "severity_pred_percent": [50.0, 0.0], "severity_true_percent": [25.0, 0.0],
    })
    table = per_image_table(rows, pred, truth, TARGETS)
    assert list(table.columns) == CSV_COLUMNS
    pd.testing.assert_frame_equal(table, expected, check_dtype=False)
