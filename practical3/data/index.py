"""Index a COVID-QU-Ex copy: find its split folders, pair images with masks, validate them.

The same code reads the Kaggle archive (each part nested twice), a copy moved up one level,
a Kaggle notebook's ``/kaggle/input`` mount, the 12-image real sample, the synthetic twin and
copies that hold only some parts, splits or classes: an absent or empty folder counts zero.
What is not data (hidden files, system files, sidecars, notebook checkpoint folders) is
skipped and counted in ``index.attrs["skipped"]``. Links are followed and kept in the paths
(a split or file may be a link into a shared folder, the Hugging Face cache or git-annex); a
link that points nowhere is named.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from practical3.base.errors import DataError
from practical3.base.parallel import thread_map
from practical3.data import layout
from practical3.data.decode import read_sample

COLUMNS = ("part", "split", "cls", "name", "image", "lung", "infection")
DATA_SUFFIX = ".png"
SYSTEM_FILES = {"thumbs.db", "desktop.ini", "icon\r"}
IGNORED_FOLDERS = {"__MACOSX", ".ipynb_checkpoints", "@eaDir"}
NOT_FOUND_FIX = ("point --data at the folder that holds 'Infection Segmentation Data' and/or "
                 "'Lung Segmentation Data' (as unzipped from Kaggle), or make one with "
                 "`practical3 synth`")
BROKEN_LINK_FIX = ("make each link point at its data (`ln -sfn TARGET LINK`; for git-annex "
                   "`git annex get`, for a Hugging Face copy download it again), or remove it")


def find_part_dir(root: str | Path, part: str) -> Path | None:
    """The folder of ``part`` that holds split folders, under any of the known roots.

    Tries ``root/<Part>/<Part>`` (the archive), ``root/<Part>`` (moved up one level),
    one level deeper (``/kaggle/input/covidqu/...``), and ``root`` itself; folders that an
    archive tool or a notebook left behind (``__MACOSX``, checkpoints, hidden) are passed over.
    """
    root = Path(root)
    name = layout.PARTS[part]
    children = [c for c in sorted(root.glob("*")) if c.is_dir() and not _ignored_folder(c)]
    candidates = [root / name / name, root / name]
    candidates += [child / name / name for child in children]
    candidates += [child / name for child in children]
    if root.name == name:
        candidates.append(root)
    return next((c for c in candidates if _has_splits(c)), None)


def _ignored_folder(folder: Path) -> bool:
    return folder.name in IGNORED_FOLDERS or folder.name.startswith(".")


def _has_splits(folder: Path) -> bool:
    return folder.is_dir() and any((folder / split).is_dir() for split in layout.SPLITS)


def build_index(root: str | Path, parts: Iterable[str] = tuple(layout.PARTS)) -> pd.DataFrame:
    """One row per image of ``parts`` with the paths of its masks.

    Raises DataError when ``root`` holds no COVID-QU-Ex part at all, when it holds none of
    ``parts`` (saying what it holds), or on structural problems: an image without one of its
    masks, a mask without its image. Pixels are checked when files are decoded (``validate``).
    """
    root = Path(root)
    _refuse_broken_links([root])
    if not root.is_dir():
        raise DataError(
            [f"{root}: no such folder"],
            "run `practical3 download --dest data/raw` or `practical3 synth --dest DIR`, "
            "or pass --data pointing at a COVID-QU-Ex copy",
        )
    found = {part: find_part_dir(root, part) for part in layout.PARTS}
    if not any(found.values()):
        _refuse_broken_links(root.iterdir())  # a part folder that is a broken link
        raise DataError([f"{root}: no COVID-QU-Ex split folders (Train/Val/Test) found"],
                        NOT_FOUND_FIX)
    rows: list[dict] = []
    problems: list[str] = []
    skipped: Counter[str] = Counter()
    for part in parts:
        if found[part] is None:
            continue
        splits = [found[part] / split for split in layout.SPLITS]
        _refuse_broken_links(splits)
        for split, split_dir in zip(layout.SPLITS, splits, strict=True):
            if split_dir.is_dir():
                rows += _index_split(split_dir, part, split, problems, skipped)
    if problems:
        raise DataError(problems, "repair or remove the files named above, or download again")
    index = pd.DataFrame(rows, columns=list(COLUMNS))
    if index.empty:
        holds = [layout.PARTS[p] for p, folder in found.items() if folder is not None]
        wanted = ", ".join(repr(layout.PARTS[p]) for p in parts)
        raise DataError([f"{root}: no images of {wanted}; this copy holds {' and '.join(holds)}"
                         " (count it with `practical3 index --data ROOT`)"],
                        "choose a part the copy holds (--part lung or --part infection), or "
                        + NOT_FOUND_FIX)
    index.attrs["skipped"] = dict(sorted(skipped.items()))
    return index


def _index_split(split_dir: Path, part: str, split: str, problems: list[str],
                 skipped: Counter[str]) -> list[dict]:
    rows = []
    folders = (layout.IMAGES_DIR, *layout.mask_dirs(part))
    for cls in layout.CLASSES:
        cls_dir = split_dir / cls
        _refuse_broken_links([cls_dir, *(cls_dir / f for f in folders)])
        names = {f: _data_names(cls_dir / f, skipped) for f in folders}
        if not any(names.values()):
            continue  # an absent or empty class folder: zero images
        missing = [f for f in folders if not (cls_dir / f).is_dir()]
        if missing:
            problems.append(f"{cls_dir}: missing folder(s) {', '.join(repr(m) for m in missing)}")
            continue
        images = names[layout.IMAGES_DIR]
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


def _data_names(folder: Path, skipped: Counter[str]) -> set[str]:
    """Names of the PNG files in ``folder`` (none if it is absent); what else it holds is
    counted in ``skipped`` by kind."""
    names = set()
    try:
        if not folder.is_dir():
            return names
        entries = list(folder.iterdir())
        _refuse_broken_links(entries)
        for entry in entries:
            kind = skip_kind(entry)
            if kind is None:
                names.add(entry.name)
            else:
                skipped[kind] += 1
    except OSError as err:
        raise DataError([f"{folder}: cannot be read ({err.strerror})"],
                        "make the copy readable (chmod -R u+rX ROOT), or remove that "
                        "folder") from err
    return names


def _refuse_broken_links(paths: Iterable[Path]) -> None:
    """Raise one DataError naming every link of ``paths`` that points nowhere: otherwise an
    unfetched git-annex file or a moved shared folder would count as absent, or fail later."""
    broken = [path for path in paths if path.is_symlink() and not path.exists()]
    if broken:
        raise DataError([f"{path}: a link to {os.readlink(path)}, which does not exist"
                         for path in broken], BROKEN_LINK_FIX)


def skip_kind(entry: Path) -> str | None:
    """Why ``entry`` of an images or masks folder is not data, or None for a data PNG."""
    if entry.is_dir():
        return "folders (notebook checkpoints and the like)"
    if entry.name.startswith("."):
        return "hidden files (.DS_Store, ._ resource forks)"
    if entry.name.lower() in SYSTEM_FILES:
        return "system files (Thumbs.db, desktop.ini)"
    if entry.suffix.lower() != DATA_SUFFIX:
        return "other files (sidecars such as .xmp or .json, notes)"
    return None


def validate(index: pd.DataFrame, progress: bool = False) -> None:
    """Decode every file of ``index`` and raise one DataError listing every bad file."""

    def problems_of(row: pd.Series) -> list[str]:
        try:
            read_sample(row, layout.TARGETS[row["part"]])
        except DataError as err:
            return err.problems
        return []

    rows = [row for _, row in index.iterrows()]
    found = thread_map(problems_of, rows, progress=progress, desc="validating")
    problems = [problem for row_problems in found for problem in row_problems]
    if problems:
        raise DataError(problems, "repair or remove the files named above, or download again")


def count_table(index: pd.DataFrame) -> pd.DataFrame:
    """Images per part, split and class, with totals: the table `practical3 index` prints.

    Every part, split and class has its row or column; what a copy lacks counts zero.
    """
    counts = index.groupby(["part", "split", "cls"]).size().unstack("cls", fill_value=0)
    rows = pd.MultiIndex.from_product([list(layout.PARTS), list(layout.SPLITS)],
                                      names=["part", "split"])
    counts = counts.reindex(index=rows, columns=list(layout.CLASSES), fill_value=0)
    counts["total"] = counts.sum(axis=1)
    return counts


def contents(index: pd.DataFrame) -> str:
    """What a copy holds, in one line: images per split of each part present, and its classes."""
    parts = []
    for part, rows in index.groupby("part", sort=False):
        splits = ", ".join(f"{split} {int((rows['split'] == split).sum()):,}"
                           for split in layout.SPLITS)
        classes = ", ".join(c for c in layout.CLASSES if (rows["cls"] == c).any())
        parts.append(f"{layout.PARTS[part]}: {splits} (classes: {classes})")
    return "; ".join(parts)


def select_split(index: pd.DataFrame, part: str, split: str, limit: int | None = None,
                 seed: int = 0) -> pd.DataFrame:
    """Rows of one part and split; ``limit`` keeps a seeded random subset in index order."""
    rows = index[(index["part"] == part) & (index["split"] == split)]
    if rows.empty:
        raise DataError([f"no images in the {split} split of {layout.PARTS[part]!r}: this copy "
                         f"holds {contents(index)}"],
                        "point --data at a copy with that split, or choose another --part")
    if limit is not None and limit < len(rows):
        rows = rows.sample(n=limit, random_state=seed).sort_index()
    return rows.reset_index(drop=True)
