"""Test predictions as probabilities at each image's native size, cut at any threshold: a
static figure (what nbval and an HTML export show) and a slider over images and thresholds.

Raw predictions: no post-processing, so what moves is the threshold's effect alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from practical3.course.exercises import threshold_dice
from practical3.data.decode import read_sample, resize_image
from practical3.data.index import build_index, select_split
from practical3.data.sources import showable
from practical3.evaluation.inference import logits_of
from practical3.plots.common import COLORS
from practical3.scoring.metrics import THRESHOLD
from practical3.scoring.severity import infected_percent
from practical3.training import checkpoint
from practical3.training.device import choose_precision, resolve_device


@dataclass
class Sample:
    """One Test image at its native size: the image, its true masks and the model's
    probabilities, one channel per target."""

    name: str
    cls: str
    image: np.ndarray  # (H, W) uint8
    truth: np.ndarray  # (T, H, W) bool
    prob: np.ndarray  # (T, H, W) float32 in [0, 1]
    targets: tuple[str, ...]

    def scores(self, threshold: float = THRESHOLD) -> str:
        """Each target's Dice at ``threshold``, and the severity when there is infection."""
        dice = threshold_dice(self.prob, self.truth, threshold)
        text = ", ".join(f"{t} Dice {d:.3f}" for t, d in zip(self.targets, dice, strict=True))
        if "infection" in self.targets:
            pred = self.prob > threshold
            severity = infected_percent(pred[0], pred[self.targets.index("infection")])
            true = infected_percent(self.truth[0], self.truth[self.targets.index("infection")])
            text += (f"\nseverity {severity:.1f} % (true {true:.1f} %)" if severity == severity
                     else "\nseverity undefined: no lung predicted")
        return text


def pick_rows(rows: pd.DataFrame, count: int) -> pd.DataFrame:
    """Up to ``count`` rows, taken in turn from each class (COVID-19 first), in index order."""
    ranked = rows.assign(turn=rows.groupby("cls").cumcount())
    return ranked.sort_values(["turn", "cls"], kind="stable").head(count).drop(columns="turn")


def test_samples(checkpoint_path: str | Path, data_root: str | Path, count: int = 6,
                 device: str = "auto") -> list[Sample]:
    """``count`` Test images of the checkpoint's part (only images a shared figure may show),
    each with the trained model's probabilities resized to its native size."""
    dev = resolve_device(device)
    model, cfg = checkpoint.model_from(checkpoint.load(checkpoint_path, dev), dev)
    rows = select_split(build_index(data_root, parts=[cfg.part]), cfg.part, "Test")
    rows = pick_rows(rows[[showable(data_root, name) for name in rows["name"]]], count)
    decoded = [read_sample(row, cfg.targets) for _, row in rows.iterrows()]
    inputs = np.stack([resize_image(image, cfg.image_size) for image, _ in decoded])
    logits = torch.cat(list(logits_of(model, inputs, dev, choose_precision(cfg.precision, dev))))
    samples = []
    for (_, row), (image, truth), out in zip(rows.iterrows(), decoded, logits, strict=True):
        native = F.interpolate(out[None].float(), size=image.shape, mode="bilinear",
                               align_corners=False)[0]
        samples.append(Sample(row["name"], row["cls"], image, truth.astype(bool),
                              torch.sigmoid(native).cpu().numpy(), cfg.targets))
    return samples


def _draw(ax: plt.Axes, sample: Sample, masks: np.ndarray, title: str) -> None:
    ax.imshow(sample.image, cmap="gray", vmin=0, vmax=255)
    for target, mask in zip(sample.targets, masks, strict=True):
        if mask.any():
            ax.contour(mask.astype(float), levels=[0.5], colors=[COLORS[target]], linewidths=1)
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def threshold_figure(sample: Sample, thresholds: tuple[float, ...] = (0.3, THRESHOLD, 0.7)
                     ) -> plt.Figure:
    """The truth, then the prediction cut at each threshold, each with its Dice (and the
    severity): what a lower or higher threshold does to one image."""
    fig, axes = plt.subplots(1, 1 + len(thresholds), figsize=(3 * (1 + len(thresholds)), 3.6),
                             layout="constrained")
    _draw(axes[0], sample, sample.truth, f"{sample.cls}: {sample.name}\ntruth")
    for ax, threshold in zip(axes[1:], thresholds, strict=True):
        _draw(ax, sample, sample.prob > threshold,
              f"probability > {threshold:.2f}\n{sample.scores(threshold)}")
    return fig


def threshold_browser(samples: list[Sample]) -> Any:
    """Two sliders, the Test image and the threshold, redrawing ``threshold_figure``; without
    ipywidgets (or outside Jupyter) a line that says so, the static figure standing in."""
    try:
        import ipywidgets as widgets
        from IPython.display import display
    except ImportError:
        return "ipywidgets is not installed: pip install ipywidgets (the figure above is static)"

    def show(image: int, threshold: float) -> None:
        fig = threshold_figure(samples[image], (threshold,))
        display(fig)
        plt.close(fig)

    return widgets.interactive(
        show,
        image=widgets.IntSlider(0, 0, len(samples) - 1, description="Test image"),
        threshold=widgets.FloatSlider(THRESHOLD, min=0.05, max=0.95, step=0.05,
                                      description="threshold", continuous_update=False))


def lung_dice_at(sample: Sample, thresholds: np.ndarray) -> pd.Series:
    """The lung's Dice of one image at each threshold (for a curve or a table)."""
    return pd.Series([float(threshold_dice(sample.prob, sample.truth, t)[0]) for t in thresholds],
                     index=pd.Index(np.round(thresholds, 3), name="threshold"), name="lung Dice")


__all__ = ["Sample", "lung_dice_at", "pick_rows", "test_samples", "threshold_browser",
           "threshold_figure"]
