"""Training: resume and seeds reproduce runs, the loop learns, failures keep the last good run."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from practical3.base.errors import ConfigError, DivergedError, RunError
from practical3.cli import main
from practical3.data.cache import load_split
from practical3.data.fingerprint import data_fingerprint
from practical3.data.index import build_index
from practical3.data.synth import synthesize
from practical3.evaluation.evaluate import evaluate
from practical3.training import checkpoint
from practical3.training import loop as train_module
from practical3.training.loop import ensure_trained, resume, train
from practical3.training.profiles import profile
from practical3.training.runs import run_id

TIMING = ["epoch_time_s", "train_images_per_s"]
CFG = profile("smoke").replace(epochs=3, batch_size=4, lr=3e-3)


@pytest.fixture(scope="module")
def reference_dir(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run folder of an uninterrupted 3-epoch smoke run."""
    out = tmp_path_factory.mktemp("ref")
    train(CFG, data, out, progress=False)
    return out


@pytest.fixture(scope="module")
def reference(reference_dir: Path) -> pd.DataFrame:
    return pd.read_csv(reference_dir / "history.csv")


def _numbers(history: pd.DataFrame) -> pd.DataFrame:
    return history.drop(columns=TIMING)


def interrupted_then_resumed(cfg, data, run_dir, monkeypatch, epoch: int) -> pd.DataFrame:
    """Train ``cfg``, kill it during ``epoch`` (last.pt holds the epoch before), resume it."""
    real_epoch, calls = train_module._train_epoch, []

    def killed(*args, **kwargs):
        calls.append(1)
        if len(calls) == epoch:
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(train_module, "_train_epoch", killed)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, data, run_dir, progress=False)
    monkeypatch.setattr(train_module, "_train_epoch", real_epoch)
    assert checkpoint.load(run_dir / "last.pt")["epoch"] == epoch - 1
    return resume(run_dir, data, progress=False)


def test_resume_reproduces_the_uninterrupted_history(data, reference, tmp_path, monkeypatch):
    interrupted_then_resumed(CFG, data, tmp_path, monkeypatch, epoch=3)
    resumed = pd.read_csv(tmp_path / "history.csv")
    pd.testing.assert_frame_equal(_numbers(resumed), _numbers(reference))


def test_same_seed_same_history_and_another_seed_differs(data, reference, tmp_path):
    train(CFG, data, tmp_path / "a", progress=False)
    again = pd.read_csv(tmp_path / "a" / "history.csv")
    pd.testing.assert_frame_equal(_numbers(again), _numbers(reference))
    other = train(CFG.replace(seed=1), data, tmp_path / "b", progress=False)
    assert not np.allclose(other["train_loss"], reference["train_loss"])


def test_checkpoints_load_with_weights_only_and_best_is_the_best_epoch(reference_dir, reference):
    history = reference
    last = checkpoint.load(reference_dir / "last.pt")
    best = checkpoint.load(reference_dir / "best.pt")
    assert last["epoch"] == 3 and set(last) >= {"model", "optimizer", "scheduler", "rng", "config"}
    assert best["epoch"] == int(history.loc[history["val_score"].idxmax(), "epoch"])
    model, cfg = checkpoint.model_from(best)
    assert cfg == CFG and model(torch.zeros(1, 1, 64, 64)).shape == (1, 2, 64, 64)


def test_the_loop_learns_lungs_better_than_a_constant_guess(data, tmp_path):
    cfg = CFG.replace(epochs=8)
    history = train(cfg, data, tmp_path, progress=False)
    truth = load_split(data, cfg.part, "Val", cfg.image_size).masks[:, 0].astype(bool)
    all_lung_dice = 2 * truth.sum() / (truth.sum() + truth.size)  # pooled Dice of "all lung"
    learned = history["val_lung_dice_dataset"].iloc[-1]
    assert learned > all_lung_dice + 0.25, (learned, all_lung_dice)
    assert learned > 0.8


def test_a_diverging_run_stops_and_keeps_the_last_good_checkpoint(data, tmp_path, monkeypatch):
    real_save, real_loss, saved = train_module._save_epoch, train_module.build_loss(CFG.loss), []

    def save_then_diverge(*args, **kwargs):
        real_save(*args, **kwargs)
        saved.append(checkpoint.load(tmp_path / "last.pt"))

    class NanAfterFirstEpoch(torch.nn.Module):
        def forward(self, logits, target):
            return real_loss(logits, target) * (float("nan") if saved else 1.0)

    monkeypatch.setattr(train_module, "_save_epoch", save_then_diverge)
    monkeypatch.setattr(train_module, "build_loss", lambda name: NanAfterFirstEpoch())
    with pytest.raises(DivergedError, match="last good checkpoint"):
        train(CFG.replace(epochs=2), data, tmp_path, progress=False)
    kept = checkpoint.load(tmp_path / "last.pt")
    assert kept["epoch"] == 1
    assert torch.equal(kept["model"]["head.weight"], saved[0]["model"]["head.weight"])
    assert len(pd.read_csv(tmp_path / "history.csv")) == 1


def test_a_folder_holding_a_run_is_not_overwritten_without_resume(data, tmp_path):
    train(CFG.replace(epochs=1), data, tmp_path, progress=False)
    with pytest.raises(RunError, match="--resume"):
        train(CFG.replace(epochs=1), data, tmp_path, progress=False)


def test_resume_without_a_checkpoint_names_the_file(data, tmp_path):
    with pytest.raises(RunError, match="last.pt"):
        resume(tmp_path, data, progress=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_cuda_without_a_gpu_is_a_clear_error(data, tmp_path):
    with pytest.raises(ConfigError, match="--device cpu"):
        train(CFG.replace(device="cuda"), data, tmp_path, progress=False)


def test_cli_resume_keeps_the_saved_settings_and_refuses_to_extend(data, tmp_path, capsys):
    base = ["train", "--data", str(data), "--out", str(tmp_path), "--quiet"]
    assert main([*base, "--profile", "smoke", "--epochs", "1", "--batch-size", "4"]) == 0
    assert main([*base, "--resume"]) == 0  # finished: nothing to do, not the profile's 2 epochs
    assert main([*base, "--resume", "--epochs", "1"]) == 0
    assert len(pd.read_csv(tmp_path / "history.csv")) == 1
    assert checkpoint.load(tmp_path / "last.pt")["config"]["batch_size"] == 4
    assert main([*base, "--resume", "--epochs", "2"]) == 1
    err = capsys.readouterr().err
    assert "planned for 1 epochs" in err and "Start a longer run in a new folder" in err
    assert len(pd.read_csv(tmp_path / "history.csv")) == 1
    assert main([*base, "--resume", "--lr", "1"]) == 1
    assert "--lr cannot change a run being resumed" in capsys.readouterr().err


# --- identity, precision, deep supervision --------------------------------------------------

def test_a_run_id_follows_config_data_and_the_precision_used(data, tmp_path):
    fingerprint = data_fingerprint(build_index(data, parts=["infection"]), data)
    assert run_id(CFG, fingerprint, "fp32") == run_id(CFG.replace(), fingerprint, "fp32")
    assert run_id(CFG.replace(seed=1), fingerprint, "fp32") != run_id(CFG, fingerprint, "fp32")
    assert run_id(CFG, "other data", "fp32") != run_id(CFG, fingerprint, "fp32")
    assert run_id(CFG, fingerprint, "bf16") != run_id(CFG, fingerprint, "fp32")


def test_every_output_of_a_run_carries_its_id(reference_dir, reference):
    identity = checkpoint.load(reference_dir / "last.pt")["run_id"]
    assert checkpoint.load(reference_dir / "best.pt")["run_id"] == identity
    assert json.loads((reference_dir / "run.json").read_text())["run_id"] == identity
    assert set(reference["run_id"]) == {identity}


def test_ensure_trained_reuses_only_the_same_run(data, reference_dir, tmp_path):
    history = ensure_trained(CFG, data, reference_dir, progress=False)
    assert len(history) == CFG.epochs
    copy = shutil.copytree(reference_dir, tmp_path / "run")
    with pytest.raises(RunError, match="not run"):
        ensure_trained(CFG.replace(seed=5), data, copy, progress=False)


def test_resuming_on_other_data_is_refused(data, tmp_path):
    train(CFG.replace(epochs=2), data, tmp_path / "run", progress=False)
    state = checkpoint.load(tmp_path / "run" / "last.pt")
    state["epoch"], state["history"] = 1, state["history"][:1]
    checkpoint.save(state, tmp_path / "run" / "last.pt")
    other = synthesize(tmp_path / "other", per_class=8, size=64, seed=9)
    shutil.rmtree(tmp_path / "other" / "Lung Segmentation Data")
    with pytest.raises(RunError, match="differ from those run"):
        resume(tmp_path / "run", other, progress=False)


def test_fp16_with_a_gradient_scaler_trains_and_resumes_exactly(data, tmp_path, monkeypatch):
    cfg = CFG.replace(precision="fp16")
    whole = train(cfg, data, tmp_path / "whole", progress=False)
    assert checkpoint.load(tmp_path / "whole" / "last.pt")["scaler"]["scale"] > 0
    assert json_of(tmp_path / "whole" / "run.json")["precision_used"] == "fp16"
    resumed = interrupted_then_resumed(cfg, data, tmp_path / "resumed", monkeypatch, epoch=3)
    pd.testing.assert_frame_equal(_numbers(resumed), _numbers(whole))


def test_a_step_the_scaler_skips_is_not_a_divergence(data, tmp_path, monkeypatch):
    real_loss, calls = train_module.build_loss(CFG.loss), []

    class InfOnSecondStep(torch.nn.Module):
        def forward(self, logits, target):
            calls.append(1)
            return real_loss(logits, target) * (float("inf") if len(calls) == 2 else 1.0)

    monkeypatch.setattr(train_module, "build_loss", lambda name: InfOnSecondStep())
    history = train(CFG.replace(epochs=1, precision="fp16"), data, tmp_path, progress=False)
    assert history["skipped_steps"].tolist() == [1]
    assert np.isfinite(history["train_loss"]).all()


@pytest.mark.parametrize("name", ["unetpp", "unetpp_ds"])
def test_unetpp_trains_resumes_exactly_and_evaluates(data, tmp_path, monkeypatch, name):
    cfg = CFG.replace(model=name, epochs=2)
    whole = train(cfg, data, tmp_path / "whole", progress=False)
    resumed = interrupted_then_resumed(cfg, data, tmp_path / "resumed", monkeypatch, epoch=2)
    pd.testing.assert_frame_equal(_numbers(resumed), _numbers(whole))
    model, saved = checkpoint.model_from(checkpoint.load(tmp_path / "whole" / "best.pt"))
    assert saved.model == name
    assert model(torch.zeros(1, 1, 64, 64)).shape == (1, 2, 64, 64)  # eval: one output
    metrics = evaluate(tmp_path / "whole" / "best.pt", data, tmp_path / "eval", progress=False)
    assert metrics["checkpoint"]["config"]["model"] == name


def json_of(path: Path) -> dict:
    return json.loads(path.read_text())
