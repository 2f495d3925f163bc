"""Every figure the course and the report draw, rendered and measured: no legend over the data
label, over an axes (its curves, bars or points) or over another legend; tick labels that do not
run together; the untrained logits on a colour map centred at 0."""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.transforms import Bbox

from practical3.data.index import build_index, count_table
from practical3.evaluation.cases import Cases
from practical3.evaluation.results import load
from practical3.plots import eda, evaluation, model
from practical3.plots.common import save_figure

LABEL = ("Data: real COVID-QU-Ex (Kaggle anasmohammedtahir/covidqu)\n"
         "Credit: COVID-QU-Ex, Tahir et al., Computers in Biology and Medicine 139 (2021) 105002")


def _overlays() -> plt.Figure:
    rows = pd.DataFrame({"cls": ["COVID-19", "Normal"], "image": ["a.png", "b.png"],
                         "case": ["best", "best"], "lung_dice": [0.9, 0.8],
                         "infection_dice": [0.7, np.nan]})
    image, masks = np.zeros((16, 16), np.uint8), np.ones((2, 16, 16), bool)
    return evaluation.prediction_overlays(Cases(rows, [image] * 2, [masks] * 2, [masks] * 2, 2, 2),
                                          ("lung", "infection"))


@pytest.fixture(scope="module")
def drawers(data, tiny_results):
    index = build_index(data)
    areas = eda.area_table(index, part="infection")
    results = load(tiny_results)
    image = np.full((64, 64), 128, np.uint8)
    logits = torch.linspace(-3, -1, 2 * 64 * 64).reshape(1, 2, 64, 64)  # all negative
    batch = torch.rand(4, 1, 32, 32), (torch.rand(4, 2, 32, 32) > 0.5).float()
    return {
        "01_counts": lambda: eda.plot_counts(count_table(index)),
        "01_examples": lambda: eda.plot_examples(index, part="infection"),
        "01_areas": lambda: eda.plot_area_distributions(areas),
        "01_infected_share": lambda: eda.plot_infected_share(areas),
        "01_intensity": lambda: eda.plot_intensity_histograms(index, part="infection"),
        "03_batch": lambda: eda.plot_batch(*batch, ("lung", "infection")),
        "02_feature_maps": lambda: model.plot_feature_maps(torch.rand(1, 8, 16, 16), "maps"),
        "02_untrained_logits": lambda: model.plot_logits(image, logits, "logits"),
        "03_learning_curves": lambda: evaluation.learning_curves(results.history),
        "04_dice_distributions": lambda: evaluation.dice_distributions(
            _many_images(results.per_image)),
        "04_postprocessing_ablation": lambda: evaluation.ablation(results.metrics),
        "04_severity": lambda: evaluation.severity_scatter(results.per_image,
                                                           results.metrics["severity"]),
        "04_prediction_overlays": _overlays,
    }


def _many_images(per_image: pd.DataFrame) -> pd.DataFrame:
    """The tiny run's table with real-sized counts (hundreds scored, some undefined)."""
    many = pd.concat([per_image] * 60, ignore_index=True)
    many.loc[many.index % 7 == 0, "infection_dice"] = np.nan
    return many


def boxes(fig: plt.Figure, artists: list) -> list[Bbox]:
    """The extents of ``artists`` as the figure's canvas last drew them."""
    renderer = fig.canvas.get_renderer()
    return [a.get_window_extent(renderer).frozen() for a in artists if a.get_visible()]


def overlapping(first: list[Bbox], second: list[Bbox]) -> list[tuple[Bbox, Bbox]]:
    return [(a, b) for a, b in itertools.product(first, second) if a.overlaps(b)]


FIGURES = ["01_counts", "01_examples", "01_areas", "01_infected_share", "01_intensity",
           "03_batch", "02_feature_maps", "02_untrained_logits", "03_learning_curves",
           "04_dice_distributions", "04_postprocessing_ablation", "04_severity",
           "04_prediction_overlays"]


def as_saved(fig: plt.Figure, name: str, folder) -> dict[str, list[Bbox]]:
    """The extents of the legends, the data label and the axes as ``save_figure`` draws them
    into the file (bbox "tight" moves what is anchored to the figure's box)."""
    found: dict[str, list[Bbox]] = {}

    def measure(event) -> None:
        legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
        label = [t for t in fig.texts if t.get_text() == LABEL]
        found.update({kind: [a.get_window_extent(event.renderer).frozen() for a in artists]
                      for kind, artists in (("legends", legends), ("label", label),
                                            ("axes", fig.axes))})

    fig.canvas.mpl_connect("draw_event", measure)
    save_figure(fig, name, LABEL, folder)
    return found


@pytest.mark.parametrize("name", FIGURES)
def test_no_legend_covers_the_data_label_an_axes_or_another_legend(name, drawers, tmp_path):
    fig = drawers[name]()
    saved = as_saved(fig, name, tmp_path)
    legends, label, axes = saved["legends"], saved["label"], saved["axes"]
    assert len(label) == 1
    assert overlapping(legends, label) == [], f"{name}: a legend covers the label"
    assert overlapping(legends, axes) == [], f"{name}: a legend covers an axes"
    assert overlapping(label, axes) == [], f"{name}: the label covers an axes"
    pairs = [(a, b) for a, b in itertools.combinations(legends, 2) if a.overlaps(b)]
    assert pairs == [], f"{name}: two legends overlap"
    plt.close(fig)


def test_the_measure_sees_a_legend_that_drops_onto_the_label(tmp_path):
    """What the test above guards against: a figure legend anchored to the figure's box, which
    the tight crop moves down onto a label drawn below it."""
    fig, ax = plt.subplots(figsize=(4, 2), layout="constrained")
    ax.plot([0, 1], label="a curve")
    fig.legend(loc="outside lower center")
    found: dict[str, list[Bbox]] = {}
    text = fig.text(0.9, -0.02, LABEL, ha="right", va="top", fontsize=7)
    fig.canvas.mpl_connect("draw_event", lambda e: found.update(
        legend=[fig.legends[0].get_window_extent(e.renderer)],
        label=[text.get_window_extent(e.renderer)]))
    fig.savefig(tmp_path / "moved.png", bbox_inches="tight")
    assert overlapping(found["legend"], found["label"])
    plt.close(fig)


@pytest.mark.parametrize("name", FIGURES)
def test_tick_labels_do_not_run_together(name, drawers):
    fig = drawers[name]()
    fig.canvas.draw()
    for ax in fig.axes:
        low, high = sorted(ax.get_xlim())
        ticks = [t for t in ax.get_xticklabels() if t.get_text() and low <= t.get_position()[0]
                 <= high]
        found = boxes(fig, ticks)
        touching = [(a, b) for a, b in itertools.combinations(found, 2) if a.overlaps(b)]
        assert touching == [], f"{name}: x tick labels overlap"
    plt.close(fig)


def test_the_logits_map_is_centred_at_0_whatever_its_values(drawers):
    fig = drawers["02_untrained_logits"]()
    images = [ax.images[0] for ax in fig.axes[1:] if ax.images]
    assert images and all(im.norm.vcenter == 0 and im.norm.vmin == -im.norm.vmax
                          for im in images)
    assert all(im.cmap.name == "coolwarm" for im in images)
    plt.close(fig)


def test_no_infection_has_a_bar_of_its_own_at_0():
    shares = pd.Series([0.0, 0.0, 0.05, 0.1, 0.95, 1.0])
    assert list(eda.share_bins(shares)) == ["none", "none", "0-10%", "0-10%", "90-100%",
                                            "90-100%"]
