"""The evaluation figures, drawn from a results folder (``practical3.evaluation.results``).

Learning curves, per-image Dice distributions, the post-processing ablation and the severity
scatter need only the results files. The prediction overlays draw the arrays of
``evaluation.cases``, which re-runs the checkpoint on a few test images, so they also need the
run folder and the data; without them they are skipped.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from practical3.base.errors import UserError
from practical3.base.text import fmt
from practical3.data import layout
from practical3.evaluation.cases import Cases, shareable_cases
from practical3.evaluation.results import digest, load
from practical3.plots.common import COLORS, fixed_jitter, legend_below, mask_legend, save_figure
from practical3.plots.overlay import overlay
from practical3.scoring.metrics import score_key

LEARNING_CURVES = "03_learning_curves"
DICE_DISTRIBUTIONS = "04_dice_distributions"
ABLATION = "04_postprocessing_ablation"
SEVERITY = "04_severity"
OVERLAYS = "04_prediction_overlays"
FIGURES = (OVERLAYS, DICE_DISTRIBUTIONS, LEARNING_CURVES, ABLATION, SEVERITY)


def figure_name(figure: str, part: str) -> str:
    """The file name (without .png) of ``figure`` drawn for ``part``'s model."""
    return f"{figure}_{part}"


def figure_names(part: str) -> list[str]:
    """Every figure ``draw_all`` writes for a model of ``part`` (severity needs infection)."""
    return [figure_name(f, part) for f in FIGURES
            if f != SEVERITY or "infection" in layout.TARGETS[part]]

TRAIN_COLOR, VAL_COLOR, CHOSEN_COLOR, OTHER_COLOR = "0.45", "#ff7f0e", "#2ca02c", "0.7"


def learning_curves(history: pd.DataFrame) -> plt.Figure:
    """Loss (train and validation), validation Dice and IoU (imagewise) per epoch, and the
    score that picks ``best.pt`` (the mean over targets of the pooled, dataset-level Dice)."""
    targets = [t for t in layout.ALL_TARGETS if f"val_{score_key(t, 'dice_imagewise')}" in history]
    epochs = history["epoch"]
    best = int(history.loc[history["val_score"].idxmax(), "epoch"])
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.2), layout="constrained")
    axes[0].plot(epochs, history["train_loss"], "o-", ms=3, color=TRAIN_COLOR, label="train")
    axes[0].plot(epochs, history["val_loss"], "o-", ms=3, color=VAL_COLOR, label="validation")
    axes[0].set(title="Loss", ylabel="loss per image")
    for ax, metric, title in zip(axes[1:], ("dice", "iou"), ("Dice", "IoU"), strict=True):
        for target in targets:
            ax.plot(epochs, history["val_" + score_key(target, f"{metric}_imagewise")], "o-", ms=3,
                    color=COLORS[target], label=target)
        ax.set(title=f"Validation {title} (imagewise mean)", ylabel=title, ylim=(-0.02, 1.02))
    axes[1].plot(epochs, history["val_score"], "--", color="0.15", lw=1.2,
                 label="selection score\n(mean dataset Dice)")
    for ax in axes:
        ax.axvline(best, ls=":", color="0.3", lw=1, label=f"best.pt (epoch {best})")
        ax.set(xlabel="epoch", xlim=(epochs.min() - 0.5, epochs.max() + 0.5))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    by_label = {line.get_label(): line for ax in axes for line in ax.get_lines()}
    legend_below(fig, list(by_label.values()), ncol=4)
    return fig


def dice_distributions(per_image: pd.DataFrame) -> plt.Figure:
    """Per-image Dice per class, one panel per target; undefined (both empty) images counted."""
    targets = [t for t in layout.ALL_TARGETS if score_key(t, "dice") in per_image]
    classes = [c for c in layout.CLASSES if (per_image["cls"] == c).any()]
    fig, axes = plt.subplots(1, len(targets), figsize=(4.6 * len(targets), 3.6),
                             layout="constrained", squeeze=False)
    for ax, target in zip(axes[0], targets, strict=True):
        column = score_key(target, "dice")
        data = per_image[["cls", column]].rename(columns={column: "dice"})
        scored = data.dropna()
        kwargs: dict[str, Any] = {"x": "cls", "y": "dice", "order": classes, "ax": ax}
        sns.boxplot(data=scored, color=COLORS[target], showfliers=False, width=0.5,
                    boxprops={"alpha": 0.35}, **kwargs)
        with fixed_jitter():
            sns.stripplot(data=scored, color=COLORS[target], size=3.5, jitter=0.15, **kwargs)
        ax.set_xticks(range(len(classes)), [_count_label(data, c) for c in classes], fontsize=8)
        ax.set_xlim(-0.5, len(classes) - 0.5)  # also when a target has no defined Dice at all
        ax.set(title=f"{target}: per-image Dice", xlabel="", ylabel="Dice", ylim=(-0.03, 1.03))
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Undefined = truth and prediction both empty: left out of the mean", fontsize=9)
    return fig


def _count_label(data: pd.DataFrame, cls: str) -> str:
    """Tick label: the class, how many of its images were scored and how many were undefined."""
    values = data.loc[data["cls"] == cls, "dice"]
    return f"{cls}\n{values.notna().sum()} scored\n{values.isna().sum()} undefined"


def ablation(metrics: dict[str, Any]) -> plt.Figure:
    """Test-split scores of each post-processing variant, the one chosen on Val highlighted."""
    variants = pd.DataFrame(metrics["ablation"]["variants"])
    chosen = metrics["postprocessing"]["chosen"]
    columns = {f"{t}_dice_imagewise": (f"{t} Dice (imagewise)", "Dice, higher is better")
               for t in metrics["metrics"]}
    if "infection_healthy_fp_rate" in variants:
        columns["infection_healthy_fp_rate"] = ("healthy images with any predicted infection",
                                                "share, lower is better")
    names = [name.replace(" + ", " +\n") + (" (chosen)" if name == chosen else "")
             for name in variants["steps"]]
    colors = [CHOSEN_COLOR if name == chosen else OTHER_COLOR for name in variants["steps"]]
    y = np.arange(len(variants))
    fig, axes = plt.subplots(1, len(columns), figsize=(3.0 * len(columns) + 1.8,
                                                       0.55 * len(variants) + 1.6),
                             sharey=True, layout="constrained", squeeze=False)
    for ax, (column, (title, xlabel)) in zip(axes[0], columns.items(), strict=True):
        values = variants[column].astype(float)
        ax.barh(y, values.fillna(0), color=colors, height=0.7)
        for yi, value in zip(y, values, strict=True):
            inside = not np.isnan(value) and value > 0.8
            ax.text(value - 0.02 if inside else (0 if np.isnan(value) else value) + 0.02, yi,
                    fmt(value, ".3f"), va="center",
                    ha="right" if inside else "left", fontsize=8)
        ax.set(xlim=(0, 1), xlabel=xlabel)
        ax.set_title(title, fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    axes[0, 0].set_yticks(y, names, fontsize=8)
    axes[0, 0].invert_yaxis()
    selection = metrics["postprocessing"]["selection"]
    how = f"chosen on {selection['split']}" if selection["split"] else selection["rule"]
    fig.suptitle(f"Post-processing variants scored on {metrics['ablation']['split']} ({how})",
                 fontsize=10)
    return fig


def severity_scatter(per_image: pd.DataFrame, severity: dict[str, Any]) -> plt.Figure:
    """Predicted against true % of the lung infected on the COVID-19 images (with the identity
    line), and their Bland-Altman plot: the difference against the mean, with the mean
    difference (bias) and the 95 % limits of agreement (bias +- 1.96 SD)."""
    covid = per_image[per_image["cls"] == "COVID-19"]
    ok = covid[["severity_true_percent", "severity_pred_percent"]].dropna()
    true, pred = ok["severity_true_percent"], ok["severity_pred_percent"]
    fig, (ax, diff_ax) = plt.subplots(1, 2, figsize=(9.6, 4.6), layout="constrained")
    top = max(5.0, float(ok.max().max()) if len(ok) else 0.0) * 1.05
    ax.plot([0, top], [0, top], ls="--", color="0.5", lw=1, label="identity")
    ax.scatter(true, pred, s=14, color=COLORS["infection"], alpha=0.7, label="COVID-19 image")
    ax.set(xlim=(0, top), ylim=(0, top), aspect="equal", xlabel="true % of lung infected",
           ylabel="predicted % of lung infected")
    r, mae = severity["pearson_r"], severity["mae_percentage_points"]
    ax.set_title(f"Severity: r = {fmt(r, '.3f')}, MAE = {fmt(mae, '.2f')} pp "
                 f"(n = {severity['n_images']})", fontsize=10)
    left_out = len(covid) - len(ok)
    if left_out:
        ax.text(0.98, 0.02, f"{left_out} image(s) without a predicted\nor true lung not shown",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="0.3")
    ax.grid(alpha=0.3)
    legend_below(fig, ax.get_legend_handles_labels()[0])
    _bland_altman(diff_ax, (true + pred) / 2, pred - true)
    return fig


def _bland_altman(ax: plt.Axes, mean: pd.Series, difference: pd.Series) -> None:
    """Difference (predicted - true) against the mean of the two, with the bias and the 95 %
    limits of agreement (Bland and Altman 1986); nothing to draw without two images."""
    ax.scatter(mean, difference, s=14, color=COLORS["infection"], alpha=0.7)
    ax.axhline(0, color="0.5", lw=1, ls="--")
    if len(difference) >= 2:
        bias, spread = float(difference.mean()), 1.96 * float(difference.std(ddof=1))
        for value, text in ((bias, "bias"), (bias + spread, "+1.96 SD"),
                            (bias - spread, "-1.96 SD")):
            ax.axhline(value, color="0.15", lw=1, ls="-" if text == "bias" else ":")
            ax.text(1.0, value, f" {text} {value:+.1f}", transform=ax.get_yaxis_transform(),
                    va="center", fontsize=7)
    ax.set(xlabel="mean of true and predicted (% of lung)",
           ylabel="predicted - true (percentage points)", title="Bland-Altman agreement")
    ax.grid(alpha=0.3)


def prediction_overlays(cases: Cases, targets: tuple[str, ...]) -> plt.Figure:
    """Image, truth and prediction for each of ``cases`` (``evaluation.cases``: the best,
    median and worst test image of each class, post-processed as chosen), one row a class."""
    picked = cases.rows
    classes = list(dict.fromkeys(picked["cls"]))
    columns = max(picked.groupby("cls").size())
    fig = plt.figure(figsize=(3.5 * columns, 1.75 * len(classes) + 0.4), layout="constrained")
    for row_fig, cls in zip(np.atleast_1d(fig.subfigures(len(classes), 1)), classes, strict=True):
        row_fig.suptitle(cls, x=0.0, ha="left", fontsize=11, fontweight="bold")
        cells = np.atleast_1d(row_fig.subfigures(1, columns))
        for cell, i in zip(cells, np.flatnonzero(picked["cls"] == cls), strict=False):
            _draw_case(cell, picked.iloc[i], cases.images[i], cases.truth[i], cases.pred[i],
                       targets)
    mask_legend(fig, targets)
    if cases.shareable < cases.total:
        fig.suptitle(f"Cases among the {cases.shareable} of {cases.total} test images "
                     "whose licence allows sharing them", fontsize=9)
    return fig


def _draw_case(cell: Any, case: pd.Series, image: np.ndarray, truth: np.ndarray,
               pred: np.ndarray, targets: tuple[str, ...]) -> None:
    """One image: three panels (image, truth, prediction) under a title with its Dice."""
    scores = ", ".join(f"{t} {fmt(case[score_key(t, 'dice')], '.2f', 'undefined')}"
                       for t in targets)
    cell.suptitle(f"{case['case']}: {case['image']}\nDice {scores}", fontsize=8)
    panels = {"image": image, "truth": overlay(image, truth, targets),
              "prediction": overlay(image, pred, targets)}
    for ax, (title, shown) in zip(cell.subplots(1, 3), panels.items(), strict=True):
        ax.imshow(shown, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(title, fontsize=7)
        ax.axis("off")


def draw_all(results_dir: str | Path, *, out_dir: str | Path | None = None,
             model_and_data: bool = True) -> list[Path]:
    """Write every figure of one model's results folder to ``out_dir``, named for its part
    (``figure_names``), each carrying the run id and the folder's ``digest``.

    The overlays need the checkpoint and data named in ``metrics.json``; when either is
    missing (or ``model_and_data`` is False) that figure is skipped with a message.
    """
    results = load(results_dir)
    drawers: dict[str, Callable[[], plt.Figure]] = {
        DICE_DISTRIBUTIONS: lambda: dice_distributions(results.per_image),
        LEARNING_CURVES: lambda: learning_curves(results.history),
        ABLATION: lambda: ablation(results.metrics),
    }
    if "severity" in results.metrics:
        drawers[SEVERITY] = lambda: severity_scatter(results.per_image,
                                                     results.metrics["severity"])
    if model_and_data:
        drawers[OVERLAYS] = lambda: prediction_overlays(shareable_cases(results),
                                                        results.targets)
    inputs = digest(results.folder)
    written = []
    for figure, draw in drawers.items():
        name = figure_name(figure, results.part)
        try:
            fig = draw()
        except UserError as err:  # only the overlays read model and data
            print(f"skipped {name}: {err}", file=sys.stderr)
            continue
        written.append(save_figure(fig, name, results.stamp, out_dir, run_id=results.run_id,
                                   inputs_sha256=inputs))
        plt.close(fig)
    return written
