"""The evaluation figures, drawn from a results folder (``practical3.evaluation.results``).

Learning curves, per-image Dice distributions, the post-processing ablation and the severity
scatter need only the results files. The prediction overlays re-run the checkpoint on a few
test images, so they also need the run folder and the data; without them they are skipped.
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
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from practical3.base.errors import ResultsError, UserError
from practical3.base.paths import stored_path
from practical3.base.text import fmt
from practical3.data import layout
from practical3.data.decode import read_sample, resize_image
from practical3.data.index import build_index, select_split
from practical3.data.sources import showable
from practical3.evaluation import postprocess
from practical3.evaluation.inference import predict_native
from practical3.evaluation.postprocess import PostProcess
from practical3.evaluation.results import Results, digest, load
from practical3.plots.common import COLORS, fixed_jitter, save_figure
from practical3.scoring.metrics import score_key
from practical3.training import checkpoint
from practical3.training.device import choose_precision, resolve_device

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
CASES = ("best", "median", "worst")


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
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def dice_distributions(per_image: pd.DataFrame) -> plt.Figure:
    """Per-image Dice per class, one panel per target; undefined (both empty) images counted."""
    targets = [t for t in layout.ALL_TARGETS if f"dice_{t}" in per_image]
    classes = [c for c in layout.CLASSES if (per_image["cls"] == c).any()]
    fig, axes = plt.subplots(1, len(targets), figsize=(4.6 * len(targets), 3.6),
                             layout="constrained", squeeze=False)
    for ax, target in zip(axes[0], targets, strict=True):
        data = per_image[["cls", f"dice_{target}"]].rename(columns={f"dice_{target}": "dice"})
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
    return f"{cls}\n{values.notna().sum()} scored, {values.isna().sum()} undefined"


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
    """Predicted against true % of the lung infected, COVID-19 images, with the identity line."""
    covid = per_image[per_image["cls"] == "COVID-19"]
    ok = covid[["severity_true_percent", "severity_pred_percent"]].dropna()
    fig, ax = plt.subplots(figsize=(4.6, 4.6), layout="constrained")
    top = max(5.0, float(ok.max().max()) if len(ok) else 0.0) * 1.05
    ax.plot([0, top], [0, top], ls="--", color="0.5", lw=1, label="identity")
    ax.scatter(ok["severity_true_percent"], ok["severity_pred_percent"], s=14,
               color=COLORS["infection"], alpha=0.7, label="COVID-19 image")
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
    ax.legend(fontsize=8, loc="upper left")
    return fig


def pick_cases(per_image: pd.DataFrame, cases: tuple[str, ...] = CASES) -> pd.DataFrame:
    """Per class, the best, median and worst image by mean per-image Dice over the targets.

    A class with fewer images gives fewer cases (best and worst first, never one image twice);
    images whose Dice is undefined for every target cannot be ranked and are never picked.
    """
    dice = per_image[[c for c in per_image if c.startswith("dice_")]]
    ranked = per_image.assign(score=dice.mean(axis=1, skipna=True)).dropna(subset=["score"])
    picked = []
    for cls in layout.CLASSES:
        rows = ranked[ranked["cls"] == cls].sort_values(["score", "image"], ascending=[False, True],
                                                        kind="mergesort")
        if rows.empty:
            continue
        positions = {"best": 0, "worst": len(rows) - 1, "median": len(rows) // 2}
        chosen: dict[int, str] = {}
        for case in sorted(cases, key=list(positions).index):
            chosen.setdefault(positions[case], case)
        picked += [rows.iloc[[at]].assign(case=case) for at, case in sorted(chosen.items())]
    return pd.concat(picked, ignore_index=True)


def predict_cases(results: Results, cases: pd.DataFrame, device: str = "auto"
                  ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Re-run the evaluated checkpoint on the ``cases`` images at their native size: the
    images, their true masks and the post-processed predictions, one array per image.

    The checkpoint must be the one evaluated (same run id and epoch), else ResultsError.
    """
    evaluated = results.metrics["checkpoint"]
    path = stored_path(evaluated["path"])
    if not path.is_file():
        raise ResultsError(f"{path}: checkpoint not found (run folders are not committed); "
                           "train and evaluate again to draw the prediction overlays")
    dev = resolve_device(device)
    state = checkpoint.load(path, dev)
    found = (state.get("run_id"), state["epoch"])
    if found != (evaluated["run_id"], evaluated["epoch"]):
        raise ResultsError(f"{path} now holds run {found[0]} epoch {found[1]}, not the evaluated "
                           f"run {evaluated['run_id']} epoch {evaluated['epoch']}: evaluate it "
                           "again before drawing the overlays")
    model, cfg = checkpoint.model_from(state, dev)
    index = build_index(stored_path(results.metrics["data"]["root"]), parts=[cfg.part])
    rows = select_split(index, cfg.part, results.metrics["data"]["split"]).set_index(
        ["cls", "name"])
    samples = [read_sample(rows.loc[key], cfg.targets)
               for key in zip(cases["cls"], cases["image"], strict=True)]
    images = [image for image, _ in samples]
    inputs = np.stack([resize_image(image, cfg.image_size) for image in images])
    raw = predict_native(model, inputs, [image.shape for image in images], dev,
                         choose_precision(cfg.precision, dev))
    steps = PostProcess.from_record(results.metrics["postprocessing"])
    return images, [masks.astype(bool) for _, masks in samples], postprocess.apply(
        raw, cfg.targets, steps)


def prediction_overlays(results: Results, cases: tuple[str, ...] = CASES, device: str = "auto"
                        ) -> plt.Figure:
    """Image, truth and prediction (lung and infection outlined) for the best, median and
    worst test image of each class, with the chosen post-processing applied."""
    root = stored_path(results.metrics["data"]["root"])
    shareable = results.per_image["image"].map(lambda name: showable(root, name))
    picked = pick_cases(results.per_image[shareable], cases)
    images, truth, pred = predict_cases(results, picked, device)
    targets = results.targets
    classes = list(dict.fromkeys(picked["cls"]))
    columns = max(picked.groupby("cls").size())
    fig = plt.figure(figsize=(3.5 * columns, 1.75 * len(classes) + 0.4), layout="constrained")
    for row_fig, cls in zip(np.atleast_1d(fig.subfigures(len(classes), 1)), classes, strict=True):
        row_fig.suptitle(cls, x=0.0, ha="left", fontsize=11, fontweight="bold")
        cells = np.atleast_1d(row_fig.subfigures(1, columns))
        for cell, i in zip(cells, np.flatnonzero(picked["cls"] == cls), strict=False):
            _draw_case(cell, picked.iloc[i], images[i], truth[i], pred[i], targets)
    fig.legend(handles=[Patch(color=COLORS[t], alpha=0.6, label=t) for t in targets],
               loc="outside lower center", ncol=len(targets), fontsize=9)
    if not shareable.all():
        fig.suptitle(f"Cases among the {int(shareable.sum())} of {len(shareable)} test images "
                     "whose licence allows sharing them", fontsize=9)
    return fig


def _draw_case(cell: Any, case: pd.Series, image: np.ndarray, truth: np.ndarray,
               pred: np.ndarray, targets: tuple[str, ...]) -> None:
    """One image: three panels (image, truth, prediction) under a title with its Dice."""
    scores = ", ".join(f"{t} {fmt(case[f'dice_{t}'], '.2f', 'undefined')}" for t in targets)
    cell.suptitle(f"{case['case']}: {case['image']}\nDice {scores}", fontsize=8)
    panels = {"image": (), "truth": truth, "prediction": pred}
    for ax, (title, masks) in zip(cell.subplots(1, 3), panels.items(), strict=True):
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        for target, mask in zip(targets, masks, strict=False):
            _outline(ax, mask, COLORS[target])
        ax.set_title(title, fontsize=7)
        ax.axis("off")


def _outline(ax: plt.Axes, mask: np.ndarray, color: str) -> None:
    """A mask as a translucent fill with a solid outline."""
    if not mask.any():
        return
    ax.imshow(np.ma.masked_where(~mask.astype(bool), mask), cmap=ListedColormap([color]), alpha=0.3,
              vmin=0, vmax=1, interpolation="nearest")
    ax.contour(mask.astype(float), levels=[0.5], colors=[color], linewidths=0.8)


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
        drawers[OVERLAYS] = lambda: prediction_overlays(results)
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
