"""Indexing a COVID-QU-Ex copy: root finding, pairing, validation, and one clear error per fault."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from practical3.base.errors import DataError
from practical3.base.paths import project_root
from practical3.cli import main
from practical3.data import layout, sources
from practical3.data.cache import load_decoded
from practical3.data.decode import read_png
from practical3.data.index import build_index, contents, count_table, find_part_dir, validate
from practical3.data.synth import synthesize

SAMPLE = project_root().parent / "shared" / "data" / "covidqu-sample"
INFECTION = layout.PARTS["infection"]
SIDE = 8


def write_png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path)
    return path


def write_tree(part_dir: Path, per_class: int = 1, split: str = "Test") -> Path:
    """A tiny Infection part (8x8 PNGs) under ``part_dir``: one split, every class."""
    mask = np.zeros((SIDE, SIDE), np.uint8)
    mask[2:6, 2:6] = 255
    for cls in layout.CLASSES:
        for n in range(1, per_class + 1):
            name = layout.file_name(cls, n)
            cls_dir = part_dir / split / cls
            write_png(cls_dir / layout.IMAGES_DIR / name, np.full((SIDE, SIDE), 100))
            for mask_dir in layout.mask_dirs("infection"):
                write_png(cls_dir / mask_dir / name, mask)
    return part_dir


def archive(root: Path) -> Path:
    """The archive's layout: ``root/<Part>/<Part>/Test/...``; returns the inner part folder."""
    return write_tree(root / INFECTION / INFECTION)


def covid_file(part_dir: Path, folder: str) -> Path:
    return part_dir / "Test" / "COVID-19" / folder / layout.file_name("COVID-19", 1)


def assert_names(err: pytest.ExceptionInfo, path: Path) -> None:
    assert str(path) in str(err.value)


# --- the real 12-image sample ---------------------------------------------------------------

@pytest.fixture
def sample() -> Path:
    if not SAMPLE.is_dir():
        pytest.skip(f"real sample not present at {SAMPLE}")
    return SAMPLE


def test_sample_counts_four_per_class_in_test(sample):
    index = build_index(sample)
    table = count_table(index)
    assert table.loc[("infection", "Test")].to_dict() == {
        "COVID-19": 4, "Non-COVID": 4, "Normal": 4, "total": 12}
    assert table["total"].sum() == 12  # every other part and split is shown as zero
    assert len(table) == len(layout.PARTS) * len(layout.SPLITS)


def test_sample_validates(sample):
    validate(build_index(sample))


def test_sample_is_real(sample):
    assert sources.describe(sample).kind == "real"


# --- root finding ---------------------------------------------------------------------------

def test_finds_archive_double_nesting(tmp_path):
    part_dir = archive(tmp_path)
    assert find_part_dir(tmp_path, "infection") == part_dir
    assert len(build_index(tmp_path)) == 3


def test_finds_part_moved_up_one_level(tmp_path):
    part_dir = write_tree(tmp_path / INFECTION)
    assert find_part_dir(tmp_path, "infection") == part_dir


def test_finds_part_one_level_deeper(tmp_path):
    # /kaggle/input/covidqu/<Part>/<Part>/...: pointing at /kaggle/input still works.
    part_dir = archive(tmp_path / "covidqu")
    assert find_part_dir(tmp_path, "infection") == part_dir
    assert len(build_index(tmp_path)) == 3


def test_finds_part_when_pointed_at_it(tmp_path):
    part_dir = archive(tmp_path)
    assert find_part_dir(part_dir, "infection") == part_dir
    assert find_part_dir(part_dir.parent, "infection") == part_dir


def test_absent_part_is_none(tmp_path):
    archive(tmp_path)
    assert find_part_dir(tmp_path, "lung") is None


def test_index_pairs_image_with_its_masks(tmp_path):
    part_dir = archive(tmp_path)
    row = build_index(tmp_path).set_index("cls").loc["COVID-19"]
    assert row["image"] == str(covid_file(part_dir, layout.IMAGES_DIR))
    assert row["lung"] == str(covid_file(part_dir, layout.LUNG_MASKS_DIR))
    assert row["infection"] == str(covid_file(part_dir, layout.INFECTION_MASKS_DIR))


# --- each kind of bad input is a DataError that names the file ------------------------------

def test_corrupt_png(tmp_path):
    bad = covid_file(archive(tmp_path), layout.IMAGES_DIR)
    bad.write_bytes(b"not a png at all")
    with pytest.raises(DataError) as err:
        validate(build_index(tmp_path))
    assert_names(err, bad)


def test_mask_of_another_size(tmp_path):
    bad = covid_file(archive(tmp_path), layout.LUNG_MASKS_DIR)
    write_png(bad, np.zeros((SIDE, SIDE + 1)))
    with pytest.raises(DataError) as err:
        validate(build_index(tmp_path))
    assert_names(err, bad)


def test_mask_with_values_other_than_0_and_255(tmp_path):
    bad = covid_file(archive(tmp_path), layout.INFECTION_MASKS_DIR)
    write_png(bad, np.full((SIDE, SIDE), 1))
    with pytest.raises(DataError) as err:
        validate(build_index(tmp_path))
    assert_names(err, bad)


@pytest.mark.parametrize(("removed", "named"), [
    (layout.INFECTION_MASKS_DIR, layout.IMAGES_DIR),  # an image without its mask
    (layout.IMAGES_DIR, layout.LUNG_MASKS_DIR),  # a mask without its image
], ids=["image-without-mask", "mask-without-image"])
def test_an_unpaired_file_is_named(tmp_path, removed, named):
    part_dir = archive(tmp_path)
    covid_file(part_dir, removed).unlink()
    with pytest.raises(DataError) as err:
        build_index(tmp_path)
    assert_names(err, covid_file(part_dir, named))


def test_folder_without_split_folders(tmp_path):
    write_png(tmp_path / "holiday.png", np.zeros((SIDE, SIDE)))
    with pytest.raises(DataError) as err:
        build_index(tmp_path)
    assert_names(err, tmp_path)


def test_missing_folder(tmp_path):
    with pytest.raises(DataError) as err:
        build_index(tmp_path / "nowhere")
    assert_names(err, tmp_path / "nowhere")


# --- copies as they really are: subsets and clutter ------------------------------------------

def remove(folder: Path) -> None:
    for path in sorted(folder.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    folder.rmdir()


@pytest.mark.parametrize("emptied", ["absent", "empty"])
def test_an_absent_or_empty_class_folder_counts_zero(tmp_path, emptied):
    part_dir = archive(tmp_path)
    normal = part_dir / "Test" / "Normal"
    if emptied == "absent":
        remove(normal)
    else:
        for file in normal.rglob("*.png"):
            file.unlink()
    table = count_table(build_index(tmp_path))
    assert table.loc[("infection", "Test")].to_dict() == {
        "COVID-19": 1, "Non-COVID": 1, "Normal": 0, "total": 2}


def test_a_copy_of_one_split_and_one_class_indexes(tmp_path):
    part_dir = archive(tmp_path)
    for cls in ("Non-COVID", "Normal"):
        remove(part_dir / "Test" / cls)
    index = build_index(tmp_path)
    assert list(index["cls"]) == ["COVID-19"]
    assert contents(index) == ("Infection Segmentation Data: Train 0, Val 0, Test 1 "
                               "(classes: COVID-19)")


def test_a_part_the_copy_lacks_is_refused_saying_what_it_holds(tmp_path):
    archive(tmp_path)
    with pytest.raises(DataError, match="no images of 'Lung Segmentation Data'; this copy "
                                        "holds Infection Segmentation Data"):
        build_index(tmp_path, parts=["lung"])


def test_a_class_folder_with_images_but_no_mask_folder_is_named(tmp_path):
    part_dir = archive(tmp_path)
    remove(part_dir / "Test" / "Normal" / layout.LUNG_MASKS_DIR)
    with pytest.raises(DataError, match="missing folder.*'lung masks'") as err:
        build_index(tmp_path)
    assert_names(err, part_dir / "Test" / "Normal")


CLUTTER = {
    ".DS_Store": "hidden files (.DS_Store, ._ resource forks)",
    "._covid_1.png": "hidden files (.DS_Store, ._ resource forks)",
    "Thumbs.db": "system files (Thumbs.db, desktop.ini)",
    "desktop.ini": "system files (Thumbs.db, desktop.ini)",
    "covid_1.png.xmp": "other files (sidecars such as .xmp or .json, notes)",
    "covid_1.json": "other files (sidecars such as .xmp or .json, notes)",
}


def test_clutter_is_skipped_and_counted(tmp_path):
    part_dir = archive(tmp_path)
    images = part_dir / "Test" / "COVID-19" / layout.IMAGES_DIR
    for name in CLUTTER:
        (images / name).write_bytes(b"\x00\x05\x16\x07 not data")
    checkpoint = images / ".ipynb_checkpoints" / "covid_1-checkpoint.png"
    write_png(checkpoint, np.zeros((SIDE, SIDE)))
    macosx = tmp_path / "__MACOSX" / INFECTION / INFECTION / "Test" / "COVID-19"
    write_png(macosx / layout.IMAGES_DIR / "._covid_1.png", np.zeros((SIDE, SIDE)))
    index = build_index(tmp_path)
    validate(index)
    assert len(index) == 3
    counts = {kind: list(CLUTTER.values()).count(kind) for kind in set(CLUTTER.values())}
    counts["folders (notebook checkpoints and the like)"] = 1
    assert index.attrs["skipped"] == dict(sorted(counts.items()))


def test_a_copy_under_macosx_clutter_is_still_found_one_level_deeper(tmp_path):
    part_dir = archive(tmp_path / "covidqu")
    (tmp_path / "__MACOSX" / INFECTION / INFECTION / "Test").mkdir(parents=True)
    assert find_part_dir(tmp_path, "infection") == part_dir


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "LA", "P", "I;16"])
def test_images_and_masks_resaved_in_another_colour_mode_read_the_same(tmp_path, mode):
    part_dir = archive(tmp_path)
    files = [covid_file(part_dir, f) for f in (layout.IMAGES_DIR, *layout.mask_dirs("infection"))]
    before = [read_png(f, mask=i > 0) for i, f in enumerate(files)]
    for file in files:
        gray = Image.open(file)
        resaved = (Image.fromarray(np.asarray(gray).astype(np.uint16) * 257) if mode == "I;16"
                   else gray.convert(mode))
        resaved.save(file)
        assert Image.open(file).mode == mode
    validate(build_index(tmp_path))
    for i, (file, expected) in enumerate(zip(files, before, strict=True)):
        np.testing.assert_array_equal(read_png(file, mask=i > 0), expected)


def test_a_bilevel_mask_reads_as_0_and_1(tmp_path):
    mask = covid_file(archive(tmp_path), layout.LUNG_MASKS_DIR)
    before = read_png(mask, mask=True)
    Image.open(mask).convert("1").save(mask)
    np.testing.assert_array_equal(read_png(mask, mask=True), before)


def test_validate_lists_every_bad_file(tmp_path):
    part_dir = archive(tmp_path)
    bad = [covid_file(part_dir, layout.IMAGES_DIR),
           part_dir / "Test" / "Normal" / layout.LUNG_MASKS_DIR / layout.file_name("Normal", 1)]
    for file in bad:
        file.write_bytes(b"garbage")
    with pytest.raises(DataError) as err:
        validate(build_index(tmp_path))
    assert len(err.value.problems) == 2
    for file in bad:
        assert_names(err, file)


# --- command line ---------------------------------------------------------------------------

def test_cli_index_names_the_bad_file(tmp_path, capsys):
    bad = covid_file(archive(tmp_path), layout.IMAGES_DIR)
    bad.write_bytes(b"garbage")
    assert main(["index", "--data", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert str(bad) in captured.err
    assert "Traceback" not in captured.err


def test_cli_index_prints_the_table(sample, capsys):
    assert main(["index", "--data", str(sample)]) == 0
    out = capsys.readouterr().out
    assert "COVID-19" in out and "Non-COVID" in out
    assert "12 images" in out


# --- the synthetic twin goes through the same code ------------------------------------------

def test_synthetic_twin_indexes_and_validates(tmp_path):
    root = synthesize(tmp_path / "synthetic", per_class=2, size=64)
    index = build_index(root)
    validate(index)
    table = count_table(index)
    assert table.loc[("infection", "Train")].to_dict() == {
        "COVID-19": 2, "Non-COVID": 2, "Normal": 2, "total": 6}
    assert set(index["part"]) == {"infection", "lung"}
    assert sources.describe(root).kind == "synthetic"


# --- nothing is half-written ----------------------------------------------------------------

def test_failed_decode_leaves_no_cache(tmp_path):
    bad = covid_file(archive(tmp_path / "data"), layout.LUNG_MASKS_DIR)
    bad.write_bytes(b"garbage")
    index = build_index(tmp_path / "data")
    cache_dir = tmp_path / "cache"
    with pytest.raises(DataError) as err:
        load_decoded(index, layout.TARGETS["infection"], SIDE, cache_dir=cache_dir)
    assert_names(err, bad)
    assert list(cache_dir.glob("*")) == []


# --- hostile files and folders --------------------------------------------------------------

def bomb_png(path: Path, side: int = 20000) -> Path:
    """A PNG whose header claims ``side`` x ``side`` pixels (a decompression bomb), in 70 bytes."""
    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = struct.pack(">II", side, side)  # IHDR width and height
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))  # the chunk's CRC
    path.write_bytes(bytes(data))
    return path


@pytest.fixture
def twin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PRACTICAL3_CACHE", str(tmp_path / "cache"))
    return synthesize(tmp_path / "twin", per_class=1, size=32, parts=("infection",))


def test_a_decompression_bomb_is_named_by_index(twin, capsys):
    bomb = bomb_png(next(twin.rglob("Test/Normal/images/*.png")))
    assert main(["index", "--data", str(twin)]) == 1
    err = capsys.readouterr().err
    assert f"{bomb}: refused as a decompression bomb" in err and "Traceback" not in err


def test_a_decompression_bomb_is_named_by_train(twin, tmp_path):
    from practical3.training.loop import train
    from practical3.training.profiles import profile

    bomb = bomb_png(next(twin.rglob("Train/COVID-19/images/*.png")))
    with pytest.raises(DataError, match="decompression bomb") as err:
        train(profile("smoke").replace(epochs=1), twin, tmp_path / "run", progress=False)
    assert_names(err, bomb)


def test_an_unreadable_folder_is_named(twin, monkeypatch):
    locked = next(twin.rglob("Val/Non-COVID/images"))
    listing = Path.iterdir

    def iterdir(folder: Path):
        if folder == locked:
            raise PermissionError(13, "Permission denied", str(folder))
        return listing(folder)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    with pytest.raises(DataError, match="cannot be read \\(Permission denied\\)") as err:
        build_index(twin)
    assert_names(err, locked)


def test_a_file_link_that_points_nowhere_is_named_with_the_fix(tmp_path):
    part = archive(tmp_path)
    image = covid_file(part, layout.IMAGES_DIR)
    image.unlink()
    image.symlink_to(tmp_path / "annex" / "objects" / "gone.png")
    with pytest.raises(DataError) as err:
        build_index(tmp_path)
    assert f"{image}: a link to {tmp_path / 'annex'}" in str(err.value)
    assert "ln -sfn TARGET LINK" in str(err.value)


def test_a_split_link_that_points_nowhere_is_named_not_counted_as_absent(tmp_path):
    part = archive(tmp_path)
    (part / "Val").symlink_to(tmp_path / "moved" / "Val", target_is_directory=True)
    with pytest.raises(DataError) as err:
        build_index(tmp_path)
    assert_names(err, part / "Val")
