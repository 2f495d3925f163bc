"""`practical3 predict` on your own X-rays: any file read, masks and overlays at native size,
predictions.csv, the severity score. An untrained tiny U-Net stands in for a trained one."""

from __future__ import annotations

import contextlib
import io
import math
import shutil
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from practical3 import predict as predict_module
from practical3.cli import main
from practical3.data.decode import UnreadableImage, read_xray
from practical3.evaluation.postprocess import PostProcess, save_choice
from practical3.models import build_model
from practical3.plots.overlay import overlay
from practical3.predict import CSV_FILE, STEM_ROOM, output_names, predict
from practical3.scoring.severity import infected_percent
from practical3.training import checkpoint
from practical3.training.profiles import profile

CFG = profile("smoke").replace(base_channels=4, depth=2)
# (width, height) of each good input written by `write_inputs`
SIZES = {"rgb.jpg": (512, 400), "deep.png": (300, 300), "rgba.png": (120, 90),
         "palette.png": (70, 50), "gray.png": (64, 80)}


def save_checkpoint(path: Path, part: str, shift: tuple[float, ...] = (1, 0),
                    **extra: object) -> Path:
    """A checkpoint as training writes it, of an untrained U-Net (base 4, depth 2) whose logits
    are nearly constant (about -0.3 lung, -0.4 infection): its head's biases are raised by
    ``shift`` (by default the lung is everywhere and the infection nowhere, known in advance);
    ``extra`` adds keys (``training_data``)."""
    cfg = CFG.replace(part=part)
    torch.manual_seed(0)
    model = build_model("unet", 1, len(cfg.targets), base_channels=4, depth=2)
    with torch.no_grad():
        model.head.bias += torch.tensor(shift[:len(cfg.targets)], dtype=torch.float32)
    return checkpoint.save({"model": model.state_dict(), "epoch": 1, "config": cfg.to_dict(),
                            "run_id": "handmade", **extra}, path)


def ramp(width: int, height: int, top: int = 255) -> np.ndarray:
    """A diagonal ramp from 0 to ``top``, (height, width): every input has some structure."""
    steps = np.add.outer(np.arange(height), np.arange(width)) / (height + width - 2)
    return np.rint(steps * top)


def write_inputs(folder: Path) -> list[Path]:
    """The good inputs of ``SIZES``, one per mode (RGB JPEG, 16-bit, RGBA, palette, 8-bit gray),
    then one broken file."""
    folder.mkdir()
    rgb = np.stack([ramp(512, 400)] * 3, axis=-1).astype(np.uint8)
    Image.fromarray(rgb).save(folder / "rgb.jpg")
    Image.fromarray(ramp(300, 300, 65535).astype(np.uint16)).save(folder / "deep.png")
    Image.fromarray(ramp(120, 90).astype(np.uint8)).convert("RGBA").save(folder / "rgba.png")
    Image.fromarray(rgb).convert("P").resize((70, 50)).save(folder / "palette.png")
    Image.fromarray(ramp(64, 80).astype(np.uint8)).save(folder / "gray.png")
    (folder / "broken.png").write_bytes(b"not an image")
    return [folder / name for name in (*SIZES, "broken.png")]


def run_cli(*args: str | Path) -> tuple[int, str, str]:
    """``practical3 ARGS``: exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in args])
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def two_targets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_checkpoint(tmp_path_factory.mktemp("run") / "best.pt", "infection")


@pytest.fixture(scope="module")
def cli_run(two_targets: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[Path, int, str, str]:
    """`practical3 predict` on the five good inputs and the broken one: out folder, status,
    stdout, stderr."""
    root = tmp_path_factory.mktemp("predict")
    inputs = write_inputs(root / "in")
    status, out, err = run_cli("predict", *inputs, "--checkpoint", two_targets,
                               "--out", root / "out", "--device", "cpu")
    return root / "out", status, out, err


def read_mask(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        assert img.mode == "L"
        return np.asarray(img)


# --- the command on files of every kind -------------------------------------------------------

def test_every_mask_has_its_inputs_native_size_and_only_0_and_255(cli_run):
    out, *_ = cli_run
    for name, (width, height) in SIZES.items():
        lung, infection = (read_mask(out / f"{Path(name).stem}_{t}.png")
                           for t in ("lung", "infection"))
        assert lung.shape == infection.shape == (height, width)
        assert (lung == 255).all() and (infection == 0).all()


def test_every_overlay_is_rgb_at_its_inputs_native_size(cli_run):
    out, *_ = cli_run
    for name, size in SIZES.items():
        with Image.open(out / f"{Path(name).stem}_overlay.png") as img:
            assert (img.mode, img.size) == ("RGB", size)


def test_a_broken_file_is_named_on_stderr_and_the_status_is_1(cli_run):
    out, status, _, err = cli_run
    assert status == 1
    assert err.count("\n") == 1
    assert err.startswith("skipped ") and "broken.png: not a readable image (" in err
    assert not list(out.glob("broken*"))


def test_the_csv_has_one_row_per_good_image(cli_run):
    out, *_ = cli_run
    table = pd.read_csv(out / CSV_FILE)
    assert list(table.columns) == ["file", "width", "height", "lung_area_px",
                                   "infection_area_px", "severity_percent", "model_trained_on"]
    assert set(table["model_trained_on"]) == {"training data unknown"}  # an older checkpoint
    assert [Path(f).name for f in table["file"]] == list(SIZES)
    assert list(zip(table["width"], table["height"], strict=True)) == list(SIZES.values())


def test_the_csv_has_the_areas_and_severity_of_the_masks(cli_run):
    out, *_ = cli_run
    table = pd.read_csv(out / CSV_FILE)
    assert list(table["lung_area_px"]) == [w * h for w, h in SIZES.values()]
    assert list(table["infection_area_px"]) == [0] * len(SIZES)
    assert list(table["severity_percent"]) == [0.0] * len(SIZES)


def test_the_cli_prints_one_line_per_image_and_the_folder(cli_run):
    out, _, stdout, _ = cli_run
    lines = stdout.splitlines()
    assert len(lines) == len(SIZES) + 3
    assert lines[0].startswith("model: training data unknown")
    assert lines[1].startswith("post-processing: none (no postprocessing.json")
    rgb = out.parent / "in" / "rgb.jpg"
    assert lines[2] == f"{rgb}: 512x400, severity 0.00 % of the lung infected"
    assert lines[-1].endswith(str(out))


def test_inputs_sharing_a_stem_do_not_overwrite_each_other(two_targets, tmp_path):
    image = Image.fromarray(ramp(40, 30).astype(np.uint8))
    image.save(tmp_path / "a.png")
    image.save(tmp_path / "a.jpg")
    predict([tmp_path / "a.png", tmp_path / "a.jpg"], two_targets, tmp_path / "out", "cpu")
    written = sorted(p.name for p in (tmp_path / "out").glob("a_*"))
    assert written == ["a_jpg_infection.png", "a_jpg_lung.png", "a_jpg_overlay.png",
                       "a_png_infection.png", "a_png_lung.png", "a_png_overlay.png"]


def test_output_names_are_the_stem_unless_it_collides():
    assert output_names(["x/a.png", "x/a.jpg", "x/b.png"]) == ["a_png", "a_jpg", "b"]
    assert output_names(["x/a.png", "y/a.png", "y/A.png"]) == ["a_png", "a_png-2", "A_png-3"]


# --- long names and huge files ------------------------------------------------------------------

def test_a_name_of_243_bytes_is_predicted_and_so_is_the_image_beside_it(two_targets, tmp_path):
    image = Image.fromarray(ramp(40, 30).astype(np.uint8))
    long = tmp_path / ("x" * 239 + ".png")  # its masks' names fit 255 bytes; their scratch did not
    image.save(long)
    image.save(tmp_path / "short.png")
    predictions = predict([long, tmp_path / "short.png"], two_targets, tmp_path / "out", "cpu")
    assert predictions.skipped == [] and len(predictions.table) == 2
    assert (tmp_path / "out" / f"{'x' * 239}_infection.png").is_file()
    assert (tmp_path / "out" / "short_overlay.png").is_file()


def test_a_name_of_255_bytes_gets_outputs_cut_to_fit(two_targets, tmp_path):
    long = tmp_path / ("é" * 125 + "y.png")  # 255 bytes: "<stem>_infection.png" would not fit
    Image.fromarray(ramp(40, 30).astype(np.uint8)).save(long)
    predictions = predict([long], two_targets, tmp_path / "out", "cpu")
    assert predictions.skipped == [] and len(predictions.table) == 1
    [mask] = (tmp_path / "out").glob("*_infection.png")
    assert len(mask.name.encode()) <= 255 and mask.name.startswith("é" * 100)


def test_output_names_cut_long_stems_and_keep_them_apart():
    names = output_names(["é" * 200 + "a.png", "é" * 200 + "b.png", "é" * 200 + "a.jpg"])
    assert all(len(name.encode()) <= STEM_ROOM for name in names)
    assert len(set(names)) == 3 and all(name.startswith("é" * 100) for name in names)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_huge_input_is_downscaled_on_reading_and_its_memory_bounded(two_targets, tmp_path,
                                                                      monkeypatch, capsys):
    pixels = np.zeros((10_000, 10_000), np.uint8)
    pixels[2500:7500, 1250:5000] = 200
    Image.fromarray(pixels).save(tmp_path / "huge.png", compress_level=1)
    del pixels
    monkeypatch.setattr(predict_module, "MAX_PIXELS", 1000 * 800)  # the rule at a test's size
    tracemalloc.start()
    try:
        predictions = predict([tmp_path / "huge.png"], two_targets, tmp_path / "out", "cpu")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 * 2**20  # at native size, the overlay alone takes 2.4 GB
    row = predictions.table.iloc[0]
    assert (row["width"], row["height"]) == (894, 894)  # 800,000 pixels at most, aspect kept
    assert ("huge.png: 10000 x 10000 pixels, predicted at 894 x 894 (inputs over 0.8 megapixels "
            "are downscaled") in capsys.readouterr().out


def test_a_lung_only_checkpoint_writes_no_infection_mask_and_no_severity(tmp_path):
    lung_only = save_checkpoint(tmp_path / "lung.pt", "lung")
    Image.fromarray(ramp(40, 30).astype(np.uint8)).save(tmp_path / "x.png")
    predict([tmp_path / "x.png"], lung_only, tmp_path / "out", "cpu")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        CSV_FILE, "x_lung.png", "x_overlay.png"]
    row = (tmp_path / "out" / CSV_FILE).read_text().splitlines()[1]
    assert row == f"{tmp_path / 'x.png'},40,30,1200,,,training data unknown"


SYNTHETIC = {"kind": "synthetic", "dataset": "synthetic twin of COVID-QU-Ex",
             "label": "Data: SYNTHETIC phantoms (practical3 synth), not real X-rays",
             "credit": None, "root": "data/twin", "fingerprint": "ab" * 32,
             "n_train_images": 24, "n_val_images": 6}


def test_a_model_trained_on_phantoms_says_so_in_its_output_and_csv(tmp_path):
    model = save_checkpoint(tmp_path / "run" / "best.pt", "infection", training_data=SYNTHETIC)
    Image.fromarray(ramp(40, 30).astype(np.uint8)).save(tmp_path / "x.png")
    status, out, err = run_cli("predict", tmp_path / "x.png", "--checkpoint", model,
                               "--out", tmp_path / "out", "--device", "cpu")
    assert status == 0
    assert out.splitlines()[0].startswith(f"model trained on: {SYNTHETIC['label']} (24 Train")
    assert err.splitlines() == ["WARNING: this model was trained on SYNTHETIC phantoms and never "
                                "saw a real chest X-ray: its masks and severities on real X-rays "
                                "mean nothing"]
    table = pd.read_csv(tmp_path / "out" / CSV_FILE)
    assert list(table["model_trained_on"]) == [f"synthetic: {SYNTHETIC['label']}"]


def test_the_postprocessing_chosen_on_val_is_applied_and_named(tmp_path):
    # Lung nowhere, infection everywhere: "infection_in_lung" clears all the infection.
    model = save_checkpoint(tmp_path / "run" / "best.pt", "infection", shift=(-1, 1))
    Image.fromarray(ramp(40, 30).astype(np.uint8)).save(tmp_path / "x.png")
    args = ("predict", tmp_path / "x.png", "--checkpoint", model, "--device", "cpu", "--out")
    _, raw, _ = run_cli(*args, tmp_path / "raw")
    assert "post-processing: none (no postprocessing.json" in raw
    assert pd.read_csv(tmp_path / "raw" / CSV_FILE)["infection_area_px"][0] == 40 * 30
    save_choice(model.parent, PostProcess(infection_in_lung=True),
                {"run_id": "handmade", "epoch": 1}, {"split": "Val"})
    _, processed, _ = run_cli(*args, tmp_path / "processed")
    assert "post-processing: infection_in_lung (chosen on Val" in processed
    assert pd.read_csv(tmp_path / "processed" / CSV_FILE)["infection_area_px"][0] == 0


# --- the severity score -------------------------------------------------------------------

def test_infected_percent_is_infected_over_lung_pixels():
    lung = np.zeros((4, 4), bool)
    lung[:, :2] = True  # 8 pixels
    infection = np.zeros((4, 4), bool)
    infection[1:3, 0] = True  # 2 pixels
    assert infected_percent(lung, infection) == 25.0


def test_infected_percent_is_nan_without_lung():
    empty = np.zeros((3, 3), bool)
    assert math.isnan(infected_percent(empty, empty))


# --- the overlay --------------------------------------------------------------------------

LUNG_RGB, INFECTION_RGB = (31, 119, 180), (214, 39, 40)  # "#1f77b4", "#d62728"


def test_overlay_keeps_the_native_size():
    image = np.zeros((5, 9), np.uint8)
    assert overlay(image, np.zeros((2, 5, 9), bool), ("lung", "infection")).shape == (5, 9, 3)


def test_overlay_outlines_fills_and_leaves_the_rest_gray():
    image = np.full((7, 7), 100, np.uint8)
    lung = np.zeros((1, 7, 7), bool)
    lung[0, 1:6, 1:6] = True  # a 5x5 square: 16 outline pixels around 3x3 inside
    rgb = overlay(image, lung, ("lung",))
    assert tuple(rgb[1, 1]) == tuple(rgb[5, 3]) == LUNG_RGB  # outline: the solid colour
    assert (rgb[2:5, 2:5] == (72, 108, 132)).all()  # fill: 0.6 x 100 + 0.4 x colour
    assert (rgb[0] == 100).all() and (rgb[:, 6] == 100).all()  # outside: the plain gray


def test_overlay_draws_each_target_in_its_colour():
    image = np.full((7, 7), 100, np.uint8)
    masks = np.zeros((2, 7, 7), bool)
    masks[0, :, :4] = True  # lung: the left four columns
    masks[1, 2:5, 4:] = True  # infection: right of it
    rgb = overlay(image, masks, ("lung", "infection"))
    assert tuple(rgb[0, 3]) == LUNG_RGB and tuple(rgb[2, 6]) == INFECTION_RGB
    assert tuple(rgb[3, 5]) == (146, 76, 76)  # inside the infection: 0.6 x 100 + 0.4 x colour
    assert (rgb[0, 4:] == 100).all()


# --- reading DICOM ----------------------------------------------------------------------------

# raw pixels; x2 - 10 gives 140, 240, ... 740, which a window of 390 +- 250 (LINEAR_EXACT) maps
# onto 0, 0.2, 0.4, 0.6, 0.8, 1: 0, 51, ... 255 in 8 bits, inverted for MONOCHROME1
RAW = np.array([[75, 125, 175], [225, 275, 375]], np.uint16)
EXPECTED = np.array([[255, 204, 153], [102, 51, 0]], np.uint8)


def write_dicom(path: Path) -> Path:
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = RAW.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME1"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleSlope, ds.RescaleIntercept = 2, -10
    ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = 390, 500, "LINEAR_EXACT"
    ds.PixelData = RAW.tobytes()
    pydicom.dcmwrite(path, ds)
    return path


def test_a_dicom_is_rescaled_windowed_and_inverted(tmp_path):
    assert (read_xray(write_dicom(tmp_path / "scan.dcm")).pixels == EXPECTED).all()


def test_a_dicom_is_known_by_its_mark_whatever_its_name(tmp_path):
    path = write_dicom(tmp_path / "scan.dcm")
    shutil.copyfile(path, tmp_path / "scan.img")
    assert (read_xray(tmp_path / "scan.img").pixels == EXPECTED).all()


def test_a_dicom_without_pydicom_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pydicom", None)  # `import pydicom` raises ImportError
    (tmp_path / "scan.dcm").write_bytes(b"\0" * 128 + b"DICM")
    with pytest.raises(UnreadableImage, match=r"scan.dcm: .*pip install -e '\.\[dicom\]'"):
        read_xray(tmp_path / "scan.dcm")


def test_a_phone_photo_is_turned_upright_by_its_exif(tmp_path):
    photo = Image.fromarray(ramp(40, 30).astype(np.uint8))  # 40 wide, 30 high as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the camera was turned; show it rotated by 90 degrees
    photo.save(tmp_path / "film.jpg", exif=exif)
    xray = read_xray(tmp_path / "film.jpg")
    assert xray.pixels.shape == xray.native_size == (40, 30) and not xray.downscaled


def test_a_photo_downscaled_on_reading_is_still_turned_upright(tmp_path):
    photo = Image.fromarray(ramp(40, 30).astype(np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6
    photo.save(tmp_path / "film.jpg", exif=exif)
    xray = read_xray(tmp_path / "film.jpg", max_pixels=300)  # 1,200 pixels: half each side
    assert xray.pixels.shape == (20, 15) and xray.native_size == (40, 30) and xray.downscaled
