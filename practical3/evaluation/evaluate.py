"""Evaluation of a checkpoint, scored at each image's native size: Dice and IoU per target and
class, the lungs' boundary distance (HD95), post-processing chosen on the validation split,
infection severity, and bootstrap 95 % confidence intervals; written to ``metrics.json`` and
``per_image.csv``.

The model sees each image at its training size; its logits are resized to the image's own size
(bilinear) and thresholded there (``evaluation.inference``), post-processed there, and scored
against the masks as the files hold them. Dice and IoU come from ``scoring.metrics`` (the
definitions training validates with, at the training size). Per image, both are undefined (NaN)
when prediction and truth are both empty; the imagewise mean leaves those images out and says
how many it scored; "dataset" scores pool the pixel counts of all images. Healthy images with
any predicted infection are counted separately.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from practical3.base.atomic import write_text
from practical3.base.parallel import thread_map
from practical3.base.paths import display_path
from practical3.data import layout
from practical3.data.cache import load_decoded
from practical3.data.decode import read_masks
from practical3.data.index import build_index, select_split
from practical3.data.sources import describe, metadata
from practical3.evaluation import postprocess
from practical3.evaluation.inference import predict_native
from practical3.evaluation.postprocess import PostProcess
from practical3.evaluation.results import METRICS_FILE, PER_IMAGE_FILE
from practical3.scoring.metrics import (
    THRESHOLD_TEXT,
    confusion_counts,
    dice_from_counts,
    hausdorff95,
    iou_from_counts,
    score_key,
    summarize_counts,
)
from practical3.scoring.severity import infected_percent
from practical3.scoring.uncertainty import (
    bootstrap_weights,
    interval,
    score_intervals,
    weighted_correlation,
    weighted_mean,
)
from practical3.training import checkpoint
from practical3.training.device import choose_precision, resolve_device

Masks = Sequence[np.ndarray]  # one boolean (T, H, W) array per image, each at its own size


@dataclass
class Predicted:
    """One split scored at native size: its index rows, the true and the predicted masks."""

    rows: pd.DataFrame
    truth: list[np.ndarray]
    pred: list[np.ndarray]


def counts_of(pred: Masks, truth: Masks) -> torch.Tensor:
    """Per-image, per-target tp/fp/fn/tn counts ``(N, T, 4)`` of masks of any sizes."""
    return torch.cat([confusion_counts(torch.from_numpy(np.asarray(p)[None]),
                                       torch.from_numpy(np.asarray(t)[None]))
                      for p, t in zip(pred, truth, strict=True)])


def score(pred: Masks, truth: Masks, targets: tuple[str, ...]) -> float:
    """The selection score: mean over targets of the imagewise Dice (an undefined one counts 0).

    Imagewise Dice scores a healthy image with a false-positive infection as 0, so removing
    false positives is rewarded.
    """
    summary = summarize_counts(counts_of(pred, truth), targets)
    return sum(summary[t]["dice_imagewise"] or 0.0 for t in targets) / len(targets)


def select_postprocessing(pred: Masks, truth: Masks, targets: tuple[str, ...]
                          ) -> tuple[PostProcess, list[dict[str, Any]]]:
    """Greedy, nnU-Net style: switch each step on only if it raises the validation score."""
    chosen = PostProcess()
    trials = [{"steps": "none", "score": score(pred, truth, targets), "kept": True}]
    best = trials[0]["score"]
    for step in postprocess.applicable_steps(targets):
        candidate = chosen.with_steps((*chosen.steps, step))
        value = score(postprocess.apply(pred, targets, candidate), truth, targets)
        kept = value > best
        trials.append({"steps": candidate.name, "score": value, "kept": kept})
        if kept:
            chosen, best = candidate, value
    return chosen, trials


def class_summaries(counts: torch.Tensor, classes: pd.Series, targets: tuple[str, ...],
                    weights: np.ndarray | None = None) -> dict[str, dict]:
    """``summarize_counts`` per target for each class and for all images, with the bootstrap
    intervals of each score when ``weights`` (``uncertainty.bootstrap_weights``) are given."""
    by_class: dict[str, dict] = {}
    for cls in (*layout.CLASSES, "all"):
        rows = np.ones(len(classes), bool) if cls == "all" else (classes == cls).to_numpy()
        if not rows.any():
            continue
        subset = counts[torch.as_tensor(rows.copy())]
        by_class[cls] = summarize_counts(subset, targets)
        if weights is not None:
            for target, cis in score_intervals(subset, weights[:, rows], targets).items():
                by_class[cls][target].update(cis)
    return {t: {cls: summary[t] for cls, summary in by_class.items()} for t in targets}


def boundary_summaries(hd95: np.ndarray, classes: pd.Series, weights: np.ndarray
                       ) -> dict[str, dict[str, Any]]:
    """Mean and median HD95 (pixels) per class and for all images, with the mean's interval."""
    out: dict[str, dict[str, Any]] = {}
    for cls in (*layout.CLASSES, "all"):
        rows = np.ones(len(classes), bool) if cls == "all" else (classes == cls).to_numpy()
        values = hd95[rows]
        defined = values[~np.isnan(values)]
        if not rows.any():
            continue
        out[cls] = {
            "hd95_mean": float(defined.mean()) if defined.size else None,
            "hd95_median": float(np.median(defined)) if defined.size else None,
            "hd95_mean_ci95": interval(weighted_mean(values, weights[:, rows])),
            "n_images_hd95": int(defined.size),
        }
    return out


def severity(pred: Masks, truth: Masks, targets: tuple[str, ...]
             ) -> tuple[np.ndarray, np.ndarray]:
    """Percentage of lung area infected per image, predicted and true (NaN without lung)."""
    lung, infection = targets.index("lung"), targets.index("infection")

    def percent(masks: Masks) -> np.ndarray:
        return np.array([infected_percent(m[lung], m[infection]) for m in masks])

    return percent(pred), percent(truth)


def severity_agreement(predicted: np.ndarray, true: np.ndarray,
                       weights: np.ndarray | None = None) -> dict[str, Any]:
    """Pearson r and mean absolute error (percentage points) over images where both exist,
    with bootstrap intervals when ``weights`` are given."""
    ok = ~(np.isnan(predicted) | np.isnan(true))
    p, t = predicted[ok], true[ok]
    defined = len(p) >= 2 and p.std() > 0 and t.std() > 0
    result: dict[str, Any] = {
        "n_images": int(ok.sum()),
        "pearson_r": float(np.corrcoef(p, t)[0, 1]) if defined else None,
        "mae_percentage_points": float(np.abs(p - t).mean()) if len(p) else None,
        "mean_true_percent": float(t.mean()) if len(t) else None,
        "mean_predicted_percent": float(p.mean()) if len(p) else None,
    }
    if weights is not None:
        w = weights[:, ok]
        result["pearson_r_ci95"] = interval(weighted_correlation(p, t, w)) if defined else None
        result["mae_percentage_points_ci95"] = interval(weighted_mean(np.abs(p - t), w))
    return result


def per_image_table(rows: pd.DataFrame, pred: Masks, truth: Masks, targets: tuple[str, ...],
                    groups: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per image: class, native size, Dice and IoU per target, the lungs' HD95,
    predicted and true areas (native pixels), severity."""
    counts = counts_of(pred, truth)
    dice, iou = dice_from_counts(counts).numpy(), iou_from_counts(counts).numpy()
    table = rows[["name", "cls"]].rename(columns={"name": "image"}).reset_index(drop=True)
    if groups is not None:
        table["patient"] = list(groups)
    table["height"] = [m.shape[-2] for m in truth]
    table["width"] = [m.shape[-1] for m in truth]
    for t, target in enumerate(targets):
        table[f"dice_{target}"] = dice[:, t]
        table[f"iou_{target}"] = iou[:, t]
        if target == "lung":
            table["hd95_lung"] = lung_hd95(pred, truth, t)
        table[f"pred_area_{target}"] = [int(m[t].sum()) for m in pred]
        table[f"true_area_{target}"] = [int(m[t].sum()) for m in truth]
    if "infection" in targets:
        table["severity_pred_percent"], table["severity_true_percent"] = severity(
            pred, truth, targets)
    return table


def lung_hd95(pred: Masks, truth: Masks, channel: int) -> np.ndarray:
    """HD95 of the lung channel of every image, in native pixels."""
    pairs = list(zip(pred, truth, strict=True))
    return np.array(list(thread_map(lambda pt: hausdorff95(pt[0][channel], pt[1][channel]),
                                    pairs)))


def evaluate(checkpoint_path: str | Path, data_root: str | Path, out_dir: str | Path,
             split: str = "Test", device: str = "auto", steps: PostProcess | None = None,
             progress: bool = True) -> dict[str, Any]:
    """Evaluate a checkpoint on ``split`` at native size; writes ``metrics.json`` and
    ``per_image.csv`` into ``out_dir``.

    ``steps=None`` chooses post-processing on the Val split (all off when there is none).
    """
    dev = resolve_device(device)
    state = checkpoint.load(checkpoint_path, dev)
    model, cfg = checkpoint.model_from(state, dev)
    precision = choose_precision(cfg.precision, dev)
    targets = cfg.targets
    index = build_index(data_root, parts=[cfg.part])

    def predicted(split_name: str) -> Predicted:
        rows = select_split(index, cfg.part, split_name)
        inputs = load_decoded(rows, targets, cfg.image_size, progress=progress)
        truth = list(thread_map(lambda row: read_masks(row, targets).astype(bool),
                                [row for _, row in rows.iterrows()]))
        pred = predict_native(model, inputs.images, [m.shape[-2:] for m in truth], dev,
                              precision)
        return Predicted(rows, truth, pred)

    selection: dict[str, Any] = {"split": "Val", "rule": "greedy: a step stays on only if it "
                                 "raises the mean imagewise Dice on Val"}
    if steps is None and "Val" in set(index["split"]) and split != "Val":
        val = predicted("Val")
        steps, selection["trials"] = select_postprocessing(val.pred, val.truth, targets)
    elif steps is None:
        why = "evaluating Val itself" if split == "Val" else "no Val split"
        steps, selection = PostProcess(), {"split": None, "rule": f"{why}: all steps off"}
    else:
        selection = {"split": None, "rule": "given by the caller"}

    test = predicted(split)
    pred = postprocess.apply(test.pred, targets, steps)
    classes = test.rows["cls"].reset_index(drop=True)
    patients = metadata(data_root)
    groups = ([patients.get(name, {}).get("patientid") or name for name in test.rows["name"]]
              if patients else None)
    weights = bootstrap_weights(groups if groups is not None else list(test.rows["name"]))
    table = per_image_table(test.rows, pred, test.truth, targets, groups)
    table["run_id"] = state["run_id"]
    source = describe(data_root)
    sizes = sorted({tuple(m.shape[-2:]) for m in test.truth})
    results: dict[str, Any] = {
        "run_id": state["run_id"],
        "data": {
            "kind": source.kind, "dataset": source.dataset, "label": source.label,
            "credit": source.credit, "root": display_path(data_root), "part": cfg.part,
            "split": split, "n_images": len(table),
            "images_per_class": {c: int((classes == c).sum()) for c in layout.CLASSES},
            "image_size": cfg.image_size, "scored_size": _scored_size(sizes),
            "resampled_by": "patient" if groups is not None else "image",
            "n_resampling_units": len(set(groups)) if groups is not None else len(table),
        },
        "checkpoint": {"path": display_path(checkpoint_path), "run_id": state["run_id"],
                       "epoch": state["epoch"], "config": state["config"]},
        "definitions": {
            "dice": "2|P∩G| / (|P|+|G|) per image and target", "iou": "|P∩G| / |P∪G|",
            "imagewise": "mean over images where the score is defined; an image whose "
                         "prediction and truth are both empty is left out (n_images_scored)",
            "dataset": "pixel counts pooled over all images, then the ratio",
            "healthy_fp_rate": "share of images with empty truth that get any predicted pixel",
            "threshold": THRESHOLD_TEXT,
            "scoring": "at each image's native size: logits resized bilinearly, then thresholded",
            "hd95": "95th-percentile symmetric boundary distance, native pixels",
            "ci95": "percentile bootstrap 95 % interval, images resampled by patient where "
                    "the data name patients, 1,000 resamples",
        },
        "postprocessing": {**steps.record(), "selection": selection},
        "metrics": class_summaries(counts_of(pred, test.truth), classes, targets, weights),
        "ablation": {"split": split, "variants": [
            {"steps": v.name, **_headline(summarize_counts(
                counts_of(postprocess.apply(test.pred, targets, v), test.truth), targets),
                targets)}
            for v in _variants(targets, steps)]},
    }
    if "lung" in targets:
        results["boundary"] = {"lung": boundary_summaries(table["hd95_lung"].to_numpy(),
                                                          classes, weights)}
    if "infection" in targets:
        covid = (classes == "COVID-19").to_numpy()
        results["severity"] = severity_agreement(
            table["severity_pred_percent"].to_numpy()[covid],
            table["severity_true_percent"].to_numpy()[covid], weights[:, covid])
    text = json.dumps(results, indent=2, allow_nan=False) + "\n"  # fails before any write
    out_dir = Path(out_dir)
    write_text(out_dir / PER_IMAGE_FILE, table.to_csv(index=False))
    write_text(out_dir / METRICS_FILE, text)
    return results


def _scored_size(sizes: list[tuple[int, int]]) -> int | list[int] | str:
    """The native size scored at: one side when every image is the same square, (H, W) when
    they share one shape, else "native (varies)"."""
    if len(sizes) == 1:
        height, width = sizes[0]
        return height if height == width else [height, width]
    return "native (varies)"


def _variants(targets: tuple[str, ...], chosen: PostProcess) -> list[PostProcess]:
    """No post-processing, each applicable step alone, all of them, and the chosen set."""
    steps = postprocess.applicable_steps(targets)
    variants = [chosen.with_steps(())] + [chosen.with_steps((s,)) for s in steps]
    variants.append(chosen.with_steps(steps))
    names = {v.name for v in variants}
    return variants + ([chosen] if chosen.name not in names else [])


def _headline(summary: dict, targets: tuple[str, ...]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for t in targets:
        for score in ("dice_imagewise", "iou_imagewise", "dice_dataset"):
            row[score_key(t, score)] = summary[t][score]
    if "infection" in targets:
        row["infection_healthy_fp_rate"] = summary["infection"]["healthy_fp_rate"]
    return row
