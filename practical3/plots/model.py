"""Figures that look inside the U-Net: feature maps of a block and the per-target logits."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import CenteredNorm

from practical3.data import layout
from practical3.data.decode import read_png
from practical3.data.index import build_index, find_part_dir
from practical3.data.sources import SYNTHETIC_LABEL, describe, showable
from practical3.data.synth import phantom
from practical3.evaluation.results import copy_fingerprint
from practical3.models.inspection import block_outputs
from practical3.plots.common import save_figure
from practical3.training.config import TrainConfig


def example_image(
    data_root: str | Path, size: int = 256, seed: int = 0, data_label: str | None = None
) -> tuple[np.ndarray, str]:
    """A chest X-ray (uint8, H x W) and the stamp its figure carries: the first COVID-19 image
    of ``data_root`` whose licence allows sharing it (Infection part first), else a seeded
    ``size`` x ``size`` phantom."""
    parts = [p for p in layout.PARTS if find_part_dir(data_root, p) is not None]
    if parts:
        index = build_index(data_root, parts=parts)
        index = index.sort_values("cls", key=lambda c: c != "COVID-19", kind="stable")
        row = next((r for r in index.itertuples() if showable(Path(r.image), r.name)), None)
        if row is not None:
            return read_png(row.image, mask=False), describe(data_root, data_label).stamp
    image, _, _ = phantom(np.random.default_rng(seed), size, "COVID-19")
    return image, SYNTHETIC_LABEL


def as_batch(image: np.ndarray) -> torch.Tensor:
    """A uint8 (H, W) image as the model's (1, 1, H, W) float input in [0, 1], as training
    feeds it (``data.batches``)."""
    return torch.from_numpy(image.astype(np.float32) / 255)[None, None]


def plot_feature_maps(features: torch.Tensor, title: str, count: int = 8) -> plt.Figure:
    """The first ``count`` channels of one block's (1, C, H, W) output, one panel each."""
    maps = features[0, :count].detach().float().cpu().numpy()
    cols = min(len(maps), 4)
    rows = math.ceil(len(maps) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.2 * rows + 0.4), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(maps):
            ax.imshow(maps[i], cmap="viridis")
            ax.set_title(f"channel {i}", fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig


def plot_logits(
    image: np.ndarray,
    logits: torch.Tensor,
    title: str,
    targets: Sequence[str] = layout.ALL_TARGETS,
) -> plt.Figure:
    """The input image beside the (1, T, H, W) logits, one panel per target, each on a
    diverging map centred at 0 (probability 0.5): blue below, red above, with colour bars."""
    maps = logits[0].detach().float().cpu().numpy()
    fig, axes = plt.subplots(1, 1 + len(maps), figsize=(3.4 * (1 + len(maps)), 3.4),
                             layout="constrained")
    axes[0].imshow(image, cmap="gray")
    axes[0].set_title("input", fontsize=9)
    for ax, target, logit in zip(axes[1:], targets, maps, strict=True):
        bar = fig.colorbar(ax.imshow(logit, cmap="coolwarm", norm=CenteredNorm(vcenter=0)),
                           ax=ax, fraction=0.046)
        bar.ax.tick_params(labelsize=7)
        bar.set_label("logit (0: probability 0.5)", fontsize=7)
        ax.set_title(f"{target} logit", fontsize=9)
    for ax in axes:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    return fig


def figure_inputs(fingerprint: str, config: dict) -> str:
    """What these figures were drawn from, as their provenance records it: the copy (which
    fixes the example image) and the untrained model's settings; ``report --check`` recomputes
    it from a results folder."""
    return hashlib.sha256((fingerprint + json.dumps(config, sort_keys=True)).encode()).hexdigest()


def draw_all(data_root: str | Path, cfg: TrainConfig, *, out_dir: str | Path | None = None,
             data_label: str | None = None) -> list[Path]:
    """Write the figures notebook 02 shows: the untrained model's feature maps and logits
    (stamped with ``data_label`` when given)."""
    torch.manual_seed(cfg.seed)
    model = cfg.build_model()
    image, label = example_image(data_root, data_label=data_label)
    outputs = block_outputs(model, as_batch(image))
    figures = {
        "02_feature_maps": plot_feature_maps(
            outputs["encoders.0"], "First encoder block (DoubleConv), UNTRAINED"),
        "02_untrained_logits": plot_logits(
            image, outputs["head"], "Output logits of the UNTRAINED model", cfg.targets),
    }
    inputs = figure_inputs(copy_fingerprint(data_root), cfg.to_dict())
    written = [save_figure(fig, name, label, out_dir, inputs_sha256=inputs)
               for name, fig in figures.items()]
    for fig in figures.values():
        plt.close(fig)
    return written
