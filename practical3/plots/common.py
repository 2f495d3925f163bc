"""What every figure shares: saved at print resolution, atomically, labelled with its data, and
carrying its provenance in the PNG's metadata (``report --check`` reads it back).

Provenance: the figure's name, the run it shows (if any), the SHA-256 of what it was drawn
from (a results folder's ``results.digest``, or the data's fingerprint), and the SHA-256 of the
image as drawn (its decoded RGBA pixels, ``pixel_digest``): text copied onto another image, or
pixels edited after drawing, no longer match it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.artist import Artist
from matplotlib.legend import Legend
from matplotlib.patches import Patch
from matplotlib.text import Text
from PIL import Image, UnidentifiedImageError
from PIL.PngImagePlugin import PngInfo

from practical3.base.atomic import write_with
from practical3.base.paths import figures_dir

DPI = 200
# Target colours shared by every figure that draws lung and infection masks (``overlay``).
COLORS = {"lung": "#1f77b4", "infection": "#d62728"}
FIGURE_KEY, RUN_KEY, INPUTS_KEY = "practical3 figure", "practical3 run", "practical3 inputs sha256"
PIXELS_KEY = "practical3 pixels sha256"
LABEL_GAP = 0.01  # between the lowest thing drawn and the data label, in figure heights


def save_figure(fig: plt.Figure, name: str, label: str, out_dir: str | Path | None = None, *,
                run_id: str = "", inputs_sha256: str = "") -> Path:
    """Stamp ``label`` (the data source) on ``fig`` and write ``out_dir/name.png`` atomically,
    with its name, ``run_id``, ``inputs_sha256`` and the digest of its pixels in the PNG's
    metadata.

    ``out_dir`` defaults to ``paths.figures_dir()`` (``$PRACTICAL3_FIGURES`` or ``figures/``).
    """
    stamp_label(fig, label)
    path = Path(out_dir or figures_dir()) / f"{name}.png"
    metadata = {FIGURE_KEY: name, RUN_KEY: run_id, INPUTS_KEY: inputs_sha256}

    def draw(tmp: Path) -> None:
        fig.savefig(tmp, dpi=DPI, bbox_inches="tight", format="png", metadata=metadata)
        _stamp_pixels(tmp)

    return write_with(path, draw)


def stamp_label(fig: plt.Figure, label: str) -> Text:
    """Write ``label`` under everything the figure draws (axes, tick labels, legends), right
    aligned, so it never covers a legend or data; ``savefig``'s bbox "tight" keeps it.

    The layout is done first and kept as it is: the figure legends are pinned in figure
    coordinates, because bbox "tight" swaps the figure's box for the cropped one, and a legend
    anchored to that box would drop onto the label."""
    fig.canvas.draw()  # lays the figure out, so its extent is final
    if fig.get_layout_engine() is not None:
        fig.set_layout_engine("none")
    for legend in fig.legends:
        legend.set_bbox_to_anchor((0, 0, 1, 1), transform=fig.transFigure)
    drawn = fig.get_tightbbox(fig.canvas.get_renderer())  # inches
    bottom = drawn.y0 / fig.get_figheight() - LABEL_GAP
    right = min(drawn.x1 / fig.get_figwidth(), 1.0)
    return fig.text(right, bottom, label, ha="right", va="top", fontsize=7, color="0.35")


def legend_below(fig: plt.Figure, handles: Sequence[Artist], ncol: int | None = None,
                 fontsize: float = 8, title: str | None = None) -> Legend:
    """One legend for the whole figure, below its axes: never over a curve, bar or point."""
    return fig.legend(handles=list(handles), loc="outside lower center",
                      ncol=ncol or len(handles), fontsize=fontsize, title=title,
                      title_fontsize=fontsize)


def _stamp_pixels(path: Path) -> None:
    """Add the digest of the pixels of the PNG at ``path`` to its metadata (written again)."""
    with Image.open(path) as image:
        image.load()
    info = PngInfo()
    for key, value in {**image.text, PIXELS_KEY: pixel_digest(image)}.items():
        info.add_text(key, value)
    image.save(path, format="PNG", pnginfo=info, dpi=image.info.get("dpi"))


def pixel_digest(image: Image.Image) -> str:
    """SHA-256 of an image's size and RGBA pixels: what a figure shows, whatever its bytes."""
    rgba = image.convert("RGBA")
    return hashlib.sha256(f"{rgba.width}x{rgba.height}\n".encode() + rgba.tobytes()).hexdigest()


def mask_legend(fig: plt.Figure, targets: Sequence[str]) -> None:
    """The key to the masks ``overlay`` draws: one patch of each target's colour, below."""
    legend_below(fig, [Patch(color=COLORS[t], alpha=0.6, label=f"{t} mask") for t in targets],
                 fontsize=9)


def provenance(path: str | Path) -> dict[str, str] | None:
    """The provenance a saved figure carries ({figure, run, inputs, pixels}: the pixel digest it
    records), or None when ``path`` is not a readable PNG."""
    try:
        with Image.open(path) as image:
            if image.format != "PNG":
                return None
            text = dict(image.text)
    except (OSError, UnidentifiedImageError):
        return None
    return {"figure": text.get(FIGURE_KEY, ""), "run": text.get(RUN_KEY, ""),
            "inputs": text.get(INPUTS_KEY, ""), "pixels": text.get(PIXELS_KEY, "")}


def pixels_as_drawn(path: str | Path) -> bool:
    """Whether the PNG at ``path`` shows the pixels its provenance records (``pixel_digest``
    recomputed from the decoded image); False when it records none or cannot be decoded."""
    recorded = (provenance(path) or {}).get("pixels")
    try:
        with Image.open(path) as image:
            return bool(recorded) and pixel_digest(image) == recorded
    except (OSError, UnidentifiedImageError):
        return False


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
