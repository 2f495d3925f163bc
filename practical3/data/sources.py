"""Where data comes from, and how every output says so: the synthetic twin, real COVID-QU-Ex,
or other real X-rays in COVID-QU-Ex's layout.

A synthetic root carries ``SYNTHETIC.json`` (written last by ``practical3 synth``), and a twin
that lost it is still known by its PNGs, which ``synth`` alone stores uncompressed; a real
download carries ``COMPLETE_MARKER`` (written last by ``practical3 download``). A real copy is
recognised as COVID-QU-Ex by that marker or by the archive's file names; any other copy is
labelled from the name its README gives it (its first heading) and credited with the README's
``Cite:`` paragraph. A label given by the caller (``--data-label``, passed down as ``label``)
names any real copy instead. A copy's ``metadata.csv`` may give per-image patient ids and
licences. Which committed report a copy may replace is decided by more than this (the
pipeline's ``choose_place``: the data fingerprint the report records).
"""

from __future__ import annotations

import csv
import dataclasses
import os
import re
import struct
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from practical3.base.paths import data_copy, data_dir, display_path
from practical3.data import layout

SYNTHETIC_MARKER = "SYNTHETIC.json"
COMPLETE_MARKER = ".practical3-complete"
KAGGLE_INPUT = Path("/kaggle/input/covidqu")
SYNTHETIC_LABEL = "Data: SYNTHETIC phantoms (practical3 synth), not real X-rays"
REAL_LABEL = "Data: real COVID-QU-Ex (Kaggle anasmohammedtahir/covidqu)"
COVIDQU_CREDIT = ("COVID-QU-Ex, Tahir et al., Computers in Biology and Medicine 139 (2021) "
                  "105002")
README, METADATA = "README.md", "metadata.csv"
# Licences under which a figure may show an image and be shared: attribution only, share-alike
# or none at all. Non-commercial, no-derivatives and unstated licences are not shown.
OPEN_LICENCE = re.compile(r"^(CC0|public domain|CC BY( ?-SA)?)( \d\.\d)?$", re.IGNORECASE)
# Case-insensitive: the Infection part spells Non-COVID files "Non_COVID (44).png", the Lung
# part "non_COVID (11905).png".
_ARCHIVE_NAME = re.compile("|".join(
    re.escape(fmt).replace(re.escape("{n}"), r"\d+") for fmt in layout.FILE_NAME_FORMATS.values()),
    re.IGNORECASE)
_NAMES_CHECKED = 50


@dataclass(frozen=True)
class DataSource:
    """What a copy is: ``kind`` "synthetic" or "real", the dataset's name, the one-line label
    every figure and report carries, the credit its makers ask for, and how the copy describes
    itself (its README's opening prose, which a report quotes: how it was made or split)."""

    kind: str
    dataset: str
    label: str
    credit: str | None
    note: str | None = None

    @property
    def is_covidqu(self) -> bool:
        """Real COVID-QU-Ex, the data the published reference values were measured on."""
        return self.kind == "real" and self.dataset == "COVID-QU-Ex"

    @property
    def stamp(self) -> str:
        return stamp(self.label, self.credit)


def stamp(label: str, credit: str | None) -> str:
    """The label and, on a second line, the credit: what a figure carries."""
    return label + (f"\nCredit: {credit}" if credit else "")


def is_synthetic(root: str | Path) -> bool:
    """True when ``root`` (or a folder above it) is a synthetic twin made by ``synth``: its
    marker, or (a twin that lost it) images stored the way only ``synth`` writes them."""
    root = Path(root).resolve()
    if any((folder / SYNTHETIC_MARKER).is_file() for folder in (root, *root.parents)):
        return True
    first = _first_images(copy_root(root))
    return bool(first) and _stored_uncompressed(first[0])


def describe(root: str | Path, label: str | None = None) -> DataSource:
    """The data source of the copy at ``root``; a real copy is called ``label`` when given."""
    if is_synthetic(root):
        return DataSource("synthetic", "synthetic twin of COVID-QU-Ex", SYNTHETIC_LABEL, None)
    home = copy_root(root)
    heading, credit, note = _readme(home)
    if label:
        return DataSource("real", label, f"Data: {label}", credit, note)
    if (home / COMPLETE_MARKER).is_file() or _archive_names(home):
        return DataSource("real", "COVID-QU-Ex", REAL_LABEL, COVIDQU_CREDIT, note)
    name = heading.split(":")[0].strip() if heading else home.name
    return DataSource("real", name, f"Data: real chest X-rays from {name} (not COVID-QU-Ex; "
                      f"file names differ from the archive's)", credit, note)


def record(root: str | Path, label: str | None = None) -> dict[str, Any]:
    """The copy's source and where it is, as every results file records it: the fields of
    ``DataSource`` and ``root``."""
    return {**dataclasses.asdict(describe(root, label)), "root": display_path(root)}


def copy_root(root: str | Path) -> Path:
    """The folder a copy's parts sit in (``root`` itself, or the one above a part folder that
    ``root`` points into): where its README and metadata.csv are. Links are kept, not
    resolved: a copy is the folder as the user sees it (its splits may be links)."""
    root = Path(os.path.abspath(root))
    inside = [folder for folder in (root, *root.parents) if folder.name in layout.PARTS.values()]
    return inside[-1].parent if inside else root


def _readme(home: Path) -> tuple[str | None, str | None, str | None]:
    """The README's first heading, its ``Cite:`` paragraph and its opening prose (each on one
    line), where it has them."""
    path = home / README
    if not path.is_file():
        return None, None, None
    text = path.read_text(encoding="utf-8", errors="replace")
    heading = next((line.lstrip("#").strip() for line in text.splitlines()
                    if line.startswith("# ")), None)
    blocks = re.split(r"\n\s*\n", text)
    cite = next((" ".join(b.split()) for b in blocks if b.lstrip().lower().startswith("cite:")),
                None)
    credit = cite[len("cite:"):].strip() if cite else None
    return heading, credit, _opening_prose(blocks)


def _opening_prose(blocks: list[str], most: int = 2) -> str | None:
    """Up to ``most`` paragraphs of prose after the title, before the first table, list,
    heading or ``Cite:`` (code blocks skipped); a paragraph that introduced a skipped block
    ends with a full stop."""
    prose: list[str] = []
    for raw in blocks[1:] if blocks and blocks[0].startswith("# ") else blocks:
        block = " ".join(raw.split())
        if not block or raw.startswith(("```", "    ", "\t")):
            continue
        if (block.startswith(("|", "#", "- ", "* ")) or block.lower().startswith("cite:")
                or len(prose) == most):
            break
        prose.append(block[:-1] + "." if block.endswith(":") else block)
    return " ".join(prose) or None


@cache
def _first_images(home: Path) -> tuple[Path, ...]:
    """The first image files of the copy, by folder and name (at most ``_NAMES_CHECKED``)."""
    found: list[Path] = []
    for images in sorted(home.rglob(layout.IMAGES_DIR)):
        found += sorted(p for p in images.glob("*.png") if not p.name.startswith("."))
        if len(found) >= _NAMES_CHECKED:
            break
    return tuple(found[:_NAMES_CHECKED])


def _archive_names(home: Path) -> bool:
    """True when the first image names of the copy follow the archive's naming."""
    names = [path.name for path in _first_images(home)]
    return bool(names) and all(_ARCHIVE_NAME.fullmatch(n) for n in names)


def _stored_uncompressed(png: Path) -> bool:
    """True when the PNG's pixel data start with a stored (uncompressed) deflate block: how
    ``synth.png_bytes`` writes every image so that its bytes match on every machine, and how
    no X-ray archive or image library writes them."""
    try:
        data = png.read_bytes()
    except OSError:
        return False
    at = 8  # after the PNG signature: chunks of length, type, data, CRC
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        if kind == b"IDAT":
            stream = data[at + 8:at + 8 + length]  # 2 bytes of zlib header, then deflate
            return len(stream) > 2 and (stream[2] >> 1) & 0b11 == 0
        at += 12 + length
    return False


@cache
def _metadata(home: Path) -> dict[str, dict[str, str]]:
    path = home / METADATA
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as file:
        return {row["name"]: row for row in csv.DictReader(file) if row.get("name")}


def metadata(root: str | Path) -> dict[str, dict[str, str]]:
    """The copy's ``metadata.csv`` rows by image file name (empty without one)."""
    return _metadata(copy_root(root))


def showable(root: str | Path, name: str) -> bool:
    """May a figure that is shared show image ``name``? Yes for synthetic data and copies
    without licence metadata (COVID-QU-Ex's own terms cover it); otherwise only under an open
    licence (``OPEN_LICENCE``)."""
    licence = metadata(root).get(name, {}).get("license")
    return licence is None or bool(OPEN_LICENCE.match(licence.strip()))


def real_data_root() -> Path | None:
    """A real copy already on disk: ``$PRACTICAL3_DATA``, ``data/raw`` or a Kaggle mount."""
    copy = data_copy()
    if copy is not None:
        return copy
    raw = data_dir() / "raw"
    if (raw / COMPLETE_MARKER).is_file():
        return raw
    if KAGGLE_INPUT.is_dir():
        return KAGGLE_INPUT
    return None
