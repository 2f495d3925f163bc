"""The course's exercise checks: every check accepts its solution (``course.solutions``) and
rejects the typical wrong answer; a blank answer gets "not yet" and the hint."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from practical3.course.exercises import EXERCISES, check_exercise, feedback
from practical3.course.show import show_source
from practical3.course.solutions import SOLUTIONS
from practical3.data.cache import DecodedArrays
from practical3.data.dataset import CachedSource, SegmentationDataset
from practical3.data.index import build_index
from practical3.data.synth import synthesize
from practical3.models.blocks import DoubleConv


@pytest.fixture(scope="module")
def twin(tmp_path_factory) -> pd.DataFrame:
    return build_index(synthesize(tmp_path_factory.mktemp("twin") / "synthetic", per_class=2,
                                  size=64, parts=("infection",)))


def loader() -> DataLoader:
    rng = np.random.default_rng(0)
    arrays = DecodedArrays(rng.integers(0, 256, (10, 16, 16), dtype=np.uint8),
                           np.zeros((10, 2, 16, 16), np.uint8), ("lung", "infection"),
                           pd.DataFrame({"name": [f"{i}.png" for i in range(10)]}))
    return DataLoader(SegmentationDataset(CachedSource(arrays)), batch_size=4)


def metrics() -> dict:
    rows = [("none", 0.40), ("keep_two_lungs", 0.40), ("infection_in_lung", 0.43)]
    return {"ablation": {"variants": [{"steps": steps, "infection_dice_imagewise": dice,
                                       "lung_dice_imagewise": 0.9} for steps, dice in rows]}}


def probabilities() -> tuple[np.ndarray, np.ndarray]:
    """A lung whose prediction spreads beyond it with falling probability."""
    truth = np.zeros((2, 32, 32), bool)
    truth[0, 8:24, 8:24] = True
    yy, xx = np.mgrid[:32, :32]
    distance = np.maximum(abs(yy - 15.5), abs(xx - 15.5))
    prob = np.stack([np.clip(1.2 - distance / 10, 0, 1), np.zeros((32, 32))]).astype(np.float32)
    return prob, truth


PER_IMAGE = pd.DataFrame({"cls": ["COVID-19", "COVID-19", "Normal", "Normal", "Non-COVID"],
                          "pred_area_infection": [10, 0, 3, 0, 0]})


def context(key: str, twin: pd.DataFrame) -> tuple:
    """What the notebook's answer cell passes to the check of ``key``."""
    from practical3.plots.eda import area_table

    return {
        "1.1": (twin, "infection"), "1.3": (twin, "infection"),
        "1.2": (area_table(twin, part="infection"),),
        "3.1": (loader(),), "3.4": ([0.52, 0.93, 0.91],),
        "4.2": (metrics(),), "4.3": probabilities(), "4.4": (PER_IMAGE,),
    }.get(key, ())


@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_the_solution_is_accepted(key, twin):
    ctx = context(key, twin)
    result = feedback(key, SOLUTIONS[key].right(*ctx), *ctx)
    assert result.right, str(result)


@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_the_typical_wrong_answer_is_rejected(key, twin):
    ctx = context(key, twin)
    result = feedback(key, SOLUTIONS[key].wrong(*ctx), *ctx)
    assert not result.right and "not yet" in str(result)


@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_a_blank_answer_says_not_yet_with_the_hint(key, twin, capsys):
    check_exercise(key, None, *context(key, twin))
    out = capsys.readouterr().out
    assert out.startswith(f"Exercise {key}: not yet.") and EXERCISES[key].hint in out


def test_an_answer_of_the_wrong_kind_is_not_an_error():
    assert not feedback("2.2", "a shape").right
    assert not feedback("2.1", "2512").right
    assert not feedback("4.1", 0.5).right


def test_every_exercise_has_a_solution():
    assert sorted(SOLUTIONS) == sorted(EXERCISES)


def test_the_wrong_answers_name_the_mistake():
    assert "BatchNorm" in feedback("2.1", 2448).message
    assert "Dice at 0.5" in feedback("4.3", SOLUTIONS["4.3"].wrong(*probabilities()),
                                     *probabilities()).message


def test_the_source_shown_is_the_package_source():
    shown = show_source(DoubleConv)
    assert "nn.Conv2d(" in repr(shown) and "nn.BatchNorm2d(" in repr(shown)
    assert repr(shown).startswith("class DoubleConv")
    assert "practical3/models/blocks.py, line" in shown.where
    assert "<style>" in shown._repr_html_() and "DoubleConv" in shown._repr_html_()


def test_a_method_is_shown_dedented():
    from practical3.models.unet import UNet

    assert repr(show_source(UNet.forward)).startswith("def forward(self")


def test_the_threshold_changes_the_lung_dice():
    from practical3.course.exercises import threshold_dice

    prob, truth = probabilities()
    at = {t: threshold_dice(prob, truth, t)[0] for t in (0.3, 0.5, 0.7)}
    assert len(set(at.values())) == 3 and at[0.7] < at[0.5]
    assert torch.isnan(torch.tensor(threshold_dice(prob, truth, 0.5)[1]))


def test_the_browser_picks_the_classes_in_turn_covid_first():
    from practical3.course.browse import pick_rows

    rows = pd.DataFrame({"cls": ["Normal"] * 3 + ["COVID-19"] * 3 + ["Non-COVID"] * 3,
                         "name": [f"{i}.png" for i in range(9)]})
    assert list(pick_rows(rows, 4)["cls"]) == ["COVID-19", "Non-COVID", "Normal", "COVID-19"]


def test_a_sample_states_its_dice_and_severity_at_a_threshold():
    from practical3.course.browse import Sample

    truth = np.zeros((2, 8, 8), bool)
    truth[0, 2:6, 2:6] = True
    truth[1, 3, 3:5] = True
    sample = Sample("a.png", "COVID-19", np.zeros((8, 8), np.uint8), truth,
                    truth * np.float32(0.8), ("lung", "infection"))
    assert sample.scores(0.5) == ("lung Dice 1.000, infection Dice 1.000\n"
                                  "severity 12.5 % (true 12.5 %)")
    assert "severity undefined: no lung predicted" in sample.scores(0.9)
