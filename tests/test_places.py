"""Writing under faults: a full disk, a file-size limit, an output that is no folder, and the
leftovers of killed writers; each is one line naming the place, and nothing half-written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from practical3.base.atomic import staged, write_text
from practical3.base.errors import OutputError
from practical3.cli import main
from practical3.data import layout
from practical3.data.cache import load_decoded
from practical3.data.index import build_index, select_split
from practical3.data.synth import synthesize
from practical3.models import build_model
from practical3.predict import predict
from practical3.training import checkpoint
from practical3.training.profiles import profile

CFG = profile("smoke").replace(base_channels=4, depth=2, image_size=32)


@pytest.fixture
def full_disk(tmp_path: Path):
    """A 256 KiB tmpfs filled to the last byte (needs root; skipped otherwise)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        with open(disk / "filler", "wb") as filler:
            while True:
                filler.write(b"\0" * 4096)
                filler.flush()
    except OSError:
        pass
    yield disk
    subprocess.run(["umount", str(disk)], check=False)


def assert_disk_full_and_untouched(err: pytest.ExceptionInfo, path: Path, disk: Path) -> None:
    assert str(err.value).startswith(f"disk full: {path}") and "\n" not in str(err.value)
    assert sorted(p.name for p in disk.rglob("*")) == ["filler"]


def test_a_full_disk_under_a_checkpoint_is_named(full_disk):
    with pytest.raises(OutputError) as err:
        checkpoint.save({"weights": torch.zeros(50_000)}, full_disk / "best.pt")
    assert_disk_full_and_untouched(err, full_disk / "best.pt", full_disk)


def test_a_full_disk_under_a_text_file_is_named(full_disk):
    with pytest.raises(OutputError) as err:
        write_text(full_disk / "history.csv", "epoch\n" * 10_000)
    assert_disk_full_and_untouched(err, full_disk / "history.csv", full_disk)


def test_a_full_disk_under_the_cache_is_named(full_disk, tmp_path):
    root = synthesize(tmp_path / "twin", per_class=1, size=64, parts=("infection",))
    rows = select_split(build_index(root), "infection", "Train")
    with pytest.raises(OutputError, match="^disk full: ") as err:
        load_decoded(rows, layout.TARGETS["infection"], 256, cache_dir=full_disk)
    assert "\n" not in str(err.value)
    assert sorted(p.name for p in full_disk.rglob("*")) == ["filler"]


def tiny_checkpoint(path: Path) -> Path:
    model = build_model("unet", 1, len(CFG.targets), CFG.base_channels, CFG.depth)
    return checkpoint.save({"model": model.state_dict(), "epoch": 1, "config": CFG.to_dict(),
                            "run_id": "tiny"}, path)


def test_predict_on_a_full_disk_leaves_no_masks_without_their_table(full_disk, tmp_path):
    image = tmp_path / "xray.png"
    Image.fromarray(np.full((200, 200), 90, np.uint8)).save(image)
    with pytest.raises(OutputError, match="^disk full: "):
        predict([image], tiny_checkpoint(tmp_path / "best.pt"), full_disk, device="cpu")
    assert sorted(p.name for p in full_disk.rglob("*")) == ["filler"]


def test_a_file_size_limit_is_named_as_a_full_disk(tmp_path):
    code = ("import resource, signal, sys, torch\n"
            "from practical3.base.errors import UserError\n"
            "from practical3.training import checkpoint\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the limit kills the process\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))\n"
            "try:\n"
            "    checkpoint.save({'weights': torch.zeros(100_000)}, sys.argv[1])\n"
            "except UserError as err:\n"
            "    print(err)\n")
    target = tmp_path / "last.pt"
    done = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True,
                          text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.stdout.startswith(f"disk full: {target} could not be written (File too large)")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("out", ["a-file", "a-file/below"])
def test_predict_names_an_out_that_cannot_be_a_folder_before_the_model_runs(tmp_path, capsys,
                                                                             out):
    (tmp_path / "a-file").write_text("")
    image = tmp_path / "xray.png"
    Image.fromarray(np.full((64, 64), 90, np.uint8)).save(image)
    # the checkpoint does not exist: the output place is checked first
    status = main(["predict", str(image), "--checkpoint", str(tmp_path / "none.pt"),
                   "--out", str(tmp_path / out)])
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1 and f"--out {tmp_path / out}" in err


def test_a_failed_set_of_files_leaves_the_folder_as_it_was(tmp_path):
    (tmp_path / "kept.txt").write_text("earlier")
    with pytest.raises(RuntimeError), staged(tmp_path, last="table.csv") as stage:
        (stage / "a_mask.png").write_bytes(b"...")
        raise RuntimeError("the model failed")
    assert [p.name for p in tmp_path.iterdir()] == ["kept.txt"]


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_a_killed_synth_leaves_a_folder_the_next_call_removes(tmp_path):
    stale = tmp_path / f".other-twin.tmp-{dead_pid()}"
    (stale / "Infection Segmentation Data").mkdir(parents=True)
    synthesize(tmp_path / "twin", per_class=1, size=32, parts=("infection",))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["twin"]
