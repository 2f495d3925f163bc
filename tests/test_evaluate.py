"""Evaluation end to end on tiny synthetic runs: metrics.json and per_image.csv, written as one
set; the post-processing chosen on Val and kept beside the checkpoint; native-size scoring."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from practical3.base.errors import ResultsError
from practical3.base.paths import display_path, project_root
from practical3.cli import main
from practical3.data import layout
from practical3.data.decode import read_masks
from practical3.data.index import build_index, select_split
from practical3.data.synth import synthesize
from practical3.evaluation import evaluate as evaluate_module
from practical3.evaluation import results
from practical3.evaluation.evaluate import evaluate
from practical3.evaluation.postprocess import POSTPROCESSING_FILE, PostProcess, load_choice
from practical3.evaluation.results import METRICS_FILE, PER_IMAGE_FILE
from practical3.scoring.selection import MIN_GAIN
from practical3.scoring.uncertainty import TOO_FEW
from practical3.training import checkpoint
from practical3.training.loop import train
from practical3.training.profiles import profile

TARGETS = ("lung", "infection")
CLASSES = (*layout.CLASSES, "all")
SCORES = ("dice_imagewise", "iou_imagewise", "dice_dataset", "iou_dataset")
COUNTS = ("n_images", "n_images_scored", "n_images_empty_truth")
CSV_COLUMNS = ["image", "cls", "height", "width", "lung_dice", "lung_iou", "lung_hd95",
               "pred_area_lung", "true_area_lung", "infection_dice", "infection_iou",
               "pred_area_infection", "true_area_infection", "severity_pred_percent",
               "severity_true_percent"]
CFG = profile("smoke").replace(epochs=2, batch_size=4, max_train_images=8)
SAMPLE = Path(project_root()).parent / "shared" / "data" / "covidqu-sample"


# --- end to end on a tiny synthetic run ---------------------------------------------------

@pytest.fixture(scope="module")
def best(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """best.pt of a 2-epoch smoke run."""
    run = tmp_path_factory.mktemp("run")
    train(CFG, data, run, progress=False)
    return run / "best.pt"


@pytest.fixture(scope="module")
def evaluated(data: Path, best: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The out folder of ``evaluate`` on the synthetic Test split."""
    out = tmp_path_factory.mktemp("eval")
    evaluate(best, data, out, progress=False)
    return out


def read_metrics(out: Path) -> dict:
    return json.loads((out / METRICS_FILE).read_text())


def assert_complete(metrics: dict) -> None:
    """Every key the issue asks for, for each target and each class including "all"."""
    assert set(metrics["data"]) >= {"kind", "dataset", "label", "root", "part", "split",
                                    "n_images", "image_size", "scored_size"}
    assert set(metrics["checkpoint"]) >= {"path", "run_id", "epoch", "config"}
    assert metrics["run_id"] == metrics["checkpoint"]["run_id"]
    assert metrics["checkpoint"]["config"] == CFG.to_dict()
    assert set(metrics["metrics"]) == set(TARGETS)
    for target in TARGETS:
        assert set(metrics["metrics"][target]) == set(CLASSES), target
        for cls in CLASSES:
            scores = metrics["metrics"][target][cls]
            assert set(scores) >= {*SCORES, *COUNTS}, (target, cls)
            assert set(scores) >= {f"{score}_ci95" for score in SCORES}, (target, cls)
    healthy = metrics["metrics"]["infection"]["all"]["healthy_fp_rate"]
    assert healthy is not None and 0.0 <= healthy <= 1.0
    assert set(metrics["severity"]) >= {"n_images", "pearson_r", "mae_percentage_points"}
    assert metrics["postprocessing"]["chosen"]


def test_metrics_json_is_complete(evaluated, data):
    metrics = read_metrics(evaluated)
    assert_complete(metrics)
    source = metrics["data"]
    assert (source["kind"], source["part"], source["split"], source["n_images"]) == (
        "synthetic", "infection", "Test", 6)
    assert source["images_per_class"] == {"COVID-19": 2, "Non-COVID": 2, "Normal": 2}
    assert "SYNTHETIC" in source["label"] and source["root"] == display_path(data)


def test_healthy_classes_report_their_infection_false_positive_rate(evaluated):
    infection = read_metrics(evaluated)["metrics"]["infection"]
    for cls in ("Non-COVID", "Normal"):
        assert infection[cls]["n_images_empty_truth"] == infection[cls]["n_images"] == 2
        assert infection[cls]["healthy_fp_rate"] in (0.0, 0.5, 1.0)
    assert infection["COVID-19"]["n_images_empty_truth"] == 0
    assert infection["COVID-19"]["healthy_fp_rate"] is None  # no healthy image to count


def test_postprocessing_is_chosen_on_val_and_every_variant_is_scored(evaluated):
    metrics = read_metrics(evaluated)
    selection = metrics["postprocessing"]["selection"]
    assert selection["split"] == "Val"
    assert [t["steps"] for t in selection["trials"]][0] == "none"
    assert len(selection["trials"]) == 5
    variants = {v["steps"] for v in metrics["ablation"]["variants"]}
    assert variants >= {"none", "keep_two_lungs", "fill_lung_holes", "infection_in_lung",
                        "remove_specks",
                        "keep_two_lungs + fill_lung_holes + infection_in_lung + remove_specks",
                        metrics["postprocessing"]["chosen"]}


def test_image_counts_add_up(evaluated):
    metrics = read_metrics(evaluated)
    n = metrics["data"]["n_images"]
    assert sum(metrics["data"]["images_per_class"].values()) == n
    for target in TARGETS:
        by_class = metrics["metrics"][target]
        assert sum(by_class[c]["n_images"] for c in layout.CLASSES) == by_class["all"]["n_images"]
        assert by_class["all"]["n_images"] == n
        for cls in CLASSES:
            assert by_class[cls]["n_images_scored"] <= by_class[cls]["n_images"]


def test_dice_is_at_least_iou_everywhere(evaluated):
    metrics = read_metrics(evaluated)["metrics"]
    compared = 0
    for target in TARGETS:
        for cls in CLASSES:
            row = metrics[target][cls]
            for kind in ("imagewise", "dataset"):
                dice, iou = row[f"dice_{kind}"], row[f"iou_{kind}"]
                assert (dice is None) == (iou is None), (target, cls, kind)
                if dice is not None:
                    assert dice >= iou - 1e-12, (target, cls, kind)
                    compared += 1
    assert compared >= 2 * len(TARGETS)


def test_per_image_csv_has_one_row_per_test_image(evaluated):
    table = pd.read_csv(evaluated / PER_IMAGE_FILE)
    metrics = read_metrics(evaluated)
    assert list(table.columns) == [*CSV_COLUMNS, "run_id"]
    assert set(table["run_id"]) == {metrics["run_id"]}
    assert len(table) == metrics["data"]["n_images"] == 6
    assert table.groupby("cls").size().to_dict() == metrics["data"]["images_per_class"]
    assert table["image"].is_unique
    for target in TARGETS:
        all_images = metrics["metrics"][target]["all"]
        assert table[f"{target}_dice"].mean() == pytest.approx(all_images["dice_imagewise"])
        assert table[f"{target}_dice"].notna().sum() == all_images["n_images_scored"]


def test_cli_evaluate_writes_the_files(data, best, tmp_path, capsys):
    argv = ["evaluate", "--data", str(data), "--checkpoint", str(best), "--out", str(tmp_path),
            "--quiet"]
    assert main(argv) == 0
    assert_complete(read_metrics(tmp_path))
    assert (tmp_path / PER_IMAGE_FILE).is_file()
    out, err = capsys.readouterr()
    assert "post-processing:" in out and "model trained on: Data: SYNTHETIC" in out
    assert "WARNING: this model was trained on SYNTHETIC phantoms" in err


def test_cli_evaluate_with_a_missing_checkpoint_names_the_file(data, tmp_path, capsys):
    missing = tmp_path / "no-such-run" / "best.pt"
    argv = ["evaluate", "--data", str(data), "--checkpoint", str(missing),
            "--out", str(tmp_path / "out"), "--quiet"]
    assert main(argv) == 1
    assert str(missing) in capsys.readouterr().err
    assert not (tmp_path / "out" / METRICS_FILE).exists()


def test_a_failure_midway_writes_no_metrics(data, best, tmp_path, monkeypatch):
    real_predict, calls = evaluate_module.predict_native, []

    def fails_on_test(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # Val predicted, then Test fails
            raise RuntimeError("device lost")
        return real_predict(*args, **kwargs)

    monkeypatch.setattr(evaluate_module, "predict_native", fails_on_test)
    with pytest.raises(RuntimeError, match="device lost"):
        evaluate(best, data, tmp_path, progress=False)
    assert len(calls) == 2
    assert not (tmp_path / METRICS_FILE).exists()
    assert not (tmp_path / PER_IMAGE_FILE).exists()


def test_a_result_that_is_not_valid_json_writes_neither_file(data, best, tmp_path, monkeypatch):
    monkeypatch.setattr(evaluate_module, "severity_agreement",
                        lambda predicted, true, weights: {"pearson_r": float("nan")})
    with pytest.raises(ValueError, match="JSON"):
        evaluate(best, data, tmp_path, progress=False)
    assert not (tmp_path / METRICS_FILE).exists()
    assert not (tmp_path / PER_IMAGE_FILE).exists()


class Killed(BaseException):
    """The process dying at this point (nothing after it runs, as after a SIGKILL)."""


def test_a_kill_between_the_results_writes_leaves_no_metrics_of_another_evaluation(
        data, best, tmp_path, monkeypatch):
    evaluate(best, data, tmp_path, progress=False)  # Test: a complete set
    real_replace = os.replace

    def killed_before_metrics(src, dst):
        if Path(dst) == tmp_path / METRICS_FILE:
            raise Killed
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", killed_before_metrics)
    with pytest.raises(Killed):
        evaluate(best, data, tmp_path, split="Val", progress=False)
    assert set(pd.read_csv(tmp_path / PER_IMAGE_FILE)["image"]) == set(
        select_split(build_index(data), "infection", "Val")["name"])
    assert not (tmp_path / METRICS_FILE).exists()  # never Test's beside Val's per_image.csv
    with pytest.raises(ResultsError, match=f"missing {METRICS_FILE}"):
        results.load(tmp_path)


def test_evaluating_val_itself_chooses_no_postprocessing_on_it(data, best, tmp_path):
    results = evaluate(best, data, tmp_path, split="Val", progress=False)
    assert results["data"]["split"] == "Val"
    assert results["postprocessing"]["chosen"] == "none"
    assert results["postprocessing"]["selection"] == {
        "split": None, "rule": "evaluating Val itself: all steps off"}


def test_postprocessing_given_by_the_caller_is_applied_as_given(data, best, tmp_path):
    results = evaluate(best, data, tmp_path, postprocessing=PostProcess(remove_specks=True),
                       progress=False)
    assert results["postprocessing"]["chosen"] == "remove_specks"
    assert results["postprocessing"]["selection"]["split"] is None


def test_the_choice_on_val_is_kept_beside_the_checkpoint_with_its_rule(evaluated, best):
    metrics = read_metrics(evaluated)
    selection = metrics["postprocessing"]["selection"]
    assert selection["split"] == "Val" and selection["min_gain"] == MIN_GAIN
    assert "standard error" in selection["rule"]
    state = checkpoint.load(best)
    chosen, line = load_choice(best.parent, state)
    assert chosen.name == metrics["postprocessing"]["chosen"]
    assert line.startswith("post-processing:")
    record = json.loads((best.parent / POSTPROCESSING_FILE).read_text())
    assert (record["run_id"], record["epoch"]) == (state["run_id"], state["epoch"])


def test_metrics_json_says_what_the_model_learnt_from(evaluated):
    trained = read_metrics(evaluated)["training_data"]
    assert trained["checkpoint_record"]["kind"] == "synthetic"
    assert trained["same_files_as_evaluated"] is True
    assert "SYNTHETIC" in trained["warning"]
    assert trained["summary"].startswith("model trained on: Data: SYNTHETIC")


def test_a_checkpoint_without_training_data_says_it_is_unknown(data, best, tmp_path, capsys):
    state = torch.load(best, weights_only=True)
    del state["training_data"]
    (tmp_path / "run").mkdir()
    torch.save(state, tmp_path / "run" / "best.pt")
    metrics = evaluate(tmp_path / "run" / "best.pt", data, tmp_path / "out", progress=False)
    assert metrics["training_data"]["checkpoint_record"] is None
    assert metrics["training_data"]["warning"] is None
    assert "training data unknown" in capsys.readouterr().out


@pytest.mark.skipif(not SAMPLE.is_dir(), reason=f"real sample absent: {SAMPLE}")
def test_the_real_sample_gives_a_complete_metrics_json(best, tmp_path):
    evaluate(best, SAMPLE, tmp_path, progress=False)
    metrics = read_metrics(tmp_path)
    assert_complete(metrics)
    assert metrics["data"]["kind"] == "real" and metrics["data"]["dataset"] == "COVID-QU-Ex"
    assert metrics["data"]["n_images"] == 12
    assert metrics["data"]["images_per_class"] == {"COVID-19": 4, "Non-COVID": 4, "Normal": 4}
    assert metrics["postprocessing"]["chosen"] == "none"
    assert metrics["postprocessing"]["selection"]["split"] is None  # the sample has no Val
    assert len(pd.read_csv(tmp_path / PER_IMAGE_FILE)) == 12


@pytest.mark.skipif(not SAMPLE.is_dir(), reason=f"real sample absent: {SAMPLE}")
def test_a_data_label_given_as_a_value_names_the_real_copy(best, tmp_path):
    metrics = evaluate(best, SAMPLE, tmp_path, progress=False, data_label="Hospital X films")
    assert metrics["data"]["label"] == "Data: Hospital X films"
    assert read_metrics(tmp_path)["data"]["label"] == "Data: Hospital X films"


# --- scored at native size, with intervals ------------------------------------------------

@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """A 128 px twin, a model trained at 64 px, and its evaluation."""
    root = tmp_path_factory.mktemp("native")
    twin = synthesize(root / "twin", per_class=8, size=128, seed=3, parts=("infection",))
    cfg = dataclasses.replace(CFG, image_size=64, epochs=8, lr=3e-3, max_train_images=None)
    train(cfg, twin, root / "run", progress=False)
    return twin, root, evaluate(root / "run" / "best.pt", twin, root / "eval", progress=False)


def test_a_model_trained_small_is_scored_at_the_native_size(native):
    twin, root, metrics = native
    assert metrics["data"]["image_size"] == 64 and metrics["data"]["scored_size"] == 128
    table = pd.read_csv(root / "eval" / PER_IMAGE_FILE)
    assert set(table["height"]) == set(table["width"]) == {128}
    true_lung = table["true_area_lung"].to_numpy()
    index = build_index(twin, parts=["infection"])
    on_disk = [int(read_masks(row, ("lung",)).sum()) for _, row in
               select_split(index, "infection", "Test").iterrows()]
    np.testing.assert_array_equal(true_lung, on_disk)  # the native masks, not downsized ones


def test_a_split_of_six_images_gets_no_interval_and_says_why(native):
    metrics = native[2]
    assert metrics["data"]["n_images"] == 6
    for target in TARGETS:
        scores = metrics["metrics"][target]["all"]
        for score in SCORES:
            assert scores[f"{score}_ci95"] is None, (target, score)
            assert scores[f"{score}_ci95_note"].startswith(TOO_FEW), (target, score)
    lung = metrics["boundary"]["lung"]["all"]
    assert lung["n_images_hd95"] == metrics["data"]["n_images"]
    assert lung["hd95_mean_ci95"] is None and lung["hd95_mean_ci95_note"].startswith(TOO_FEW)


def test_the_evaluation_records_the_run_and_epoch_it_scored(native):
    _, root, metrics = native
    state = checkpoint.load(root / "run" / "best.pt")
    assert metrics["checkpoint"]["run_id"] == state["run_id"] == metrics["run_id"]
    assert metrics["checkpoint"]["epoch"] == state["epoch"]
    run = json.loads((root / "run" / "run.json").read_text())
    assert run["run_id"] == state["run_id"]
