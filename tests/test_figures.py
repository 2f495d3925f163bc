"""Evaluation figures: every one is written, the overlays skip cleanly, cases are picked exactly."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from practical3 import postprocess
from practical3.figures import (
    FIGURE_NAMES,
    OVERLAYS,
    chosen_postprocess,
    dice_distributions,
    draw_all,
    pick_cases,
)
from practical3.postprocess import PostProcess

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def results(tiny_results):
    return tiny_results


def test_draw_all_writes_every_figure_as_a_print_resolution_png(results, tmp_path):
    written = draw_all(results, tmp_path)
    assert sorted(path.name for path in written) == sorted(f"{n}.png" for n in FIGURE_NAMES)
    for path in written:
        assert path.parent == tmp_path and path.read_bytes()[:8] == PNG_SIGNATURE
        with Image.open(path) as image:
            assert min(image.size) >= 600, (path.name, image.size)


def test_overlays_are_skipped_with_a_message_when_the_checkpoint_is_gone(results, tmp_path,
                                                                         capsys):
    copy = shutil.copytree(results, tmp_path / "results")
    metrics = json.loads((copy / "metrics.json").read_text())
    metrics["checkpoint"]["path"] = str(tmp_path / "runs" / "best.pt")
    (copy / "metrics.json").write_text(json.dumps(metrics))
    written = draw_all(copy, tmp_path / "figures")
    assert {path.stem for path in written} == set(FIGURE_NAMES) - {OVERLAYS}
    message = capsys.readouterr().err
    assert f"skipped {OVERLAYS}" in message and str(tmp_path / "runs" / "best.pt") in message


def _table(rows: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["image", "cls", "dice_lung", "dice_infection"])


def test_pick_cases_takes_best_median_and_worst_of_each_class():
    table = _table([
        ("a", "COVID-19", 0.9, 0.9),     # mean 0.9
        ("b", "COVID-19", 0.6, 0.4),     # mean 0.5
        ("c", "COVID-19", 0.7, np.nan),  # mean 0.7 (infection undefined)
        ("d", "COVID-19", np.nan, np.nan),  # cannot be ranked
        ("e", "Normal", 0.8, 0.0),
    ])
    cases = pick_cases(table)
    assert list(zip(cases["cls"], cases["case"], cases["image"], strict=True)) == [
        ("COVID-19", "best", "a"), ("COVID-19", "median", "c"), ("COVID-19", "worst", "b"),
        ("Normal", "best", "e"),
    ]


def test_pick_cases_never_shows_an_image_twice_and_keeps_best_and_worst_first():
    table = _table([("a", "Normal", 0.2, 0.2), ("b", "Normal", 0.9, 0.9)])
    cases = pick_cases(table)
    assert list(zip(cases["case"], cases["image"], strict=True)) == [("best", "b"),
                                                                     ("worst", "a")]


@pytest.mark.parametrize("steps", [(), ("keep_two_lungs",), postprocess.STEPS])
def test_chosen_postprocess_rebuilds_the_evaluated_steps_from_their_name(steps):
    chosen = PostProcess(min_speck_fraction=0.01).with_steps(steps)
    metrics = {"postprocessing": {"chosen": chosen.name, "min_speck_fraction": 0.01}}
    assert chosen_postprocess(metrics) == chosen


def test_dice_distributions_count_the_undefined_images_per_class():
    table = _table([("a", "COVID-19", 0.9, 0.5), ("b", "Normal", 0.8, np.nan),
                    ("c", "Normal", 0.7, 0.0)])
    fig = dice_distributions(table)
    labels = [[tick.get_text() for tick in ax.get_xticklabels()] for ax in fig.axes]
    assert labels == [["COVID-19\n1 scored, 0 undefined", "Normal\n2 scored, 0 undefined"],
                      ["COVID-19\n1 scored, 0 undefined", "Normal\n1 scored, 1 undefined"]]
