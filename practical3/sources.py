"""Where data comes from: real COVID-QU-Ex or the synthetic twin, and how outputs say so.

A synthetic root carries ``SYNTHETIC.json`` (written last by ``practical3 synth``); a real
download carries ``COMPLETE_MARKER`` (written last by ``practical3 download``). Every figure
and report takes its data-source label from ``source_label``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from practical3.config import DATA_DIR, DATA_ENV, PROJECT_ROOT, TrainConfig

SYNTHETIC_MARKER = "SYNTHETIC.json"
COMPLETE_MARKER = ".practical3-complete"
KAGGLE_INPUT = Path("/kaggle/input/covidqu")


def is_synthetic(root: str | Path) -> bool:
    """True when ``root`` (or a folder above it) is a synthetic twin made by ``synth``."""
    root = Path(root).resolve()
    return any((folder / SYNTHETIC_MARKER).is_file() for folder in (root, *root.parents))


def source_kind(root: str | Path) -> str:
    """``"synthetic"`` or ``"real"``."""
    return "synthetic" if is_synthetic(root) else "real"


SYNTHETIC_LABEL = "Data: SYNTHETIC phantoms (practical3 synth), not real X-rays"
REAL_LABEL = "Data: real COVID-QU-Ex (Kaggle anasmohammedtahir/covidqu)"


def source_label(root: str | Path) -> str:
    """A one-line label for figures and reports that says which data they came from."""
    return SYNTHETIC_LABEL if is_synthetic(root) else REAL_LABEL


def synthetic_spec(root: str | Path) -> dict | None:
    """The parameters a synthetic root was made with, or None for real data."""
    root = Path(root).resolve()
    for folder in (root, *root.parents):
        marker = folder / SYNTHETIC_MARKER
        if marker.is_file():
            return json.loads(marker.read_text())
    return None


def real_data_root() -> Path | None:
    """A real copy already on disk: ``$PRACTICAL3_DATA``, ``data/raw`` or a Kaggle mount."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV])
    raw = DATA_DIR / "raw"
    if (raw / COMPLETE_MARKER).is_file():
        return raw
    if KAGGLE_INPUT.is_dir():
        return KAGGLE_INPUT
    return None


def default_data_root(cfg: TrainConfig) -> Path:
    """The data a notebook uses: a real copy when one is present, else the profile's synthetic
    twin in ``data/synthetic-<profile>`` (written on first use, reused after)."""
    real = real_data_root()
    if real is not None:
        return real
    from practical3.synth import synthesize  # synth imports this module

    spec = cfg.synth
    return synthesize(DATA_DIR / f"synthetic-{cfg.profile}", per_class=spec.per_class,
                      size=spec.size, seed=spec.seed)


def display_path(path: str | Path) -> str:
    """``path`` relative to the project root when inside it, so results read the same anywhere."""
    path = Path(path).resolve()
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)
