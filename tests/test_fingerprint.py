"""The data fingerprint: content and relative paths, the same anywhere, remembered per file."""

import shutil

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
