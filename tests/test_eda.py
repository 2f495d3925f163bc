"""EDA tables on hand-made masks with exact areas, seeded subsampling, and figure titles."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from practical3.base.errors import DataError
from practical3.data import layout
from practical3.data.index import COLUMNS, build_index
from practical3.data.synth import synthesize
from practical3.plots import eda


def write_png(path: Path, array: np.ndarray) -> str:
    Image.fromarray(array.astype(np.uint8)).save(path)
    return str(path)


@pytest.fixture
def one_image(tmp_path) -> pd.DataFrame:
    """One 8x8 COVID-19 row: lung 4x4 (1/4 of the image), infection 2x2 (1/4 of the lung)."""
    lung, infection = np.zeros((8, 8)), np.zeros((8, 8))
    lung[2:6, 2:6] = 255
    infection[2:4, 2:4] = 255
    row = {"part": "infection", "split": "Test", "cls": "COVID-19", "name": "covid_1.png",
           "image": write_png(tmp_path / "image.png", np.full((8, 8), 90)),
           "lung": write_png(tmp_path / "lung.png", lung),
           "infection": write_png(tmp_path / "infection.png", infection)}
    return pd.DataFrame([row], columns=list(COLUMNS))


def test_area_table_fractions(one_image):
    areas = eda.area_table(one_image)
    row = areas.iloc[0]
    assert row["lung_area"] == 16 / 64
    assert row["infection_area"] == 4 / 64
    assert row["infection_of_lung"] == 4 / 16
    assert row["class_total"] == 1


def test_area_table_of_the_lung_part_has_no_infection(one_image):
    areas = eda.area_table(one_image.assign(part="lung", infection=None), part="lung")
    assert areas.iloc[0]["lung_area"] == 16 / 64
    assert math.isnan(areas.iloc[0]["infection_area"])


@pytest.fixture
def fake_index() -> pd.DataFrame:
    """10 rows per class of the Infection part and 5 Lung rows; no files behind them."""
    rows = [{"part": "infection", "cls": cls, "name": f"{cls} {i}"}
            for cls in layout.CLASSES for i in range(10)]
    rows += [{"part": "lung", "cls": "Normal", "name": f"lung {i}"} for i in range(5)]
    return pd.DataFrame(rows)


def test_sample_rows_caps_each_class(fake_index):
    rows = eda.sample_rows(fake_index, "infection", per_class=3)
    assert rows.groupby("cls").size().to_dict() == dict.fromkeys(layout.CLASSES, 3)
    assert set(rows["part"]) == {"infection"}


def test_sample_rows_is_seeded_and_in_index_order(fake_index):
    first = eda.sample_rows(fake_index, "infection", per_class=3, seed=1)
    again = eda.sample_rows(fake_index, "infection", per_class=3, seed=1)
    other = eda.sample_rows(fake_index, "infection", per_class=3, seed=2)
    assert list(first.index) == list(again.index) == sorted(first.index)
    assert list(first.index) != list(other.index)


def test_sample_rows_keeps_small_classes_whole(fake_index):
    assert len(eda.sample_rows(fake_index, "lung", per_class=300)) == 5


def test_sample_rows_of_an_absent_part_names_it(fake_index):
    with pytest.raises(DataError, match="'lung'"):
        eda.sample_rows(fake_index[fake_index["part"] == "infection"], "lung")


@pytest.fixture(scope="module")
def twin_index(tmp_path_factory) -> pd.DataFrame:
    root = synthesize(tmp_path_factory.mktemp("twin") / "synthetic", per_class=2, size=32,
                      parts=("infection",))
    return build_index(root)


def test_subsampled_figure_says_so(twin_index):
    fig = eda.plot_intensity_histograms(twin_index, per_class=1)
    assert "random 3 of 18" in fig.get_suptitle()
    plt.close(fig)


def test_examples_show_per_class_panels(twin_index):
    fig = eda.plot_examples(twin_index, per_class=2)
    titles = [ax.get_title() for ax in fig.axes]
    assert sum(t.startswith("COVID-19") for t in titles) == 2
    assert sum(t.startswith("Normal") for t in titles) == 2
    plt.close(fig)
