"""The job behind `make figures`, end to end on tiny data, into a scratch project layout."""


import pytest

from practical3 import report
from practical3.figures import FIGURE_NAMES
from practical3.pipeline import choose_profile, run


def test_auto_picks_the_cpu_demo_for_synthetic_data_and_keeps_named_profiles(data):
    assert choose_profile("auto", data).profile == "demo"
    assert choose_profile("smoke", data).profile == "smoke"
    with pytest.raises(ValueError, match="unknown profile"):
        choose_profile("huge", data)


def test_the_pipeline_leaves_every_figure_and_a_report_that_passes_its_check(data, tmp_path):
    figures, results = tmp_path / "figures", tmp_path / "report" / "results"
    written = run("smoke", data, run_dir=tmp_path / "run", results_dir=results,
                  figures_dir=figures, report_path=tmp_path / "report" / "report.md",
                  progress=False)
    assert written == tmp_path / "report" / "report.md"
    drawn = {path.stem for path in figures.glob("*.png")}
    assert set(FIGURE_NAMES) <= drawn
    assert {"01_counts", "01_examples", "02_feature_maps"} <= drawn
    assert report.check(results, written) == []
    # A second run reuses the finished training run instead of training again.
    last = (tmp_path / "run" / "last.pt").stat().st_mtime_ns
    run("smoke", data, run_dir=tmp_path / "run", results_dir=results, figures_dir=figures,
        report_path=written, progress=False)
    assert (tmp_path / "run" / "last.pt").stat().st_mtime_ns == last
