"""Training: resume and seeds reproduce runs, the loop learns, failures keep the last good run."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from practical3 import checkpoint
from practical3 import train as train_module
from practical3.config import profile
from practical3.train import DivergedError, load_split_arrays, train

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


def test_resume_reproduces_the_uninterrupted_history(data, reference, tmp_path, monkeypatch):
    real_epoch, calls = train_module._train_epoch, []

    def interrupted_in_epoch_3(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the run is killed during its third epoch
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(train_module, "_train_epoch", interrupted_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        train(CFG, data, tmp_path, progress=False)
    monkeypatch.setattr(train_module, "_train_epoch", real_epoch)
    assert checkpoint.load(tmp_path / "last.pt")["epoch"] == 2
    train(CFG, data, tmp_path, resume=True, progress=False)
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
    truth = load_split_arrays(cfg, data, "Val", None).masks[:, 0].astype(bool)
    all_lung_dice = 2 * truth.sum() / (truth.sum() + truth.size)  # pooled Dice of "all lung"
    learned = history["val_dice_dataset_lung"].iloc[-1]
    assert learned > all_lung_dice + 0.25, (learned, all_lung_dice)
    assert learned > 0.8


def test_a_diverging_run_stops_and_keeps_the_last_good_checkpoint(data, tmp_path, monkeypatch):
    train(CFG.replace(epochs=1), data, tmp_path, progress=False)
    good = checkpoint.load(tmp_path / "last.pt")

    class NanLoss(torch.nn.Module):
        def forward(self, logits, target):
            return logits.mean() * float("nan")

    monkeypatch.setattr(train_module, "build_loss", lambda name: NanLoss())
    with pytest.raises(DivergedError, match="last good checkpoint"):
        train(CFG.replace(epochs=2), data, tmp_path, resume=True, progress=False)
    kept = checkpoint.load(tmp_path / "last.pt")
    assert kept["epoch"] == 1
    assert torch.equal(kept["model"]["head.weight"], good["model"]["head.weight"])
    assert len(pd.read_csv(tmp_path / "history.csv")) == 1


def test_a_folder_holding_a_run_is_not_overwritten_without_resume(data, tmp_path):
    train(CFG.replace(epochs=1), data, tmp_path, progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        train(CFG.replace(epochs=1), data, tmp_path, progress=False)


def test_resume_without_a_checkpoint_names_the_file(data, tmp_path):
    with pytest.raises(FileNotFoundError, match="last.pt"):
        train(CFG, data, tmp_path, resume=True, progress=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_cuda_without_a_gpu_is_a_clear_error(data, tmp_path):
    with pytest.raises(ValueError, match="--device cpu"):
        train(CFG.replace(device="cuda"), data, tmp_path, progress=False)


def test_cli_resume_keeps_the_saved_settings_and_only_extends_epochs(data, tmp_path, capsys):
    from practical3.cli import main

    base = ["train", "--data", str(data), "--out", str(tmp_path), "--quiet"]
    assert main([*base, "--profile", "smoke", "--epochs", "1", "--batch-size", "4"]) == 0
    assert main([*base, "--resume"]) == 0  # not the smoke profile's 2 epochs
    assert len(pd.read_csv(tmp_path / "history.csv")) == 1
    assert main([*base, "--resume", "--epochs", "2"]) == 0
    assert len(pd.read_csv(tmp_path / "history.csv")) == 2
    assert checkpoint.load(tmp_path / "last.pt")["config"]["batch_size"] == 4
    assert main([*base, "--resume", "--lr", "1"]) == 1
    assert "--lr cannot change a run being resumed" in capsys.readouterr().err
