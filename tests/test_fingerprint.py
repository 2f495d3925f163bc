"""The data fingerprint: content and relative paths, the same anywhere, remembered per file."""

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from practical3.data import fingerprint as fingerprint_module
from practical3.data.fingerprint import data_fingerprint
from practical3.data.index import build_index
from practical3.data.synth import synthesize


@pytest.fixture
def twin(tmp_path, monkeypatch):
    monkeypatch.setenv("PRACTICAL3_CACHE", str(tmp_path / "cache"))
    return synthesize(tmp_path / "a" / "twin", per_class=1, size=32, parts=("infection",))


def fingerprint_of(root):
    return data_fingerprint(build_index(root), root)


def test_a_copy_moved_elsewhere_keeps_its_fingerprint(twin, tmp_path):
    moved = shutil.copytree(twin, tmp_path / "b" / "elsewhere")
    assert fingerprint_of(moved) == fingerprint_of(twin)


def test_one_changed_pixel_changes_the_fingerprint(twin):
    before = fingerprint_of(twin)
    image = next(twin.rglob("images/*.png"))
    pixels = np.asarray(Image.open(image)).copy()
    pixels[0, 0] ^= 1
    Image.fromarray(pixels).save(image)
    assert fingerprint_of(twin) != before


def test_a_renamed_file_changes_the_fingerprint(twin):
    before = fingerprint_of(twin)
    for folder in ("images", "lung masks", "infection masks"):
        old = next(twin.rglob(f"Test/Normal/{folder}/*.png"))
        old.rename(old.with_name("Normal (999).png"))
    assert fingerprint_of(twin) != before


def test_unchanged_files_are_not_read_again(twin, monkeypatch):
    first = fingerprint_of(twin)

    def no_reading(path):
        raise AssertionError(f"{path} was hashed again")

    monkeypatch.setattr(fingerprint_module, "file_sha256", no_reading)
    assert fingerprint_of(twin) == first


def edit_keeping_size_and_mtime(path) -> None:
    """Flip one byte of ``path`` in place, then set its modification time back."""
    stat = path.stat()
    time.sleep(0.01)  # past the filesystem clock's tick, so the change time moves
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF  # one byte of the compressed pixels: same size, other content
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)


def test_an_edit_that_restores_size_and_mtime_changes_the_fingerprint(twin):
    before = fingerprint_of(twin)
    edit_keeping_size_and_mtime(next(twin.rglob("images/*.png")))
    assert fingerprint_of(twin) != before


def test_the_fingerprint_hashes_relative_paths_and_contents_as_documented(twin):
    # The value every run id depends on: SHA-256 over "relative path|SHA-256 of the bytes\n"
    # of each indexed file in sorted order. Changing it would orphan every existing run.
    files = sorted(p.resolve() for p in twin.rglob("*.png"))
    lines = "".join(f"{p.relative_to(twin.resolve()).as_posix()}|"
                    f"{hashlib.sha256(p.read_bytes()).hexdigest()}\n" for p in files)
    assert fingerprint_of(twin) == hashlib.sha256(lines.encode()).hexdigest()


@pytest.mark.parametrize("damage", ['{"/a|1|2": "ab', "[1, 2]", "\x00\xff"])
def test_a_damaged_hash_file_is_rebuilt_with_a_warning(twin, capsys, damage):
    first = fingerprint_of(twin)
    hashes = Path(os.environ["PRACTICAL3_CACHE"]) / fingerprint_module.HASHES_FILE
    hashes.write_text(damage, encoding="latin-1")
    assert fingerprint_of(twin) == first
    assert f"warning: {hashes}" in capsys.readouterr().err
    assert json.loads(hashes.read_text())  # rewritten whole


def test_a_copy_whose_splits_are_links_has_the_fingerprint_of_the_files_in_place(twin, tmp_path):
    linked = tmp_path / "linked"
    for split in twin.rglob("Test"):
        inside = split.parent.relative_to(twin)
        (linked / inside).mkdir(parents=True)
        for folder in split.parent.iterdir():
            (linked / inside / folder.name).symlink_to(folder, target_is_directory=True)
    assert fingerprint_of(linked) == fingerprint_of(twin)


def test_a_copy_whose_files_are_links_has_the_fingerprint_of_the_files_in_place(twin, tmp_path):
    # git-annex and the Hugging Face cache keep each file as a link into a store
    annexed = shutil.copytree(twin, tmp_path / "annexed",
                              copy_function=lambda src, dst: os.symlink(Path(src).resolve(), dst))
    assert next(annexed.rglob("*.png")).is_symlink()
    assert fingerprint_of(annexed) == fingerprint_of(twin)
