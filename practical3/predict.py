"""A trained model run on a user's own chest X-rays: masks, an overlay and the severity of each.

Reads PNG and JPEG files of any size, bit depth or colour mode, and DICOM files when pydicom is
installed (the ``dicom`` extra). Masks are the model's thresholded output at each image's
native size, post-processed as ``practical3 evaluate`` chose on Val when the run folder holds
that choice (``RUN_DIR/postprocessing.json``); it says which steps, or that none was chosen. It
also says what the model learnt from (a column of ``predictions.csv``), and warns when that was
synthetic phantoms.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from practical3.base.atomic import staged, write_with
from practical3.base.errors import UserError
from practical3.base.paths import writable_folder
from practical3.data.decode import resize_image, to_gray8
from practical3.evaluation import postprocess, provenance
from practical3.evaluation.inference import predict_native
from practical3.plots.overlay import overlay
from practical3.scoring.severity import infected_percent
from practical3.training.checkpoint import load, model_from
from practical3.training.device import choose_precision, resolve_device

CSV_FILE = "predictions.csv"
CSV_COLUMNS = ("file", "width", "height", "lung_area_px", "infection_area_px",
               "severity_percent", "model_trained_on")
DICOM_MARK_AT, DICOM_MARK = 128, b"DICM"  # every DICOM file: a 128-byte preamble, then "DICM"
DICOM_FIX = "pip install -e '.[dicom]'"


class UnreadableImage(UserError):
    """An input that is no image this command can read; the one-line message names it and why."""


@dataclass(frozen=True)
class Predictions:
    """What ``predict`` did: one ``CSV_COLUMNS`` row per image written, one line per skipped
    file (its path and why)."""

    table: pd.DataFrame
    skipped: list[str]


def is_dicom(path: Path) -> bool:
    """A ``.dcm`` name, or the DICOM mark at byte 128 whatever the name."""
    if path.suffix.lower() == ".dcm":
        return True
    with path.open("rb") as file:
        return file.read(DICOM_MARK_AT + len(DICOM_MARK))[DICOM_MARK_AT:] == DICOM_MARK


def stretch_to_uint8(values: np.ndarray) -> np.ndarray:
    """Values of any range scaled linearly onto 0-255 (a constant image is all 0)."""
    values = values.astype(np.float64)
    low, high = values.min(), values.max()
    if high == low:
        return np.zeros(values.shape, np.uint8)
    return np.rint((values - low) * (255 / (high - low))).astype(np.uint8)


def read_dicom(path: Path) -> np.ndarray:
    """uint8 (H, W) of a single-frame grayscale DICOM: rescale slope and intercept, then the VOI
    LUT or window when present, stretched to 0-255 and inverted for MONOCHROME1."""
    try:
        import pydicom
    except ImportError as err:
        raise UnreadableImage(f"{path}: a DICOM file, and reading DICOM needs pydicom: "
                              f"{DICOM_FIX}") from err
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        ds = pydicom.dcmread(path, force=True)
        values = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds)
    except Exception as err:  # pydicom raises many types for damaged or unsupported files
        raise UnreadableImage(f"{path}: not a readable DICOM image ({err})") from err
    if values.ndim != 2:
        raise UnreadableImage(f"{path}: DICOM pixels of shape {values.shape}; only single-frame "
                              "grayscale X-rays can be read (export one frame as PNG)")
    gray = stretch_to_uint8(values)
    return 255 - gray if ds.get("PhotometricInterpretation") == "MONOCHROME1" else gray


def read_picture(path: Path) -> np.ndarray:
    """uint8 (H, W) of a PNG, JPEG or other file PIL reads, whatever its mode or bit depth,
    turned upright when its EXIF says the camera held it rotated (a phone photo of a film)."""
    try:
        with Image.open(path) as img:
            img.load()
            return to_gray8(ImageOps.exif_transpose(img))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise UnreadableImage(f"{path}: not a readable image ({err}); expected a PNG, JPEG or "
                              "DICOM chest X-ray") from err


def read_xray(path: str | Path) -> np.ndarray:
    """One chest X-ray file as uint8 grayscale (H, W) at its native size; DICOM is told apart
    from pictures by its name or its mark, not by trial."""
    path = Path(path)
    try:
        dicom = is_dicom(path)
    except OSError as err:
        raise UnreadableImage(f"{path}: cannot be opened ({err.strerror})") from err
    return read_dicom(path) if dicom else read_picture(path)


def output_names(paths: Sequence[str | Path]) -> list[str]:
    """A distinct output name per input, fixed by the inputs alone: the file's stem; where
    stems collide, stem and suffix (a.png, a.jpg -> a_png, a_jpg); then -2, -3 in input order."""
    stems = Counter(Path(p).stem.casefold() for p in paths)
    names: list[str] = []
    taken: set[str] = set()
    for path in map(Path, paths):
        base = path.stem if stems[path.stem.casefold()] == 1 else (
            f"{path.stem}_{path.suffix.lstrip('.')}")
        name, n = base, 1
        while name.casefold() in taken:  # casefold: one file on case-insensitive disks
            n += 1
            name = f"{base}-{n}"
        taken.add(name.casefold())
        names.append(name)
    return names


def write_png(path: Path, array: np.ndarray) -> Path:
    """A uint8 gray (H, W) or RGB (H, W, 3) array saved as PNG, atomically."""
    return write_with(path, lambda tmp: Image.fromarray(array).save(tmp, format="PNG"))


def table_row(path: str | Path, masks: np.ndarray, targets: Sequence[str], trained_on: str
              ) -> dict:
    """The CSV row of one image: its size, the area of each mask, the severity (NaN where
    the model has no infection target or the lung is empty) and the model's training data."""
    area = {t: int(np.count_nonzero(m)) for t, m in zip(targets, masks, strict=True)}
    severity = (infected_percent(masks[targets.index("lung")], masks[targets.index("infection")])
                if "infection" in targets else math.nan)
    return dict(zip(CSV_COLUMNS, (str(path), masks.shape[2], masks.shape[1], area["lung"],
                                  area.get("infection"), severity, trained_on), strict=True))


def predict(paths: Sequence[str | Path], checkpoint: str | Path, out_dir: str | Path,
            device: str = "auto") -> Predictions:
    """Write ``<name>_<target>.png`` masks (0/255), ``<name>_overlay.png`` and one
    ``predictions.csv`` into ``out_dir``; a file that cannot be read is skipped, not fatal.
    ``out_dir`` is checked before the model runs, and the files appear only once all are
    written, ``predictions.csv`` last (a full disk leaves none of them)."""
    out_dir = writable_folder(out_dir, "--out")
    torch_device = resolve_device(device)
    state = load(checkpoint, torch_device)
    model, cfg = model_from(state, torch_device)
    precision = choose_precision(cfg.precision, torch_device)  # as evaluation predicts
    provenance.announce(provenance.record(state))
    chosen, said = postprocess.load_choice(Path(checkpoint).parent, state)
    print(said)
    rows, skipped = [], []
    with staged(out_dir, last=CSV_FILE) as stage:
        for path, name in zip(paths, output_names(paths), strict=True):
            try:
                image = read_xray(path)
            except UnreadableImage as err:
                skipped.append(str(err))
                continue
            model_input = np.stack([resize_image(image, cfg.image_size)])  # writable (1, s, s)
            masks = postprocess.apply_one(predict_native(
                model, model_input, [image.shape], torch_device, precision)[0], cfg.targets, chosen)
            for target, mask in zip(cfg.targets, masks, strict=True):
                write_png(stage / f"{name}_{target}.png", mask.astype(np.uint8) * 255)
            write_png(stage / f"{name}_overlay.png", overlay(image, masks, cfg.targets))
            rows.append(table_row(path, masks, cfg.targets, provenance.label(state)))
        table = pd.DataFrame(rows, columns=list(CSV_COLUMNS))
        write_with(stage / CSV_FILE, lambda tmp: table.to_csv(tmp, index=False,
                                                               float_format="%.3f"))
    return Predictions(table, skipped)
