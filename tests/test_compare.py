"""Settings side by side: every row names its runs, and is checked against their results."""

import json
import shutil
from pathlib import Path

import pytest

from practical3.base.errors import ConfigError, ResultsError
from practical3.cli import main
from practical3.compare import compare, parse_also, parse_vary
from practical3.evaluation.comparison import (
    COMPARISON_FILE,
    ON_TEST,
    RUNS_FILE,
    consistency,
    markdown_table,
    mean_std,
    read,
)
from practical3.training.profiles import profile

BASE = profile("smoke").replace(epochs=1, batch_size=4)


@pytest.fixture(scope="module")
def compared(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    compare(data, BASE, {"model": ["unet", "unetpp"]}, [0, 1], out)
    return out


def test_every_setting_is_a_row_with_one_run_per_seed(compared):
    comparison = json.loads((compared / COMPARISON_FILE).read_text())
    assert [row["setting"] for row in comparison["rows"]] == [{"model": "unet"},
                                                              {"model": "unetpp"}]
    packed = json.loads((compared / RUNS_FILE).read_text())
    for row in comparison["rows"]:
        assert len(set(row["run_ids"])) == 2
        for run_id in row["run_ids"]:
            assert json.loads(packed[run_id]["metrics.json"])["run_id"] == run_id
        assert row["lung_dice_imagewise"].keys() == {"mean", "std"}
    assert list(comparison["rows"][0])[4:] == [
        "lung_dice_imagewise", "lung_iou_imagewise", "infection_dice_imagewise",
        "infection_iou_imagewise", "lung_hd95_mean", "covid_infection_dice_imagewise",
        "infection_healthy_fp_rate", "train_minutes"]
    assert not list(compared.rglob("metrics.json"))
    unet, unetpp = comparison["rows"]
    assert unetpp["parameters"] > unet["parameters"] and unetpp["gflop_per_image"] > 0
    assert comparison["data"]["kind"] == "synthetic" and comparison["seeds"] == [0, 1]
    assert comparison["split"] == "Val"  # settings are chosen on Val, never on Test
    packed_metrics = json.loads(packed[unet["run_ids"][0]]["metrics.json"])
    assert packed_metrics["data"]["split"] == "Val"


def test_a_comparison_on_test_says_it_may_not_be_used_to_choose():
    row = {"setting": {"model": "unet"}, "parameters": 1, "gflop_per_image": 1.0,
           "lung_dice_imagewise": {"mean": 0.9, "std": None}}
    on_test = markdown_table({"varied": ["model"], "rows": [row], "split": "Test"})
    assert on_test.endswith(f"*{ON_TEST}*") and "may not be used to choose" in ON_TEST
    on_val = markdown_table({"varied": ["model"], "rows": [row], "split": "Val"})
    assert on_val.endswith("*Scored on Val.*") and ON_TEST not in on_val


def test_compare_on_test_warns_before_it_trains(data, tmp_path, capsys, monkeypatch):
    asked = {}
    monkeypatch.setattr("practical3.compare.compare",
                        lambda *args, **kwargs: asked.update(kwargs))
    monkeypatch.setattr("practical3.evaluation.comparison.consistency", lambda out: ["stop"])
    main(["compare", "--data", str(data), "--out", str(tmp_path), "--split", "Test",
          "--vary", "model=unet"])
    assert asked["split"] == "Test" and ON_TEST in capsys.readouterr().err
    main(["compare", "--data", str(data), "--out", str(tmp_path), "--vary", "model=unet"])
    assert asked["split"] == "Val" and ON_TEST not in capsys.readouterr().err
    with pytest.raises(SystemExit):  # no third choice
        main(["compare", "--data", str(data), "--out", str(tmp_path), "--split", "Train"])


def test_a_fresh_comparison_is_consistent_and_a_tampered_row_is_named(compared, tmp_path, capsys):
    assert consistency(compared) == []
    assert main(["compare", "--out", str(compared), "--table"]) == 0
    assert "| unetpp |" in capsys.readouterr().out
    assert main(["compare", "--out", str(compared), "--table", "--only", "model=unet"]) == 0
    printed = capsys.readouterr().out
    assert "| unet |" in printed and "| unetpp |" not in printed
    assert main(["compare", "--out", str(compared), "--table", "--only", "colour=red"]) == 1
    assert "--only 'colour=red'" in capsys.readouterr().err
    copy = shutil.copytree(compared, tmp_path / "copy")
    comparison = json.loads((copy / COMPARISON_FILE).read_text())
    comparison["rows"][1]["lung_iou_imagewise"]["mean"] = 0.99
    (copy / COMPARISON_FILE).write_text(json.dumps(comparison))
    [problem] = consistency(copy)
    assert "row {'model': 'unetpp'} lung_iou_imagewise" in problem
    assert main(["compare", "--out", str(copy), "--table"]) == 1


def test_a_run_missing_from_the_runs_file_is_named(compared, tmp_path):
    copy = shutil.copytree(compared, tmp_path / "copy")
    packed = json.loads((copy / RUNS_FILE).read_text())
    lost = read(copy)["rows"][0]["run_ids"][1]
    del packed[lost]
    (copy / RUNS_FILE).write_text(json.dumps(packed))
    [problem] = consistency(copy)
    assert f"lacks run(s) {lost}" in problem and "practical3 compare" in problem
    (copy / RUNS_FILE).unlink()
    assert [f"{copy / RUNS_FILE}: missing" in p for p in consistency(copy)] == [True]


def test_the_table_shows_mean_and_spread_in_percent():
    comparison = {"varied": ["model"], "rows": [{
        "setting": {"model": "unet"}, "parameters": 1234, "gflop_per_image": 1.5,
        "lung_dice_imagewise": {"mean": 0.95, "std": 0.01},
        "train_minutes": {"mean": 2.0, "std": None}}]}
    assert markdown_table(comparison).splitlines()[2] == (
        "| unet | 1,234 | 1.50 | 95.00 ± 1.00 | 2.00 ± n/a |")


def test_only_keeps_the_rows_with_those_values_and_names_a_filter_that_keeps_none():
    row = {"parameters": 1, "gflop_per_image": 1.0,
           "lung_dice_imagewise": {"mean": 0.9, "std": None}}
    comparison = {"varied": ["model", "image_size"], "rows": [
        {**row, "setting": {"model": m, "image_size": size}}
        for m in ("unet", "unetpp") for size in (64, 128)]}
    kept = markdown_table(comparison, {"model": "unet"}).split("\n\n")[0].splitlines()[2:]
    assert [line.split(" | ")[:2] for line in kept] == [["| unet", "64"], ["| unet", "128"]]
    with pytest.raises(ResultsError, match="no row of the comparison has"):
        markdown_table(comparison, {"model": "fpn"})


def test_mean_and_sample_spread_leave_undefined_runs_out():
    assert mean_std([1.0, 3.0, None]) == {"mean": 2.0, "std": pytest.approx(2 ** 0.5)}
    assert mean_std([None]) == {"mean": None, "std": None}


def test_vary_takes_each_settings_type_and_refuses_the_rest():
    assert parse_vary(["model=unet,unetpp", "image_size=64,128", "lr=0.001"], BASE) == {
        "model": ["unet", "unetpp"], "image_size": [64, 128], "lr": [0.001]}
    for bad in ("seed=1,2", "colour=red", "model"):
        with pytest.raises(ConfigError, match="SETTING=V1,V2"):
            parse_vary([bad], BASE)


def test_also_adds_single_rows_with_a_value_for_every_varied_setting():
    grid = parse_vary(["model=unet,unetpp", "image_size=64,128"], BASE)
    assert parse_also(["model=unetpp_ds image_size=64"], grid, BASE) == [
        {"model": "unetpp_ds", "image_size": 64}]
    for bad in ("model=unetpp_ds", "model=unet,unetpp image_size=64",
                "model=unetpp_ds image_size=64 lr=0.1"):
        with pytest.raises(ConfigError, match="one value for each of model, image_size"):
            parse_also([bad], grid, BASE)


COMMITTED = sorted((Path(__file__).resolve().parents[1] / "benchmarks" / "results").glob(
    "compare-*"))


@pytest.mark.parametrize("folder", COMMITTED, ids=[f.name for f in COMMITTED])
def test_the_committed_comparisons_agree_with_their_runs_and_the_experiments_page(folder):
    assert consistency(folder) == []
    experiments = (folder.parents[2] / "docs" / "experiments.md").read_text()
    assert markdown_table(read(folder)) in experiments


@pytest.mark.skipif(not (REAL := Path(__file__).resolve().parents[1] / "benchmarks" / "results"
                         / "compare-real-lungs-v7").is_dir(), reason="no real-lungs comparison")
def test_the_real_xrays_table_is_the_comparisons_unet_rows():
    experiments = (REAL.parents[2] / "docs" / "experiments.md").read_text()
    section = experiments.split("## Other real X-rays", 1)[1].split("\n## ", 1)[0]
    assert markdown_table(read(REAL), {"model": "unet"}) in section
