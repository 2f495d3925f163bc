"""Decoding: one image file read and checked, an indexed image with its masks, resized; and a
user's own chest X-ray (PNG, JPEG or DICOM) read for prediction.

Whatever colour mode a file was saved in (grayscale, RGB, RGBA, palette, bilevel, 16-bit),
it comes back as 8-bit grayscale; masks must then hold only 0 and 255 and have their image's
size. A user's X-ray larger than a given pixel count is downscaled while it is read, so a
huge file never fills the memory (``XRay.native_size`` keeps the file's own size).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageOps, UnidentifiedImageError

from practical3.base.errors import DataError, UserError

DICOM_MARK_AT, DICOM_MARK = 128, b"DICM"  # every DICOM file: a 128-byte preamble, then "DICM"
DICOM_FIX = "pip install -e '.[dicom]'"


class UnreadableImage(UserError):
    """An input that is no image this command can read; the one-line message names it and why."""


@dataclass(frozen=True)
class XRay:
    """A chest X-ray read for prediction: its uint8 gray ``pixels`` (H, W) and the file's own
    (height, width), larger than the pixels' where reading downscaled it."""

    pixels: np.ndarray
    native_size: tuple[int, int]

    @property
    def downscaled(self) -> bool:
        return self.pixels.shape != self.native_size


def to_gray8(img: Image.Image) -> np.ndarray:
    """Any PIL image as uint8 grayscale (H, W).

    Colour and palette images go through PIL's luma conversion (a gray image stored as RGB
    keeps its values exactly); an alpha channel is dropped. 16-bit images are scaled by
    255/65535, as an 8-bit image saved at 16 bits stores v * 257; 32-bit integer and float
    images are taken as 8-bit, 16-bit or [0, 1] data by their range, else stretched.
    """
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        array = np.asarray(img, dtype=np.float64)
        top = float(array.max(initial=0.0))
        if img.mode.startswith("I;16") or 255 < top <= 65535:
            array = array / 257
        elif img.mode == "F" and top <= 1:
            array = array * 255
        elif top > 65535:
            low = float(array.min())
            array = (array - low) * (255 / (top - low))
        return np.clip(np.rint(array), 0, 255).astype(np.uint8)
    if img.mode in ("LA", "PA"):
        img = img.convert("RGBA") if img.mode == "PA" else img.getchannel("L")
    return np.asarray(img.convert("L"))


def read_png(path: str | Path, *, mask: bool, size: tuple[int, int] | None = None) -> np.ndarray:
    """Decode one image file to uint8 (H, W); masks come back as 0/1 and must hold only 0 and
    255 once in 8-bit grayscale.

    ``size`` is the (height, width) the file must have; a mismatch is a DataError.
    """
    try:
        with Image.open(path) as img:
            img.load()
            array = to_gray8(img)
    except Image.DecompressionBombError as err:  # a header claiming billions of pixels
        raise DataError([f"{path}: refused as a decompression bomb ({err})"],
                        "remove the file: no chest X-ray of COVID-QU-Ex is that large") from err
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as err:
        raise DataError([f"{path}: unreadable image ({err})"],
                        "replace the file with a good copy (download again)") from err
    if size is not None and array.shape != size:
        raise DataError([f"{path}: size {array.shape[1]}x{array.shape[0]} differs from its "
                         f"image's {size[1]}x{size[0]}"],
                        "the mask must have its image's size; replace it with a good copy")
    if mask:
        values = np.unique(array)
        if not np.isin(values, (0, 255)).all():
            bad = [int(v) for v in values if v not in (0, 255)][:5]
            raise DataError([f"{path}: mask holds values other than 0 and 255 (e.g. {bad})"],
                            "masks must be binary 0/255 PNGs; replace the file with a good copy")
        array = (array > 0).astype(np.uint8)
    return array


def read_masks(row: pd.Series | dict, targets: Sequence[str]) -> np.ndarray:
    """The ``targets`` masks of one indexed image as they are on disk: (T, H, W) 0/1."""
    first = read_png(row[targets[0]], mask=True)
    rest = [read_png(row[t], mask=True, size=first.shape) for t in targets[1:]]
    return np.stack([first, *rest])


def read_sample(row: pd.Series | dict, targets: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Decode and validate one indexed image and its ``targets`` masks: (H, W), (T, H, W)."""
    image = read_png(row["image"], mask=False)
    masks = [read_png(row[t], mask=True, size=image.shape) for t in targets]
    return image, np.stack(masks)


def resize_image(image: np.ndarray, image_size: int) -> np.ndarray:
    """A uint8 (H, W) image resized to ``image_size`` square, bilinear: the model's input."""
    if image.shape == (image_size, image_size):
        return image
    size = (image_size, image_size)
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))


def resize_mask(mask: np.ndarray, image_size: int) -> np.ndarray:
    """A 0/1 (H, W) mask resized to ``image_size`` square: a pixel is in where over half is."""
    if mask.shape == (image_size, image_size):
        return mask
    size = (image_size, image_size)
    scaled = Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.Resampling.BILINEAR)
    return (np.asarray(scaled) > 127).astype(np.uint8)


def decode_resized(row: pd.Series | dict, targets: tuple[str, ...], image_size: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Decode one row and resize it to ``image_size`` (image bilinear, masks by area > 0.5)."""
    image, masks = read_sample(row, targets)
    return (resize_image(image, image_size),
            np.stack([resize_mask(m, image_size) for m in masks]))


def bounded_size(width: int, height: int, max_pixels: int | None) -> tuple[int, int]:
    """(width, height) scaled down, aspect kept, to at most ``max_pixels`` pixels; unchanged
    when it already fits or ``max_pixels`` is None."""
    if max_pixels is None or width * height <= max_pixels:
        return width, height
    scale = math.sqrt(max_pixels / (width * height))
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


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


def read_dicom(path: Path, max_pixels: int | None = None) -> XRay:
    """A single-frame grayscale DICOM: rescale slope and intercept, then the VOI LUT or window
    when present, stretched to 0-255, inverted for MONOCHROME1, downscaled to ``max_pixels``."""
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
    gray = 255 - gray if ds.get("PhotometricInterpretation") == "MONOCHROME1" else gray
    size = bounded_size(gray.shape[1], gray.shape[0], max_pixels)
    pixels = np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BOX))
    return XRay(pixels, gray.shape)


def read_picture(path: Path, max_pixels: int | None = None) -> XRay:
    """A PNG, JPEG or other file PIL reads, whatever its mode or bit depth, downscaled to
    ``max_pixels`` as it is decoded (JPEG decodes at a reduced scale), then turned upright when
    its EXIF says the camera held it rotated (a phone photo of a film)."""
    try:
        with Image.open(path) as img:
            native = img.size
            size = bounded_size(*native, max_pixels)
            if size != native:
                img.draft(None, size)  # JPEG: decode at 1/2, 1/4 or 1/8 scale, still >= size
            img.load()
            upright = ImageOps.exif_transpose(
                img.resize(size, Image.Resampling.BOX) if img.size != size else img)
            pixels = to_gray8(upright)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise UnreadableImage(f"{path}: not a readable image ({err}); expected a PNG, JPEG or "
                              "DICOM chest X-ray") from err
    turned = pixels.shape[::-1] != size  # EXIF turned it a quarter
    return XRay(pixels, native if turned else native[::-1])


def read_xray(path: str | Path, max_pixels: int | None = None) -> XRay:
    """One chest X-ray file as uint8 grayscale, at its native size or downscaled to at most
    ``max_pixels``; DICOM is told apart from pictures by its name or its mark, not by trial."""
    path = Path(path)
    try:
        dicom = is_dicom(path)
    except OSError as err:
        raise UnreadableImage(f"{path}: cannot be opened ({err.strerror})") from err
    return read_dicom(path, max_pixels) if dicom else read_picture(path, max_pixels)
