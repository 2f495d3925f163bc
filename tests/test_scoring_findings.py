"""The statistics a report's findings rest on: exact rate intervals, stated tests, Dice by
lesion size with its misses, the averaging rules set beside a cited number, near-duplicates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from practical3.data.near_duplicates import near_duplicates, thumbnail_hash
from practical3.scoring import findings
from practical3.scoring.significance import (
    NOT_APPLICABLE,
    exact_rate_interval,
    fisher_two_rates,
    rank_trend,
    rate_entry,
)
from practical3.scoring.summaries import class_summaries
from practical3.scoring.uncertainty import bootstrap_weights


def test_a_rate_of_few_events_gets_its_exact_interval_not_a_collapsed_one():
    low, high = exact_rate_interval(2, 93)  # the audit's 2 of 93: exact [0.26, 7.55] %
    assert low == pytest.approx(0.0026, abs=5e-5) and high == pytest.approx(0.0755, abs=5e-5)
    assert exact_rate_interval(0, 93)[0] == 0.0 and exact_rate_interval(0, 0) is None


def test_a_rate_no_image_can_have_is_not_applicable_not_too_small():
    assert rate_entry("healthy_fp_rate", 0, 0)["healthy_fp_rate_ci95_note"].startswith(
        NOT_APPLICABLE)


def test_the_healthy_fp_rate_in_the_summaries_has_the_exact_interval():
    # 20 images of one target: 10 with a lesion, 10 healthy of which 2 get predicted pixels.
    counts = np.zeros((20, 1, 4))
    counts[:10, 0] = [5, 0, 0, 95]          # tp, fp, fn, tn: lesion found
    counts[10:12, 0] = [0, 3, 0, 97]        # healthy, false positive
    counts[12:, 0] = [0, 0, 0, 100]         # healthy, clean
    summary = class_summaries(torch.as_tensor(counts), pd.Series(["COVID-19"] * 20), ("x",),
                              bootstrap_weights(np.arange(20)))["x"]["all"]
    assert summary["healthy_fp_rate"] == pytest.approx(0.2)
    assert summary["healthy_fp_rate_ci95"] == pytest.approx(exact_rate_interval(2, 10))


def test_fisher_decides_the_audits_two_rates_as_no_evidence():
    test = fisher_two_rates(7, 93, 2, 93)  # the audit: Non-COVID 7/93 against Normal 2/93
    assert test.p_value == pytest.approx(0.17, abs=0.01) and not test.significant
    assert fisher_two_rates(30, 93, 2, 93).significant


def test_a_rank_trend_needs_variation():
    x = np.arange(20.0)
    assert rank_trend(x, x**2).significant
    assert rank_trend(x, np.ones(20)).p_value is None


def per_image_table() -> pd.DataFrame:
    """Nine COVID-19 images, three per size third; the smallest third has two misses."""
    true = [100, 120, 140, 1000, 1100, 1200, 5000, 5200, 5400]
    pred = [0, 0, 150, 900, 1000, 1100, 5000, 5100, 5300]
    dice = [0.0, 0.0, 0.5, 0.8, 0.85, 0.9, 0.95, 0.96, 0.97]
    rows = pd.DataFrame({"image": [f"c{i}.png" for i in range(9)], "cls": "COVID-19",
                         "true_area_infection": true, "pred_area_infection": pred,
                         "infection_dice": dice, "infection_iou": [d / (2 - d) for d in dice],
                         "lung_dice": 0.95, "true_area_lung": 9000, "pred_area_lung": 9000})
    healthy = pd.DataFrame({"image": ["n0.png", "n1.png"], "cls": "Normal",
                            "true_area_infection": 0, "pred_area_infection": [0, 40],
                            "infection_dice": [np.nan, 0.0], "infection_iou": [np.nan, 0.0],
                            "lung_dice": 0.97, "true_area_lung": 9000, "pred_area_lung": 9000})
    return pd.concat([rows, healthy], ignore_index=True)


def test_the_lesion_thirds_count_the_images_missed_entirely_and_name_true_areas():
    rows = findings.lesion_size_rows(per_image_table())
    assert [r["n_missed"] for r in rows] == [2, 0, 0]
    assert (rows[0]["low"], rows[0]["high"]) == (100, 140)  # the areas themselves, not cut
    assert findings.missed_entirely(per_image_table(), "infection", "COVID-19")["k"] == 2


def test_each_averaging_rule_is_named_and_computed():
    rules = {(r["images"], r["rule"]): r for r in findings.averaging_rules(per_image_table(),
                                                                           "infection")}
    covid = rules[("COVID-19 images only", "per image, both-empty images left out")]
    assert covid["dice"] == pytest.approx(np.mean([0, 0, .5, .8, .85, .9, .95, .96, .97]))
    one = rules[("all images", "per image, both-empty images scored 1 (smp zero_division=1)")]
    assert one["n_images"] == 11 and one["dice"] > rules[
        ("all images", "per image, both-empty images left out")]["dice"]
    assert ("all images", "pooled pixels") in rules


def test_scores_without_near_duplicates_leave_them_out():
    scores = findings.without_near_duplicates(per_image_table(), ["c8.png"])
    assert scores["kept"]["n_covid"] == 8 and scores["dropped"]["covid_infection_dice"] == 0.97


def test_a_film_saved_again_darker_is_found_as_a_near_duplicate(tmp_path):
    rng = np.random.default_rng(0)
    films = [np.kron(rng.uniform(20, 230, (8, 8)), np.ones((8, 8))) for _ in range(3)]
    rows = []
    for split, name, pixels in [("Train", "a.png", films[0]), ("Train", "b.png", films[1]),
                                ("Test", "a_again.png", films[0] * 0.9),
                                ("Test", "c.png", films[2])]:
        path = tmp_path / name
        Image.fromarray(pixels.astype(np.uint8)).save(path)
        rows.append({"split": split, "name": name, "cls": "COVID-19", "image": str(path)})
    found = near_duplicates(pd.DataFrame(rows))
    assert [(p["image"], p["match"]) for p in found["pairs"]] == [("a_again.png", "a.png")]
    assert found["n_compared"] == 2 and found["n_against"] == 2
    assert np.linalg.norm(thumbnail_hash(str(tmp_path / "a.png"))) == pytest.approx(1.0)
