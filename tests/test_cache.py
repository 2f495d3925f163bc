"""The decoded cache (built once, rebuilt on change, keyed by size) and picking a split."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from practical3.base.errors import DataError
from practical3.data import cache, layout
from practical3.data.cache import load_decoded
from practical3.data.decode import decode_resized
from practical3.data.index import build_index, select_split
from practical3.data.synth import synthesize

TARGETS = layout.TARGETS["infection"]
SIZE = 64


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> pd.DataFrame:
    """The Test split of a small synthetic twin (2 images per class, 64x64); never modified."""
    root = synthesize(tmp_path_factory.mktemp("twin") / "synthetic", per_class=2, size=SIZE,
                      parts=("infection",))
    return select_split(build_index(root), "infection", "Test")


@pytest.fixture
def own_index(tmp_path) -> pd.DataFrame:
    """Like ``index`` but in this test's own folder, so the test may rewrite its files."""
    root = synthesize(tmp_path / "synthetic", per_class=2, size=SIZE, parts=("infection",))
    return select_split(build_index(root), "infection", "Test")


def complete_caches(cache_dir: Path) -> list[Path]:
    return sorted(p.parent for p in cache_dir.glob("*/meta.json"))


# --- the cache ------------------------------------------------------------------------------

def test_cache_is_built_once_and_reused(index, tmp_path, monkeypatch):
    first = load_decoded(index, TARGETS, SIZE, cache_dir=tmp_path)

    def no_decoding(*args, **kwargs):
        raise AssertionError("the second load decoded a PNG instead of reading the cache")

    monkeypatch.setattr(cache, "decode_resized", no_decoding)
    second = load_decoded(index, TARGETS, SIZE, cache_dir=tmp_path)
    assert np.array_equal(first.images, second.images)
    assert np.array_equal(first.masks, second.masks)
    assert len(complete_caches(tmp_path)) == 1


def test_cache_is_rebuilt_when_a_source_file_changes(own_index, tmp_path):
    cache_dir = tmp_path / "cache"
    before = load_decoded(own_index, TARGETS, SIZE, cache_dir=cache_dir)
    changed = Path(own_index.loc[0, "image"])
    Image.fromarray(np.zeros((SIZE, SIZE), np.uint8)).save(changed)
    stat = changed.stat()
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    after = load_decoded(own_index, TARGETS, SIZE, cache_dir=cache_dir)
    assert before.images[0].any()
    assert not after.images[0].any()
    assert np.array_equal(before.images[1:], after.images[1:])
    assert len(complete_caches(cache_dir)) == 2


def test_cache_is_keyed_by_image_size(index, tmp_path):
    big = load_decoded(index, TARGETS, SIZE, cache_dir=tmp_path)
    small = load_decoded(index, TARGETS, 32, cache_dir=tmp_path)
    assert big.images.shape == (len(index), SIZE, SIZE)
    assert small.images.shape == (len(index), 32, 32)
    assert small.masks.shape == (len(index), len(TARGETS), 32, 32)
    assert len(complete_caches(tmp_path)) == 2


def test_cache_records_follow_the_index_order(index, tmp_path):
    decoded = load_decoded(index, TARGETS, SIZE, cache_dir=tmp_path)
    assert list(decoded.records["name"]) == list(index["name"])
    assert list(decoded.records["cls"]) == list(index["cls"])


def test_cache_channels_are_lung_then_infection(index, tmp_path):
    decoded = load_decoded(index, TARGETS, SIZE, cache_dir=tmp_path)
    by_class = {cls: decoded.masks[i] for i, cls in enumerate(index["cls"])}
    assert by_class["COVID-19"][1].any()
    assert not by_class["Normal"][1].any()
    assert by_class["Normal"][0].any()


def test_resizing_keeps_masks_binary(index):
    image, masks = decode_resized(index.iloc[0], TARGETS, 41)
    assert image.shape == (41, 41) and image.dtype == np.uint8
    assert masks.shape == (2, 41, 41) and masks.dtype == np.uint8
    assert set(np.unique(masks)) <= {0, 1}
    assert masks[0].any()  # the lung survives the resize


def test_resizing_keeps_mask_area(index):
    _, full = decode_resized(index.iloc[0], TARGETS, SIZE)
    _, half = decode_resized(index.iloc[0], TARGETS, SIZE // 2)
    assert int(half[0].sum()) * 4 == pytest.approx(int(full[0].sum()), rel=0.05)


# --- select_split ---------------------------------------------------------------------------

@pytest.fixture
def fake_index() -> pd.DataFrame:
    """An index-shaped table of 40 Train and 10 Val rows (no files: select_split reads none)."""
    splits = ["Train"] * 40 + ["Val"] * 10
    return pd.DataFrame({"part": "infection", "split": splits, "cls": "COVID-19",
                         "name": [f"{i}.png" for i in range(len(splits))]})


def test_select_split_keeps_one_part_and_split(fake_index):
    rows = select_split(fake_index, "infection", "Val")
    assert list(rows["name"]) == [f"{i}.png" for i in range(40, 50)]


def test_select_split_limit_is_deterministic_per_seed(fake_index):
    first = select_split(fake_index, "infection", "Train", limit=10, seed=3)
    again = select_split(fake_index, "infection", "Train", limit=10, seed=3)
    other = select_split(fake_index, "infection", "Train", limit=10, seed=4)
    assert list(first["name"]) == list(again["name"])
    assert list(first["name"]) != list(other["name"])
    assert len(first) == 10


def test_select_split_limit_keeps_index_order(fake_index):
    rows = select_split(fake_index, "infection", "Train", limit=10, seed=3)
    numbers = [int(name.split(".")[0]) for name in rows["name"]]
    assert numbers == sorted(numbers)


def test_select_split_limit_above_size_keeps_all(fake_index):
    assert len(select_split(fake_index, "infection", "Val", limit=100)) == 10


def test_select_split_missing_split_names_it(fake_index):
    with pytest.raises(DataError, match=r"no images in the Test split.*holds Infection "
                       r"Segmentation Data: Train 40, Val 10, Test 0 \(classes: COVID-19\)"):
        select_split(fake_index, "infection", "Test")


def test_an_edit_that_restores_size_and_mtime_rebuilds_the_cache(own_index, tmp_path):
    cache_dir = tmp_path / "cache"
    load_decoded(own_index, TARGETS, SIZE, cache_dir=cache_dir)
    changed = Path(own_index.loc[0, "image"])
    stat = changed.stat()
    time.sleep(0.01)  # past the filesystem clock's tick, so the change time moves
    Image.fromarray(np.zeros((SIZE, SIZE), np.uint8)).save(changed)
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert not load_decoded(own_index, TARGETS, SIZE, cache_dir=cache_dir).images[0].any()


def test_a_killed_build_leaves_a_scratch_folder_the_next_build_removes(index, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = tmp_path / f".64px-old-build.tmp-{dead.stdout.strip()}"
    (stale / "images.npy").parent.mkdir()
    (stale / "images.npy").write_bytes(b"half")
    live = tmp_path / f".64px-other-build.tmp-{os.getpid()}"  # a build running now
    live.mkdir()
    load_decoded(index, TARGETS, SIZE, cache_dir=tmp_path)
    assert not stale.exists() and live.exists()
