"""Reproduce: a committed report regenerated from scratch reproduces; an edited number does not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from practical3 import pipeline, reproduce, spread
from practical3.base.errors import ResultsError
from practical3.base.paths import ReportPlace
from practical3.data.synth import synthesize
from practical3.evaluation.results import Results, load_parts
from practical3.training.profiles import PROFILES


def row(unit: str, committed, regenerated, ci95=None, tolerance=0.01) -> reproduce.Row:
    return reproduce.Row("infection", "a number", unit, committed, regenerated, ci95, tolerance)


def run_record(kind: str, device: str) -> Results:
    run = {"data": {"kind": kind, "dataset": "COVID-QU-Ex"}, "device": device,
           "config": {"device": "auto"}}
    return Results(Path("results"), {}, None, None, run)


def test_equal_numbers_are_identical():
    assert row("identity", "abc", "abc").verdict == "identical"
    assert row("fraction", 0.9, 0.9).verdict == "identical"


def test_an_identity_that_changes_differs():
    assert row("identity", 120, 121).verdict == "differs"


def test_a_score_within_its_tolerance_reproduces():
    assert row("fraction", 0.9, 0.905, tolerance=0.01).verdict == "within"
    assert row("pixels", 2.0, 1.5, tolerance=0.5).verdict == "within"


def test_a_score_outside_its_tolerance_differs():
    assert row("fraction", 0.9, 0.92, tolerance=0.01).verdict == "differs"
    assert row("fraction", 0.9, None).verdict == "differs"


def test_a_judged_number_without_a_measured_tolerance_differs():
    assert row("fraction", 0.9, 0.9001, tolerance=None).verdict == "differs"


def test_undefined_in_both_is_identical():
    assert row("pixels", float("nan"), float("nan")).verdict == "identical"


def test_the_tolerance_is_k_sds_with_a_floor():
    mean, sd, limit = spread.tolerance("fraction", [0.90, 0.91, 0.92])
    assert mean == pytest.approx(0.91) and sd == pytest.approx(0.01)
    assert limit == pytest.approx(spread.K * 0.01)
    assert spread.tolerance("fraction", [0.9, 0.9, float("nan")]) == (0.9, 0.0,
                                                                      spread.FLOORS["fraction"])
    assert spread.tolerance("count", [3])[2] == spread.FLOORS["count"]


def test_an_fp32_run_is_regenerated_in_fp32_where_auto_would_pick_another(monkeypatch):
    run = {"config": PROFILES["smoke"].replace(precision="auto").to_dict(),
           "precision_used": "fp32"}
    monkeypatch.setattr(reproduce, "choose_precision", lambda setting, device: type(
        "P", (), {"name": "bf16" if setting == "auto" else setting})())
    assert reproduce.protocol_config(run).precision == "fp32"
    run["precision_used"] = "bf16"
    assert reproduce.protocol_config(run, seed=3).precision == "auto"
    assert reproduce.protocol_config(run, seed=3).seed == 3


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
    spread.measure(place, [0, 1], runs=folder / "runs", progress=False,  # seed 0: reused
                   machines=["1 thread"])
    out_dir = folder / "reproduce"
    return place, out_dir, reproduce.reproduce(out_dir=out_dir, places=[place])


def test_the_spread_file_holds_every_judged_number_of_each_seed(reproduced):
    place, _, _ = reproduced
    measured = json.loads(reproduce.spread_path(place).read_text())
    numbers = measured["parts"]["infection"]["numbers"]
    assert measured["measured"]["seeds"] == [0, 1]
    assert len(numbers["lung all dice_imagewise"]["values"]) == 2
    assert "n_images_scored" in " ".join(numbers)  # counts from predictions get a tolerance
    assert not any(name.endswith((" n_images", "n_images_empty_truth")) for name in numbers)


def test_the_tolerance_comes_from_the_simulated_machines_when_measured(reproduced):
    place, _, _ = reproduced
    measured = json.loads(reproduce.spread_path(place).read_text())
    assert measured["measured"]["machines"] == {"1 thread": {"OMP_NUM_THREADS": "1"}}
    assert measured["measured"]["command"].endswith("--machines")
    numbers = measured["parts"]["infection"]["numbers"]
    lung = numbers["lung all dice_imagewise"]
    assert lung["machines"]["values"][0] == lung["values"][0]  # here: the committed seed 0
    for number in numbers.values():
        assert len(number["machines"]["values"]) == 2
        assert number["tolerance_from"] == "machines"
        assert number["tolerance"] == spread.tolerance(number["unit"],
                                                       number["machines"]["values"])[2]
    machine = place.results.parent / "runs" / "spread" / "twin" / "machines" / "1-thread"
    assert (machine / "infection" / "metrics.json").is_file()


def test_an_unknown_machine_is_refused(tmp_path):
    place = ReportPlace("twin", tmp_path / "report.md", tmp_path / "results", tmp_path / "fig")
    with pytest.raises(ResultsError, match="not simulated here"):
        spread.measure(place, [0, 1], runs=tmp_path / "runs", machines=["a laptop"])


def test_a_rerun_on_one_machine_is_identical(reproduced):
    _, out_dir, [outcome] = reproduced
    assert outcome.status == "reproduces"
    judged = [r for r in outcome.rows if r.verdict != "shown"]
    assert {r.verdict for r in judged} == {"identical"}
    assert {"data fingerprint", "protocol", "precision used", "train images"} <= {
        r.name for r in judged}
    assert json.loads((out_dir / reproduce.TABLE_FILE).read_text())[0]["status"] == "reproduces"
    table = (out_dir / reproduce.REPORT_FILE).read_text()
    assert "| infection | lung all dice_imagewise |" in table


def test_a_committed_dice_edited_by_more_than_its_tolerance_differs(reproduced):
    place, out_dir, _ = reproduced
    committed = load_parts(place.results)
    tolerances = reproduce.read_tolerances(reproduce.spread_path(place), committed)
    limit = tolerances["infection"]["lung all dice_imagewise"]
    committed["infection"].metrics["metrics"]["lung"]["all"]["dice_imagewise"] += 1.5 * limit
    rows = reproduce.compare(committed, load_parts(out_dir / "twin" / "results"), tolerances)
    assert [r.name for r in rows if r.verdict == "differs"] == ["lung all dice_imagewise"]


def test_a_spread_of_another_protocol_is_refused(reproduced, tmp_path):
    place, _, _ = reproduced
    measured = json.loads(reproduce.spread_path(place).read_text())
    measured["parts"]["infection"]["protocol"]["epochs"] += 1
    stale = tmp_path / reproduce.SPREAD_FILE
    stale.write_text(json.dumps(measured))
    with pytest.raises(ResultsError, match="another protocol"):
        reproduce.read_tolerances(stale, load_parts(place.results))
