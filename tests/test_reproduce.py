"""Reproduce: a committed report regenerated from scratch reproduces; an edited number does not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from practical3 import pipeline, reproduce
from practical3.base.paths import ReportPlace
from practical3.data.synth import synthesize
from practical3.evaluation.results import Results, load_parts
from practical3.training.profiles import PROFILES


def row(unit: str, committed, regenerated, ci95=None) -> reproduce.Row:
    return reproduce.Row("infection", "a number", unit, committed, regenerated, ci95)


def run_record(kind: str, device: str) -> Results:
    run = {"data": {"kind": kind, "dataset": "COVID-QU-Ex"}, "device": device,
           "config": {"device": "auto"}}
    return Results(Path("results"), {}, None, None, run)


def test_equal_numbers_are_identical():
    assert row("identity", "abc", "abc").verdict == "identical"
    assert row("fraction", 0.9, 0.9).verdict == "identical"


def test_an_identity_that_changes_differs():
    assert row("identity", 120, 121).verdict == "differs"


def test_a_score_within_the_tolerance_reproduces():
    assert row("fraction", 0.9, 0.9 + reproduce.TOLERANCE["fraction"] / 2).verdict == "within"
    assert row("pixels", 2.0, 2.0 - reproduce.TOLERANCE["pixels"]).verdict == "within"


def test_a_score_outside_the_tolerance_differs():
    assert row("fraction", 0.9, 0.9 - 2 * reproduce.TOLERANCE["fraction"]).verdict == "differs"
    assert row("fraction", 0.9, None).verdict == "differs"


def test_shown_numbers_are_not_judged():
    assert row("shown", 12.5, 30.1).verdict == "shown"


def test_the_committed_interval_is_shown():
    assert row("fraction", 0.5, 0.55, [0.4, 0.6]).interval == "inside"
    assert row("fraction", 0.5, 0.65, [0.4, 0.6]).interval == "outside"
    assert row("fraction", 0.5, 0.65).interval == ""


def test_a_real_report_without_data_needs_it():
    assert "make reproduce DATA=PATH" in reproduce.needs(run_record("real", "cpu"), None, False)
    assert reproduce.needs(run_record("real", "cpu"), Path("copy"), False) == ""


def test_a_gpu_report_needs_a_gpu():
    assert "CUDA GPU" in reproduce.needs(run_record("real", "cuda"), Path("copy"), False)


def test_a_cpu_report_is_not_reproduced_where_the_pipeline_would_use_a_gpu():
    assert "CUDA_VISIBLE_DEVICES=" in reproduce.needs(run_record("synthetic", "cpu"), None, True)


def test_a_report_that_is_not_committed_is_no_failure(tmp_path):
    place = ReportPlace("gpu", tmp_path / "report.md", tmp_path / "results", tmp_path / "fig")
    outcomes = reproduce.reproduce(out_dir=tmp_path / "reproduce", places=[place])
    assert [o.status for o in outcomes] == ["not committed"]
    assert reproduce.passed(outcomes)


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory: pytest.TempPathFactory) -> tuple[ReportPlace, Path, list]:
    """A smoke-sized twin report 'committed' in a scratch folder, then reproduced."""
    folder = tmp_path_factory.mktemp("reproduce")
    spec = PROFILES["smoke"].synth
    data = synthesize(folder / "twin", spec.per_class, spec.size, spec.seed)
    place = ReportPlace("twin", folder / "report.md", folder / "results", folder / "figures")
    pipeline.run("smoke", data, results_dir=place.results, figures_dir=place.figures,
                 report_path=place.report, progress=False)
    out_dir = folder / "reproduce"
    return place, out_dir, reproduce.reproduce(out_dir=out_dir, places=[place])


def test_a_rerun_on_one_machine_is_identical(reproduced):
    _, out_dir, [outcome] = reproduced
    assert outcome.status == "reproduces"
    judged = [r for r in outcome.rows if r.verdict != "shown"]
    assert {r.verdict for r in judged} == {"identical"}
    assert {"data fingerprint", "run id", "train images"} <= {r.name for r in judged}
    assert json.loads((out_dir / reproduce.TABLE_FILE).read_text())[0]["status"] == "reproduces"
    assert "| infection | run id |" in (out_dir / reproduce.REPORT_FILE).read_text()


def test_a_committed_dice_edited_far_off_differs(reproduced):
    place, out_dir, _ = reproduced
    metrics_file = place.results / "infection" / "metrics.json"
    metrics = json.loads(metrics_file.read_text())
    metrics["metrics"]["lung"]["all"]["dice_imagewise"] += 10 * reproduce.TOLERANCE["fraction"]
    metrics_file.write_text(json.dumps(metrics))
    rows = reproduce.compare(load_parts(place.results), load_parts(out_dir / "twin" / "results"))
    assert [r.name for r in rows if r.verdict == "differs"] == ["lung all dice_imagewise"]
