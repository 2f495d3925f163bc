"""A run folder under faults: kills between checkpoint writes, two writers, bad settings, and
checkpoints that are not ours; each one resumes to the same run or is refused in one line."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from practical3.base.errors import BusyError, ConfigError, OutputError, RunError
from practical3.base.lock import exclusive
from practical3.cli import main
from practical3.models import build_model
from practical3.training import checkpoint
from practical3.training.config import RULES, TrainConfig, validate
from practical3.training.loop import ensure_trained, resume, train
from practical3.training.profiles import PROFILES, profile

# Every epoch of this run beats the one before (val score 0.014, 0.058, 0.165): best.pt is
# written at each, so a kill between the two writes of epoch 3 leaves last.pt one behind.
CFG = profile("smoke").replace(epochs=3, batch_size=4, lr=1e-2, max_train_images=12,
                               max_val_images=6)
TIMING = ["epoch_time_s", "train_images_per_s"]


@pytest.fixture(scope="module")
def reference(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the uninterrupted run."""
    out = tmp_path_factory.mktemp("uninterrupted")
    train(CFG, data, out, progress=False)
    return out


def best_epoch(run_dir: Path) -> int:
    history = pd.read_csv(run_dir / "history.csv")
    return int(history.loc[history["best"], "epoch"].iloc[-1])


def assert_same_run(run_dir: Path, reference: Path) -> None:
    """Same history (timings aside) and the same best.pt weights as the uninterrupted run."""
    numbers = [pd.read_csv(d / "history.csv").drop(columns=TIMING) for d in (run_dir, reference)]
    pd.testing.assert_frame_equal(*numbers)
    got, want = (checkpoint.load(d / "best.pt") for d in (run_dir, reference))
    assert got["epoch"] == want["epoch"]
    for name, tensor in want["model"].items():
        assert torch.equal(got["model"][name], tensor), name


def kill_at(monkeypatch, when) -> None:
    """Make ``checkpoint.save`` raise KeyboardInterrupt (a kill) on the call where
    ``when(path, calls_so_far)`` is true, before writing."""
    real, calls = checkpoint.save, []

    def save(state, path):
        calls.append(Path(path).name)
        if when(Path(path), calls):
            raise KeyboardInterrupt
        return real(state, path)

    monkeypatch.setattr(checkpoint, "save", save)


def test_a_kill_between_best_and_last_resumes_to_the_uninterrupted_run(data, reference,
                                                                        tmp_path, monkeypatch):
    # killed as it writes last.pt of the best epoch: best.pt is of that epoch, last.pt older
    epoch = best_epoch(reference)
    kill_at(monkeypatch, lambda path, calls: path.name == "last.pt"
            and calls.count("last.pt") == epoch)
    with pytest.raises(KeyboardInterrupt):
        train(CFG, data, tmp_path, progress=False)
    monkeypatch.undo()
    assert checkpoint.load(tmp_path / "best.pt")["epoch"] == epoch
    resume(tmp_path, data, progress=False)
    assert_same_run(tmp_path, reference)


def test_last_without_best_is_rebuilt_when_last_holds_the_best_epoch(data, reference, tmp_path,
                                                                     monkeypatch):
    # what a version that wrote last.pt first left when killed before best.pt, or a deletion
    epoch = best_epoch(reference)
    kill_at(monkeypatch, lambda path, calls: calls.count("last.pt") == epoch + 1)
    with contextlib.suppress(KeyboardInterrupt):  # no kill when the best epoch is the last
        train(CFG, data, tmp_path, progress=False)
    monkeypatch.undo()
    assert checkpoint.load(tmp_path / "last.pt")["epoch"] == epoch
    (tmp_path / "best.pt").unlink()
    resume(tmp_path, data, progress=False)
    assert_same_run(tmp_path, reference)


def test_a_lost_best_epoch_is_refused_with_what_to_do(data, reference, tmp_path):
    state = checkpoint.load(reference / "last.pt")
    for row in state["history"]:
        row["best"] = row["epoch"] == 1  # the best weights were those of epoch 1: gone
    checkpoint.save(state, tmp_path / "last.pt")
    with pytest.raises(RunError, match=r"best\.pt lost .* epoch \(1; .*delete"):
        resume(tmp_path, data, progress=False)


def test_a_folder_never_saved_is_not_resumed_but_started_again(data, tmp_path):
    (tmp_path / "run.json").write_text("{}")
    with pytest.raises(RunError, match="start it again without --resume"):
        resume(tmp_path, data, progress=False)


def test_a_second_writer_is_refused_at_once_naming_the_holder(data, tmp_path):
    with exclusive(tmp_path, "training run"), \
            pytest.raises(BusyError, match=f"pid {os.getpid()}, started "):
        train(CFG, data, tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []  # nothing written, the lock file gone


def test_the_lock_dies_with_its_holder(tmp_path):
    code = ("import sys, time; from practical3.base.lock import exclusive\n"
            "with exclusive(sys.argv[1], 'test'):\n"
            "    print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(BusyError, match=f"pid {holder.pid}"), exclusive(tmp_path, "test"):
            pass
    finally:
        holder.kill()  # kill -9: no clean-up runs
        holder.wait()
    with exclusive(tmp_path, "test"):
        pass


BAD = [("epochs", 0), ("epochs", -1), ("lr", float("nan")), ("lr", -1.0), ("batch_size", 0),
       ("batch_size", -3), ("image_size", 63), ("image_size", 0), ("image_size", 100000),
       ("device", "bogus"), ("max_train_images", 0), ("max_train_images", -1),
       ("max_val_images", 0), ("base_channels", 0), ("weight_decay", -1e-4),
       ("model", "resnet"), ("loss", "l3"), ("precision", "fp8"), ("seed", -1)]


@pytest.mark.parametrize(("name", "value"), BAD)
def test_each_bad_setting_is_named_before_any_work(data, tmp_path, name, value):
    option = "--" + name.replace("_", "-")
    with pytest.raises(ConfigError, match=f"^{option} .*{name} must be") as err:
        train(CFG.replace(**{name: value}), data, tmp_path / "run", progress=False)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "run").exists()


def test_the_command_line_names_a_bad_setting_in_one_line(data, tmp_path, capsys):
    status = main(["train", "--data", str(data), "--out", str(tmp_path / "run"), "--quiet",
                   "--batch-size", "0"])
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1 and "--batch-size 0" in err
    assert not (tmp_path / "run").exists()


def test_every_setting_has_a_rule_and_every_profile_keeps_it():
    assert list(RULES) == [field for field in TrainConfig.__dataclass_fields__]
    for cfg in PROFILES.values():
        assert validate(cfg) is cfg


@pytest.mark.parametrize("cache", ["a-file", "a-file/below"])
def test_a_cache_that_cannot_be_a_folder_is_named(data, tmp_path, monkeypatch, cache):
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("PRACTICAL3_CACHE", str(tmp_path / cache))
    with pytest.raises(OutputError, match=r"^\$PRACTICAL3_CACHE .*a-file"):
        ensure_trained(CFG, data, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_an_out_that_is_a_file_is_named(data, tmp_path):
    (tmp_path / "run").write_text("")
    with pytest.raises(OutputError, match="^--out .*run: cannot be a folder"):
        train(CFG, data, tmp_path / "run", progress=False)


# --- checkpoints that are not ours --------------------------------------------------------

@pytest.fixture(scope="module")
def genuine(reference: Path) -> dict:
    return checkpoint.load(reference / "best.pt")


class Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def foreign(genuine: dict, kind: str) -> object:
    """A checkpoint of ``kind`` made from the genuine best.pt."""
    config = dict(genuine["config"])
    if kind == "plain":
        return {"state_dict": genuine["model"], "epoch": 5}
    if kind == "missing-key":
        del config["depth"]
        return {**genuine, "config": config}
    if kind == "extra-key":
        return {**genuine, "config": {**config, "dropout": 0.1}}
    if kind == "bad-value":
        return {**genuine, "config": {**config, "image_size": 63}}
    if kind == "architecture":
        other = build_model("unetpp", 1, 2, config["base_channels"], config["depth"])
        return {**genuine, "model": other.state_dict()}
    if kind == "part":
        return {**genuine, "config": {**config, "part": "lung"}}
    if kind == "not-a-dict":
        return [1, 2, 3]
    if kind == "bare":
        return genuine["model"]
    return {**genuine, "extra": Payload()}


KINDS = {"plain": "lacks model, config, run_id", "missing-key": "its config lacks depth",
         "extra-key": "its config has unknown dropout", "bad-value": "--image-size 63",
         "architecture": "weights do not fit the unet", "part": "weights do not fit",
         "not-a-dict": "holds a list", "pickle": "loading it could run code",
         "bare": "holds bare model weights"}


@pytest.mark.parametrize("kind", KINDS)
def test_a_foreign_checkpoint_is_refused_in_one_line(genuine, tmp_path, kind):
    path = tmp_path / "best.pt"
    torch.save(foreign(genuine, kind), path)
    with pytest.raises(RunError, match=KINDS[kind]) as err:
        checkpoint.load(path)
    assert "\n" not in str(err.value) and "weights_only=False" not in str(err.value)


def test_a_bare_state_dict_is_refused_in_one_short_line_with_the_fix(genuine, tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(genuine["model"], path)
    with pytest.raises(RunError) as err:
        checkpoint.load(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and checkpoint.FIX in message
    assert len(message) < 300  # not every tensor's name


@pytest.mark.parametrize("text", ["epoch,loss\n1,0.5\n", '{"model": 1}\n', "Good morning\n"])
def test_a_text_file_is_refused_as_text_not_as_code(tmp_path, text):
    path = tmp_path / "notes.txt"
    path.write_text(text)
    with pytest.raises(RunError, match="not a checkpoint \\(a text file") as err:
        checkpoint.load(path)
    assert "could run code" not in str(err.value)


@pytest.mark.parametrize("command", ["predict", "evaluate", "train"])
def test_each_command_refuses_a_foreign_checkpoint_in_one_line(genuine, data, tmp_path, capsys,
                                                               command):
    run = tmp_path / "run"
    run.mkdir()
    torch.save(foreign(genuine, "plain"), run / "last.pt")
    args = {"predict": ["predict", str(next(data.rglob("*.png"))), "--checkpoint",
                        str(run / "last.pt"), "--out", str(tmp_path / "out")],
            "evaluate": ["evaluate", "--data", str(data), "--checkpoint", str(run / "last.pt"),
                         "--out", str(tmp_path / "out"), "--quiet"],
            "train": ["train", "--data", str(data), "--out", str(run), "--resume", "--quiet"]}
    assert main(args[command]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a practical3 checkpoint" in err


def test_a_checkpoint_from_before_training_data_loads_and_says_unknown(genuine, tmp_path):
    assert checkpoint.training_data_of(genuine)["n_train_images"] == 12
    older = {k: v for k, v in genuine.items() if k != "training_data"}
    checkpoint.save(older, tmp_path / "best.pt")
    assert checkpoint.training_data_of(checkpoint.load(tmp_path / "best.pt")) is None
