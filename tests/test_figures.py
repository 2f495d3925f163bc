"""Evaluation figures: every one is written, the overlays skip cleanly, cases are picked exactly."""

from __future__ import annotations

import json
import shutil

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from practical3.evaluation import postprocess
from practical3.evaluation.cases import pick_cases
from practical3.evaluation.postprocess import PostProcess
from practical3.evaluation.results import digest
from practical3.plots.common import pixels_as_drawn, provenance, save_figure
from practical3.plots.evaluation import (
    OVERLAYS,
    dice_distributions,
    draw_all,
    figure_name,
    figure_names,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def results(tiny_results):
    return tiny_results


def test_draw_all_writes_every_figure_as_a_print_resolution_png(results, tmp_path):
    written = draw_all(results, out_dir=tmp_path)
    names = figure_names("infection")
    assert sorted(path.name for path in written) == sorted(f"{n}.png" for n in names)
    run_id = json.loads((results / "metrics.json").read_text())["run_id"]
    for path in written:
        assert path.parent == tmp_path and path.read_bytes()[:8] == PNG_SIGNATURE
        with Image.open(path) as image:
            assert min(image.size) >= 600, (path.name, image.size)
        assert provenance(path) | {"pixels": ""} == {"figure": path.stem, "run": run_id,
                                                     "inputs": digest(results), "pixels": ""}
        assert pixels_as_drawn(path)


def test_a_figure_records_the_digest_of_its_pixels_and_an_edit_breaks_it(tmp_path):
    fig = plt.figure(figsize=(1, 1))
    path = save_figure(fig, "01_counts", "label", tmp_path)
    plt.close(fig)
    assert pixels_as_drawn(path)
    with Image.open(path) as image:
        image.load()
    image.putpixel((0, 0), (0, 0, 0, 255))
    info = PngInfo()
    for key, value in image.text.items():
        info.add_text(key, value)
    image.save(path, pnginfo=info)  # the same provenance text on other pixels
    assert provenance(path)["figure"] == "01_counts" and not pixels_as_drawn(path)


def test_overlays_are_skipped_with_a_message_when_the_checkpoint_is_gone(results, tmp_path,
                                                                         capsys):
    copy = shutil.copytree(results, tmp_path / "results")
    metrics = json.loads((copy / "metrics.json").read_text())
    metrics["checkpoint"]["path"] = str(tmp_path / "runs" / "best.pt")
    (copy / "metrics.json").write_text(json.dumps(metrics))
    written = draw_all(copy, out_dir=tmp_path / "figures")
    overlays = figure_name(OVERLAYS, "infection")
    assert {path.stem for path in written} == set(figure_names("infection")) - {overlays}
    message = capsys.readouterr().err
    assert f"skipped {overlays}" in message and str(tmp_path / "runs" / "best.pt") in message


def _table(rows: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["image", "cls", "lung_dice", "infection_dice"])


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
def test_the_evaluated_postprocessing_is_rebuilt_from_its_record(steps):
    chosen = PostProcess(min_speck_fraction=0.01).with_steps(steps)
    record = json.loads(json.dumps(chosen.record()))  # as metrics.json stores it
    assert PostProcess.from_record(record) == chosen


def test_dice_distributions_count_the_undefined_images_per_class():
    table = _table([("a", "COVID-19", 0.9, 0.5), ("b", "Normal", 0.8, np.nan),
                    ("c", "Normal", 0.7, 0.0)])
    fig = dice_distributions(table)
    labels = [[tick.get_text() for tick in ax.get_xticklabels()] for ax in fig.axes]
    assert labels == [["COVID-19\n1 scored\n0 undefined", "Normal\n2 scored\n0 undefined"],
                      ["COVID-19\n1 scored\n0 undefined", "Normal\n1 scored\n1 undefined"]]


def test_figures_show_only_images_whose_licence_allows_sharing(tmp_path):
    from practical3.data import layout
    from practical3.data.index import build_index
    from practical3.plots.eda import plot_examples

    part = tmp_path / layout.PARTS["lung"] / layout.PARTS["lung"] / "Test" / "COVID-19"
    names = ["open.png", "closed-a.png", "closed-b.png"]
    for name in names:
        for folder in (layout.IMAGES_DIR, layout.LUNG_MASKS_DIR):
            (part / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((16, 16), 255, np.uint8)).save(part / folder / name)
    (tmp_path / "metadata.csv").write_text(
        "split,name,patientid,license\nTest,open.png,1,CC BY 4.0\n"
        "Test,closed-a.png,2,CC BY-NC-ND 4.0\nTest,closed-b.png,3,\n")
    fig = plot_examples(build_index(tmp_path), per_class=3, part="lung")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["COVID-19: open.png"]


def test_the_overlays_are_drawn_from_arrays_alone():
    from practical3.evaluation.cases import Cases
    from practical3.plots.evaluation import prediction_overlays

    rows = pd.DataFrame({"cls": ["Normal"], "image": ["a.png"], "case": ["best"],
                         "lung_dice": [0.9]})
    image, masks = np.zeros((16, 16), np.uint8), np.ones((1, 16, 16), bool)
    fig = prediction_overlays(Cases(rows, [image], [masks], [masks], 1, 2), ("lung",))
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["lung mask"]
    assert "the 1 of 2 test images" in fig.get_suptitle()
