"""Real COVID-QU-Ex files through the whole pipeline: a few X-rays of each class and split of
the shared Infection-part copy go through index, training, evaluation, figures and the report,
so a regression on real files shows in `make test`. Skipped where ../shared is absent (a
user's clone)."""

import json
import shutil
from pathlib import Path

import pytest

from practical3 import report
from practical3.base.paths import project_root
from practical3.data import layout
from practical3.data.index import build_index
from practical3.data.sources import describe
from practical3.pipeline import run

COPY = project_root().parent / "shared" / "data" / "covidqu-infection"
PER_CELL = {"Train": 4, "Val": 2, "Test": 2}  # images per class in each split

pytestmark = pytest.mark.skipif(not COPY.is_dir(), reason=f"{COPY} is absent")


@pytest.fixture(scope="module")
def few_real(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first few images of every class and split, with their masks and the copy's README,
    in the archive's layout."""
    root = tmp_path_factory.mktemp("real") / "covidqu-few"
    part = layout.PARTS["infection"]
    for split, count in PER_CELL.items():
        for cls in layout.CLASSES:
            source = COPY / part / part / split / cls
            names = sorted(p.name for p in (source / layout.IMAGES_DIR).glob("*.png"))[:count]
            for folder in (layout.IMAGES_DIR, *layout.mask_dirs("infection")):
                (root / part / part / split / cls / folder).mkdir(parents=True)
                for name in names:
                    shutil.copyfile(source / folder / name,
                                    root / part / part / split / cls / folder / name)
    shutil.copyfile(COPY / "README.md", root / "README.md")
    return root


def test_a_few_real_xrays_are_indexed_as_real_covid_qu_ex(few_real):
    index = build_index(few_real)
    assert len(index) == sum(PER_CELL.values()) * len(layout.CLASSES)
    source = describe(few_real)
    assert source.is_covidqu and "re-split" in source.note


def test_real_xrays_go_through_the_pipeline_into_a_checked_report(few_real, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setenv("PRACTICAL3_RUNS", str(tmp_path / "runs"))
    results, figures = tmp_path / "results", tmp_path / "figures"
    written = run("smoke", few_real, results_dir=results, figures_dir=figures,
                  report_path=tmp_path / "report" / "report.md", progress=False)
    assert report.check(results, written, figures=figures) == []
    text = written.read_text()
    assert "real COVID-QU-Ex" in text and "SYNTHETIC" not in text
    assert "The copy names no patients" in text
    metrics = json.loads((results / "infection" / "metrics.json").read_text())
    assert metrics["data"]["kind"] == "real" and metrics["data"]["resampled_by"] == "image"
    assert {p.stem for p in figures.glob("*.png")} >= {"01_examples", "01_infected_share",
                                                       "04_prediction_overlays_infection"}
