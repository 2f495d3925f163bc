"""A trained model run on a user's own chest X-rays: masks, an overlay and the severity of each.

Reads PNG and JPEG files of any size, bit depth or colour mode, and DICOM files when pydicom is
installed (the ``dicom`` extra); ``data.decode.read_xray`` reads them. An X-ray of more than
``MAX_PIXELS`` pixels is downscaled (aspect kept) while it is read, and said so: the model sees
every image at its training size anyway, and this bounds the memory a huge file takes. Masks
are the model's thresholded output at each image's native (or so downscaled) size,
post-processed as ``practical3 evaluate`` chose on Val when the run folder holds that choice
(``RUN_DIR/postprocessing.json``); it says which steps, or that none was chosen. It also says
what the model learnt from (a column of ``predictions.csv``), and warns when that was synthetic
phantoms.
"""

from __future__ import annotations

import errno
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from practical3.base.atomic import NAME_MAX, fit_name, staged, write_with
from practical3.base.paths import writable_folder
from practical3.data import layout
from practical3.data.decode import UnreadableImage, XRay, read_xray
from practical3.evaluation import postprocess, provenance
from practical3.evaluation.inference import load_model, predict_images
from practical3.plots.overlay import overlay
from practical3.scoring.severity import infected_percent

CSV_FILE = "predictions.csv"
CSV_COLUMNS = ("file", "width", "height", "lung_area_px", "infection_area_px",
               "severity_percent", "model_trained_on")
MAX_PIXELS = 4096 * 4096  # larger inputs are downscaled to this many pixels, aspect kept
OUTPUT_SUFFIXES = (*(f"_{t}.png" for t in layout.ALL_TARGETS), "_overlay.png")
# Room for an output name's stem: a file name is at most NAME_MAX bytes with its suffix.
STEM_ROOM = NAME_MAX - max(len(s.encode()) for s in OUTPUT_SUFFIXES)
NAME_REFUSED = {errno.ENAMETOOLONG, errno.EINVAL, errno.EILSEQ}  # a name the disk will not take


@dataclass(frozen=True)
class Predictions:
    """What ``predict`` did: one ``CSV_COLUMNS`` row per image written, one line per skipped
    file (its path and why)."""

    table: pd.DataFrame
    skipped: list[str]


def output_names(paths: Sequence[str | Path]) -> list[str]:
    """A distinct output name per input, fixed by the inputs alone: the file's stem; where
    stems collide, stem and suffix (a.png, a.jpg -> a_png, a_jpg); then -2, -3 in input order.
    A stem too long for its outputs' names is cut and marked with a hash of the whole."""
    stems = Counter(Path(p).stem.casefold() for p in paths)
    names: list[str] = []
    taken: set[str] = set()
    for path in map(Path, paths):
        base = path.stem if stems[path.stem.casefold()] == 1 else (
            f"{path.stem}_{path.suffix.lstrip('.')}")
        name, n = fit_name(base, STEM_ROOM), 1
        while name.casefold() in taken:  # casefold: one file on case-insensitive disks
            n += 1
            name = fit_name(base, STEM_ROOM - len(f"-{n}")) + f"-{n}"
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
    ``predictions.csv`` into ``out_dir``; a file that cannot be read, or whose outputs' names
    the disk refuses, is skipped with its first error, not fatal. ``out_dir`` is checked before
    the model runs, and the files appear only once all are written, ``predictions.csv`` last
    (a full disk leaves none of them)."""
    out_dir = writable_folder(out_dir, "--out")
    model = load_model(checkpoint, device)
    provenance.announce(provenance.record(model.state))
    chosen, said = postprocess.load_choice(Path(checkpoint).parent, model.state)
    print(said)
    rows, skipped = [], []
    with staged(out_dir, last=CSV_FILE) as stage:
        for path, name in zip(paths, output_names(paths), strict=True):
            try:
                xray = read_xray(path, MAX_PIXELS)
            except UnreadableImage as err:
                skipped.append(str(err))
                continue
            if xray.downscaled:
                print(downscaled_note(path, xray))
            masks = postprocess.apply_one(predict_images(model, [xray.pixels])[0],
                                          model.cfg.targets, chosen)
            try:
                write_outputs(stage, name, xray.pixels, masks, model.cfg.targets)
            except OSError as err:
                if err.errno not in NAME_REFUSED:
                    raise
                skipped.append(f"{path}: its outputs cannot be named {name}_*.png here "
                               f"({err.strerror}); rename the file")
                continue
            rows.append(table_row(path, masks, model.cfg.targets, provenance.label(model.state)))
        table = pd.DataFrame(rows, columns=list(CSV_COLUMNS))
        write_with(stage / CSV_FILE, lambda tmp: table.to_csv(tmp, index=False,
                                                               float_format="%.3f"))
    return Predictions(table, skipped)


def downscaled_note(path: str | Path, xray: XRay) -> str:
    """The line that says an input was predicted smaller than its file, and why."""
    (height, width), (rows, cols) = xray.native_size, xray.pixels.shape
    return (f"{path}: {width} x {height} pixels, predicted at {cols} x {rows} (inputs over "
            f"{MAX_PIXELS / 1e6:.1f} megapixels are downscaled to bound memory; its masks, "
            "overlay and areas are at that size)")


def write_outputs(stage: Path, name: str, image: np.ndarray, masks: np.ndarray,
                  targets: Sequence[str]) -> None:
    """One image's masks and overlay into ``stage``; none of them is left when one fails."""
    written: list[Path] = []
    try:
        for target, mask in zip(targets, masks, strict=True):
            written.append(write_png(stage / f"{name}_{target}.png",
                                     mask.astype(np.uint8) * 255))
        written.append(write_png(stage / f"{name}_overlay.png", overlay(image, masks, targets)))
    except OSError:
        for path in written:
            path.unlink(missing_ok=True)
        raise
