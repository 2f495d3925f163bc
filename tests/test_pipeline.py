"""The job behind `make figures`, end to end on tiny data, into a scratch project layout."""

import json
import shutil

import pytest

from practical3 import report
from practical3.base.paths import HOME_ENV, RUNS_ENV, report_place
from practical3.data import layout
from practical3.data.sources import describe
from practical3.pipeline import choose_place, recorded_protocol, run
from practical3.plots.evaluation import figure_names
from practical3.session import parts_to_train


@pytest.fixture
def project(tmp_path):
    return tmp_path


def run_into(project, data, **kwargs):
    return run("smoke", data, results_dir=project / "report" / "results",
               figures_dir=project / "figures", report_path=project / "report" / "report.md",
               runs=project / "runs", progress=False, **kwargs)


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


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A scratch project root ($PRACTICAL3_HOME) with the report's template, whose committed
    twin report was made by the demo profile on data 'aaa' and whose real report by the
    laptop profile on data 'bbb'."""
    root = tmp_path / "home"
    (root / "report").mkdir(parents=True)
    shutil.copy(report_place("real").report.parent / "template.md", root / "report")
    monkeypatch.setenv(HOME_ENV, str(root))
    monkeypatch.setenv(RUNS_ENV, str(root / "runs"))
    for place, profile_name, fingerprint in (("twin", "demo", "aaa"), ("real", "laptop", "bbb")):
        folder = report_place(place).results / "infection"
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps(
            {"config": {"profile": profile_name}, "data": {"fingerprint": fingerprint}}))
    return root


def test_a_committed_report_records_its_protocol(home):
    assert recorded_protocol(report_place("twin")) == {"infection": ("demo", "aaa")}
    assert recorded_protocol(report_place("gpu")) is None  # nothing committed there


def test_only_the_twin_s_own_protocol_replaces_the_twin_report(data, home):
    twin = describe(data)
    assert choose_place(twin, {"infection": ("demo", "aaa")}, False)[0] == report_place("twin")
    place, why = choose_place(twin, {"infection": ("smoke", "aaa")}, False)
    assert place.report == home / "runs" / "reports" / "synthetic-twin-of-covid-qu-ex-smoke" / \
        "report.md"
    assert "profile demo" in why and "--place twin" in why


def test_only_the_real_report_s_own_data_replace_it(data, home, tmp_path):
    real = tmp_path / "real"  # a copy under the archive's names that is no twin: real-looking
    for image in sorted(data.rglob("*.png")):
        target = real / image.relative_to(data)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"not synth's")
    source = describe(real)
    assert source.is_covidqu
    assert choose_place(source, {"infection": ("laptop", "bbb")}, False)[0] == \
        report_place("real")
    assert choose_place(source, {"infection": ("laptop", "ccc")}, False)[0].report \
        .is_relative_to(home / "runs" / "reports")  # a subset, another copy
    assert choose_place(source, {"infection": ("laptop", "bbb")}, True)[0] == report_place("gpu")
    labelled = describe(real, label="films of hospital X")
    assert choose_place(labelled, {"infection": ("laptop", "bbb")}, False)[0].report \
        .is_relative_to(home / "runs" / "reports")


def test_a_smoke_run_on_a_twin_without_its_marker_leaves_the_committed_reports(data, home,
                                                                               tmp_path):
    """Issue 28, item 1: before, this run overwrote report/report.md as real COVID-QU-Ex."""
    copy = shutil.copytree(data, tmp_path / "notsyn",
                           ignore=shutil.ignore_patterns("SYNTHETIC.json"))
    committed = sorted(p.relative_to(home) for p in (home / "report").rglob("*"))
    written = run("smoke", copy, progress=False)
    assert written.is_relative_to(home / "runs" / "reports")
    assert sorted(p.relative_to(home) for p in (home / "report").rglob("*")) == committed
    assert not (home / "figures").exists()
    assert "SYNTHETIC" in written.read_text()
