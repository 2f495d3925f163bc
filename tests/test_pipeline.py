"""The job behind `make figures`, end to end on tiny data, into a scratch project layout."""

import shutil

import pytest

from practical3 import report
from practical3.base.paths import report_place, runs_dir
from practical3.data import layout
from practical3.pipeline import choose_place, run
from practical3.plots.evaluation import figure_names
from practical3.session import parts_to_train
from practical3.training.config import profile


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("PRACTICAL3_RUNS", str(tmp_path / "runs"))
    return tmp_path


def run_into(project, data, **kwargs):
    return run("smoke", data, results_dir=project / "report" / "results",
               figures_dir=project / "figures", report_path=project / "report" / "report.md",
               progress=False, **kwargs)


def test_the_pipeline_leaves_every_figure_and_a_report_that_passes_its_check(data, project):
    written = run_into(project, data)
    assert written == project / "report" / "report.md"
    drawn = {path.stem for path in (project / "figures").glob("*.png")}
    assert set(figure_names("infection")) <= drawn
    assert {"01_counts", "01_examples", "02_feature_maps"} <= drawn
    results = project / "report" / "results"
    assert [p.name for p in results.iterdir()] == ["infection"]
    assert report.check(results, written) == []
    # A second run reuses the finished training run instead of training again.
    [last] = (project / "runs").glob("*/last.pt")
    before = last.stat().st_mtime_ns
    run_into(project, data)
    assert last.stat().st_mtime_ns == before


def test_the_twin_trains_its_infection_part_and_a_lung_only_copy_its_lung_part(data, tmp_path):
    assert parts_to_train(data) == ["infection"]
    lungs = shutil.copytree(data, tmp_path / "lungs")
    shutil.rmtree(lungs / layout.PARTS["infection"])
    assert parts_to_train(lungs) == ["lung"]


def test_a_lung_only_copy_gives_the_lung_models_report(data, project):
    lungs = shutil.copytree(data, project / "lungs")
    shutil.rmtree(lungs / layout.PARTS["infection"])
    written = run_into(project, lungs)
    text = written.read_text()
    assert "Infection model" not in text and "### Lung part" in text
    assert report.check(project / "report" / "results", written) == []


def test_both_parts_give_a_report_on_both_models_and_drop_stale_results(data, project):
    run_into(project, data)  # the infection model alone first
    written = run_into(project, data, parts=["infection", "lung"])
    results = project / "report" / "results"
    assert sorted(p.name for p in results.iterdir()) == ["infection", "lung"]
    text = written.read_text()
    assert "### Infection model" in text and "Scores of the lung model" in text
    assert report.check(results, written) == []
    run_into(project, data)  # back to one model: the lung model's results and figures go
    assert [p.name for p in results.iterdir()] == ["infection"]
    assert not any((project / "figures").glob("*_lung.png"))


def test_a_one_class_cluttered_copy_goes_through_the_whole_pipeline(data, project):
    copy = shutil.copytree(data, project / "one-class")
    part = copy / layout.PARTS["infection"] / layout.PARTS["infection"]
    for split in layout.SPLITS:
        for cls in ("Non-COVID", "Normal"):
            shutil.rmtree(part / split / cls)
        images = part / split / "COVID-19" / layout.IMAGES_DIR
        (images / ".DS_Store").write_bytes(b"\0")
        (images / "Thumbs.db").write_bytes(b"\0")
        (images / ".ipynb_checkpoints").mkdir()
    written = run_into(project, copy)
    assert report.check(project / "report" / "results", written) == []
    assert "Normal" not in (project / "report" / "results" / "infection" / "per_image.csv"
                            ).read_text()


def test_the_data_choose_the_report_place(data, tmp_path, monkeypatch):
    """The twin writes only report/twin and figures/twin; real COVID-QU-Ex on a CPU the real
    report; any other copy a scratch report under runs/reports, never a committed one."""
    cfg = profile("smoke").replace(device="cpu")
    assert choose_place(data, cfg) == report_place("twin")
    assert report_place("twin").figures_link == "../../figures/twin"
    assert report_place("real").figures_link == "../figures"
    real = tmp_path / "real"  # the twin's files under the archive's names, no marker: real
    shutil.copytree(data, real, ignore=shutil.ignore_patterns("SYNTHETIC.json"))
    assert choose_place(real, cfg) == report_place("real")
    monkeypatch.setenv("PRACTICAL3_DATA_LABEL", "films of hospital X")
    assert choose_place(real, cfg).report.is_relative_to(runs_dir() / "reports")
