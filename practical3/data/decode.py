"""Decoding: one image file read and checked, an indexed image with its masks, resized.

Whatever colour mode a file was saved in (grayscale, RGB, RGBA, palette, bilevel, 16-bit),
it comes back as 8-bit grayscale; masks must then hold only 0 and 255 and have their image's
size.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from practical3.base.errors import DataError


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
