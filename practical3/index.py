"""Index a COVID-QU-Ex copy: find its split folders, pair images with masks, validate them.

The same code reads the Kaggle archive (each part nested twice), a copy moved up one level,
a Kaggle notebook's ``/kaggle/input`` mount, the 12-image real sample and the synthetic twin.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from practical3 import layout

COLUMNS = ("part", "split", "cls", "name", "image", "lung", "infection")
MAX_LISTED_PROBLEMS = 20


class DataError(ValueError):
    """Bad input data; the message names each file at fault and how to fix it."""

    def __init__(self, problems: Sequence[str], fix: str):
        self.problems = list(problems)
        listed = self.problems[:MAX_LISTED_PROBLEMS]
        more = len(self.problems) - len(listed)
        lines = [*listed, f"... and {more} more problems"] if more else listed
        super().__init__("\n".join([*lines, f"Fix: {fix}"]))


def find_part_dir(root: str | Path, part: str) -> Path | None:
    """The folder of ``part`` that holds split folders, under any of the known roots.

    Tries ``root/<Part>/<Part>`` (the archive), ``root/<Part>`` (moved up one level),
    one level deeper (``/kaggle/input/covidqu/...``), and ``root`` itself.
    """
    root = Path(root)
    name = layout.PARTS[part]
    candidates = [root / name / name, root / name]
    candidates += [child / name / name for child in sorted(root.glob("*")) if child.is_dir()]
    candidates += [child / name for child in sorted(root.glob("*")) if child.is_dir()]
    if root.name == name:
        candidates.append(root)
    return next((c for c in candidates if _has_splits(c)), None)


def _has_splits(folder: Path) -> bool:
    return folder.is_dir() and any((folder / split).is_dir() for split in layout.SPLITS)


def build_index(root: str | Path, parts: Iterable[str] = tuple(layout.PARTS)) -> pd.DataFrame:
    """One row per image with the paths of its masks; raises DataError on structural problems.

    Checks the folders and that every image has each of its masks (and no mask is orphaned);
    pixel checks happen in ``read_sample`` when files are decoded (see ``validate``).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(
            [f"{root}: no such folder"],
            "run `practical3 download --dest data/raw` or `practical3 synth --dest DIR`, "
            "or pass --data pointing at a COVID-QU-Ex copy",
        )
    rows: list[dict] = []
    problems: list[str] = []
    found_any = False
    for part in parts:
        part_dir = find_part_dir(root, part)
        if part_dir is None:
            continue
        found_any = True
        for split in layout.SPLITS:
            if (part_dir / split).is_dir():
                rows += _index_split(part_dir / split, part, split, problems)
    if not found_any:
        raise DataError(
            [f"{root}: no COVID-QU-Ex split folders (Train/Val/Test) found for parts "
             f"{', '.join(layout.PARTS[p] for p in parts)}"],
            "point --data at the folder that holds 'Infection Segmentation Data' and/or "
            "'Lung Segmentation Data' (as unzipped from Kaggle), "
            "or make one with `practical3 synth`",
        )
    if problems:
        raise DataError(problems, "repair or remove the files named above, or download again")
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _index_split(split_dir: Path, part: str, split: str, problems: list[str]) -> list[dict]:
    rows = []
    for cls in layout.CLASSES:
        cls_dir = split_dir / cls
        folders = (layout.IMAGES_DIR, *layout.mask_dirs(part))
        missing = [f for f in folders if not (cls_dir / f).is_dir()]
        if missing:
            problems.append(f"{cls_dir}: missing folder(s) {', '.join(repr(m) for m in missing)}")
            continue
        names = {f: _png_names(cls_dir / f) for f in folders}
        images = names[layout.IMAGES_DIR]
        if not images:
            problems.append(f"{cls_dir / layout.IMAGES_DIR}: no PNG images")
        for mask_dir in layout.mask_dirs(part):
            for name in sorted(images - names[mask_dir]):
                problems.append(f"{cls_dir / layout.IMAGES_DIR / name}: no matching mask in "
                                f"'{mask_dir}'")
            for name in sorted(names[mask_dir] - images):
                problems.append(f"{cls_dir / mask_dir / name}: mask without an image")
        for name in sorted(images):
            row = {"part": part, "split": split, "cls": cls, "name": name,
                   "image": str(cls_dir / layout.IMAGES_DIR / name), "infection": None}
            for target, mask_dir in layout.MASK_DIRS.items():
                if mask_dir in names:
                    row[target] = str(cls_dir / mask_dir / name)
            rows.append(row)
    return rows


def _png_names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.suffix.lower() == ".png" and p.is_file()}


def read_png(path: str | Path, *, mask: bool, size: tuple[int, int] | None = None) -> np.ndarray:
    """Decode one PNG to uint8 (H, W); masks come back as 0/1 and must hold only 0 and 255.

    ``size`` is the (height, width) the file must have; a mismatch is a DataError.
    """
    try:
        with Image.open(path) as img:
            img.load()
            array = np.asarray(img.convert("L"))
    except (OSError, UnidentifiedImageError, SyntaxError) as err:
        raise DataError([f"{path}: unreadable PNG ({err})"],
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


def read_sample(row: pd.Series | dict, targets: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Decode and validate one indexed image and its ``targets`` masks: (H, W), (T, H, W)."""
    image = read_png(row["image"], mask=False)
    masks = [read_png(row[t], mask=True, size=image.shape) for t in targets]
    return image, np.stack(masks)


def validate(index: pd.DataFrame, progress: bool = False) -> None:
    """Decode every file of ``index`` (in threads: PNG decoding releases the GIL) and raise one
    DataError listing every bad file."""
    from tqdm import tqdm

    def problems_of(row: pd.Series) -> list[str]:
        try:
            read_sample(row, layout.TARGETS[row["part"]])
        except DataError as err:
            return err.problems
        return []

    rows = [row for _, row in index.iterrows()]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        found = tqdm(pool.map(problems_of, rows), total=len(rows), disable=not progress,
                     desc="validating", unit="img")
        problems = [problem for row_problems in found for problem in row_problems]
    if problems:
        raise DataError(problems, "repair or remove the files named above, or download again")


def count_table(index: pd.DataFrame) -> pd.DataFrame:
    """Images per part, split and class, with totals: the table `practical3 index` prints."""
    counts = index.groupby(["part", "split", "cls"]).size().unstack("cls", fill_value=0)
    counts = counts.reindex(columns=list(layout.CLASSES), fill_value=0)
    order = [(p, s) for p in layout.PARTS for s in layout.SPLITS if (p, s) in counts.index]
    counts = counts.loc[order]
    counts["total"] = counts.sum(axis=1)
    return counts
