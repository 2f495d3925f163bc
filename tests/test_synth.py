"""The synthetic twin: the archive's layout, valid PNGs and masks, the same bytes on every
machine (a pinned hash), atomic writes."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from practical3.base.errors import ConfigError, DataError
from practical3.data import layout, sources, synth

SIZE = 64
PER_CLASS = 4  # Train 4, Val and Test max(2, 4 // 4) = 2


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth.synthesize(tmp_path_factory.mktemp("synth") / "twin", PER_CLASS, size=SIZE)


def class_dirs(root: Path):
    for part, folder in layout.PARTS.items():
        for split in layout.SPLITS:
            for cls in layout.CLASSES:
                yield part, split, cls, root / folder / folder / split / cls


def read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.png"))
    }


# SHA-256 over (relative path, SHA-256) of every file of synthesize(tmp, 2, size=64): the same
# on every machine. A change to the twin changes it: update it on purpose (docs/reproducing.md).
PINNED_TWIN = "46c7f7a1563debb060a6e0a847a9af7cf8f8bc1dac1228cf18dfa390032004fb"
HASH_TWIN = f"""
import hashlib, sys, tempfile
from pathlib import Path
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_synth import twin_hash
from practical3.data import synth
with tempfile.TemporaryDirectory() as folder:
    print(twin_hash(synth.synthesize(Path(folder) / "twin", 2, size=64)))
"""


def twin_hash(root: Path) -> str:
    """One SHA-256 over every file of a twin, each named by its path relative to ``root``."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        digest.update(f"{path.relative_to(root).as_posix()}|{sha}\n".encode())
    return digest.hexdigest()


def test_split_counts():
    assert synth.split_counts(4) == {"Train": 4, "Val": 2, "Test": 2}
    assert synth.split_counts(40) == {"Train": 40, "Val": 10, "Test": 10}


def test_layout_folders_and_counts(twin):
    expected = synth.split_counts(PER_CLASS)
    for part, split, cls, folder in class_dirs(twin):
        subfolders = sorted(p.name for p in folder.iterdir())
        assert subfolders == sorted([layout.IMAGES_DIR, *layout.mask_dirs(part)])
        names = sorted(p.name for p in (folder / layout.IMAGES_DIR).iterdir())
        assert len(names) == expected[split], (part, split, cls)
        for mask_dir in layout.mask_dirs(part):
            assert sorted(p.name for p in (folder / mask_dir).iterdir()) == names


def test_only_the_two_parts_and_the_marker_at_the_root(twin):
    assert sorted(p.name for p in twin.iterdir()) == sorted(
        [*layout.PARTS.values(), sources.SYNTHETIC_MARKER]
    )


def test_file_names_are_the_archives_and_never_clash(twin):
    for cls in layout.CLASSES:
        names = [p.name for p in twin.glob(f"*/*/*/{cls}/{layout.IMAGES_DIR}/*")]
        assert len(names) == len(set(names))
        numbers = range(1, len(names) + 1)
        assert sorted(names) == sorted(layout.file_name(cls, n) for n in numbers)


def test_pngs_are_8_bit_grayscale_of_the_asked_size(twin):
    pngs = list(twin.rglob("*.png"))
    per_part = len(layout.CLASSES) * sum(synth.split_counts(PER_CLASS).values())
    assert len(pngs) == 5 * per_part  # two parts of images and lung masks, one of infection
    for path in pngs:
        with Image.open(path) as image:
            assert (image.format, image.mode, image.size) == ("PNG", "L", (SIZE, SIZE))


def test_masks_hold_only_0_and_255(twin):
    for path in twin.rglob("*masks/*.png"):
        assert set(np.unique(read(path))) <= {0, 255}, path


def test_covid_infection_is_non_empty_and_inside_the_lung(twin):
    for part, _, cls, folder in class_dirs(twin):
        if part != "infection" or cls != "COVID-19":
            continue
        for path in (folder / layout.INFECTION_MASKS_DIR).iterdir():
            infection = read(path) > 0
            lung = read(folder / layout.LUNG_MASKS_DIR / path.name) > 0
            assert infection.any() and not (infection & ~lung).any(), path


def test_other_classes_have_empty_infection_masks(twin):
    for part, _, cls, folder in class_dirs(twin):
        if part == "infection" and cls != "COVID-19":
            for path in (folder / layout.INFECTION_MASKS_DIR).iterdir():
                assert not read(path).any(), path


def test_every_lung_mask_is_non_empty(twin):
    for path in twin.rglob(f"{layout.LUNG_MASKS_DIR}/*.png"):
        assert read(path).any(), path


def test_marker_records_the_parameters(twin):
    spec = json.loads((twin / sources.SYNTHETIC_MARKER).read_text())
    assert spec["per_class"] == PER_CLASS and spec["size"] == SIZE and spec["seed"] == 0
    assert spec["parts"] == ["infection", "lung"]
    assert spec["version"] == synth.GENERATOR_VERSION
    assert sources.is_synthetic(twin / "Lung Segmentation Data")


def test_same_seed_gives_identical_bytes(tmp_path):
    first = synth.synthesize(tmp_path / "a", 2, size=SIZE, seed=3)
    second = synth.synthesize(tmp_path / "b", 2, size=SIZE, seed=3)
    assert digests(first) == digests(second)
    assert (first / sources.SYNTHETIC_MARKER).read_bytes() == (
        second / sources.SYNTHETIC_MARKER
    ).read_bytes()


def test_different_seed_gives_different_images(tmp_path):
    first = digests(synth.synthesize(tmp_path / "a", 2, size=SIZE, seed=0, parts=["lung"]))
    second = digests(synth.synthesize(tmp_path / "b", 2, size=SIZE, seed=1, parts=["lung"]))
    assert first.keys() == second.keys()
    images = [name for name in first if f"/{layout.IMAGES_DIR}/" in name]
    assert all(first[name] != second[name] for name in images)


def test_parts_subset_writes_only_that_part(tmp_path):
    root = synth.synthesize(tmp_path / "twin", 2, size=SIZE, parts=("lung",))
    assert sorted(p.name for p in root.iterdir()) == sorted(
        [layout.PARTS["lung"], sources.SYNTHETIC_MARKER]
    )
    assert not list(root.rglob(layout.INFECTION_MASKS_DIR))


def test_second_call_with_same_parameters_does_nothing(twin, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("rendered again")

    monkeypatch.setattr(synth, "phantom", fail)
    # Parts in another order are the same request.
    assert synth.synthesize(twin, PER_CLASS, size=SIZE, parts=("lung", "infection")) == twin


def test_folder_without_marker_is_refused(tmp_path):
    (tmp_path / "twin").mkdir()
    (tmp_path / "twin" / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="delete that folder or choose another --dest"):
        synth.synthesize(tmp_path / "twin", 2, size=SIZE)
    assert (tmp_path / "twin" / "notes.txt").read_text() == "mine"


def test_twin_with_other_parameters_is_refused(twin):
    with pytest.raises(DataError, match=re.escape(str(twin))):
        synth.synthesize(twin, PER_CLASS, size=SIZE, seed=1)


def test_empty_folder_is_filled(tmp_path):
    (tmp_path / "twin").mkdir()
    root = synth.synthesize(tmp_path / "twin", 2, size=SIZE, parts=("lung",))
    assert (root / sources.SYNTHETIC_MARKER).is_file()


def test_failure_leaves_neither_temporary_folder_nor_destination(tmp_path, monkeypatch):
    calls = []
    real = synth.phantom

    def fail_on_fifth(rng, size, cls):
        calls.append(cls)
        if len(calls) == 5:
            raise RuntimeError("injected")
        return real(rng, size, cls)

    monkeypatch.setattr(synth, "phantom", fail_on_fifth)
    with pytest.raises(RuntimeError, match="injected"):
        synth.synthesize(tmp_path / "twin", 2, size=SIZE)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "kwargs",
    [{"per_class": 0}, {"size": 16}, {"seed": -1}, {"parts": ("heart",)}, {"parts": ()}],
)
def test_bad_parameters_are_refused(tmp_path, kwargs):
    with pytest.raises(ConfigError):
        synth.synthesize(tmp_path / "twin", **{"per_class": 2, "size": SIZE, **kwargs})
    assert not (tmp_path / "twin").exists()


def test_phantom_returns_uint8_images_and_binary_masks():
    for cls in layout.CLASSES:
        arrays = synth.phantom(np.random.default_rng(0), SIZE, cls)
        assert [(a.shape, a.dtype) for a in arrays] == [((SIZE, SIZE), np.uint8)] * 3
        assert set(np.unique(arrays[1])) == {0, 255}


def test_phantom_refuses_an_unknown_class():
    with pytest.raises(ConfigError, match="COVID-19"):
        synth.phantom(np.random.default_rng(0), SIZE, "covid")


def test_lungs_are_darker_and_infection_brighter():
    for seed in range(10):
        image, lung, infection = synth.phantom(np.random.default_rng(seed), SIZE, "COVID-19")
        lung, infection = lung > 0, infection > 0
        assert image[lung].mean() < image[~lung].mean()
        assert image[infection].mean() > image[lung & ~infection].mean()


def test_infected_share_of_the_lung_spans_1_to_60_percent():
    shares = []
    for seed in range(60):
        _, lung, infection = synth.phantom(np.random.default_rng(seed), SIZE, "COVID-19")
        shares.append((infection > 0).sum() / (lung > 0).sum())
    assert 0.005 < min(shares) < 0.03
    assert 0.35 < max(shares) < 0.65


def test_small_twin_has_the_pinned_hash(tmp_path):
    assert twin_hash(synth.synthesize(tmp_path / "twin", 2, size=64)) == PINNED_TWIN


@pytest.mark.parametrize("env", [
    {"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"},
    # numpy's SIMD kernels switched off, down to its baseline: a stand-in for an older CPU
    {"NPY_DISABLE_CPU_FEATURES": "AVX512_SPR AVX512_ICL X86_V4 X86_V3 AVX512F AVX2 FMA3"},
])
def test_pinned_hash_with_other_threads_and_vector_instructions(env):
    result = subprocess.run([sys.executable, "-c", HASH_TWIN], env={**os.environ, **env},
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == PINNED_TWIN


def test_png_bytes_decode_to_the_pixels():
    pixels = np.random.default_rng(0).integers(0, 256, (300, 250), dtype=np.uint8)  # 2 blocks
    with Image.open(io.BytesIO(synth.png_bytes(pixels))) as image:
        assert (image.mode, image.size) == ("L", (250, 300))
        assert (np.asarray(image) == pixels).all()


def test_exp_and_cos_are_close_to_libm():
    x = np.linspace(-30.0, 0.0, 3001)
    assert np.allclose(synth._exp(x), np.exp(x), rtol=1e-9, atol=0)
    angles = np.linspace(-20.0, 20.0, 4001)
    assert np.abs(synth._cos(angles) - np.cos(angles)).max() < 1e-10
