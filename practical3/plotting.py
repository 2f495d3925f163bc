"""Saving figures: every figure goes to ``figures/`` at print resolution, labelled with its data."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from practical3.config import FIGURES_DIR

DPI = 200


def save_figure(fig: plt.Figure, name: str, label: str, out_dir: str | Path = FIGURES_DIR) -> Path:
    """Stamp ``label`` (the data source) on ``fig`` and write ``out_dir/name.png``.

    The PNG is written to a temporary name and renamed, so a crash never leaves a half file.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Just below the figure's bottom edge, so it never covers an axis; bbox "tight" keeps it.
    fig.text(0.995, -0.005, label, ha="right", va="top", fontsize=7, color="0.35")
    path = out_dir / f"{name}.png"
    tmp = path.with_suffix(".png.tmp")
    fig.savefig(tmp, dpi=DPI, bbox_inches="tight", format="png")
    tmp.replace(path)
    return path


@contextmanager
def fixed_jitter(seed: int = 0) -> Iterator[None]:
    """Seed numpy's global generator (seaborn draws strip-plot jitter from it) for the block,
    so the same results draw the same figure bytes; the caller's state is restored after."""
    state = np.random.get_state()  # noqa: NPY002 (seaborn uses the legacy global)
    np.random.seed(seed)  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002
