"""Evaluation of a checkpoint: Dice and IoU per target and class, post-processing chosen on the
validation split, infection severity, written to ``metrics.json`` and ``per_image.csv``.

Dice and IoU come from ``practical3.metrics`` (the definitions training validates with). Per
image, both are undefined (NaN) when prediction and truth are both empty; the imagewise mean
leaves those images out and says how many it scored. "dataset" scores pool the pixel counts of
all images. Healthy images with any predicted infection are counted separately.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from practical3 import checkpoint, layout, postprocess
from practical3.atomic import write_text
from practical3.cache import DecodedArrays
from practical3.dataset import open_source, select_split
from practical3.device import autocast, resolve_device, to_device
from practical3.index import build_index
from practical3.loaders import batches
from practical3.metrics import confusion_counts, dice_from_counts, iou_from_counts, summarize_counts
from practical3.postprocess import PostProcess
from practical3.sources import display_path, source_kind, source_label

METRICS_FILE = "metrics.json"
PER_IMAGE_FILE = "per_image.csv"
EVAL_BATCH = 64


@torch.inference_mode()
def predict(model: torch.nn.Module, source: DecodedArrays, device: torch.device,
            progress: bool = False) -> np.ndarray:
    """Boolean predictions ``(N, T, H, W)`` (logit > 0, i.e. probability > 0.5)."""
    model.eval()
    out = []
    for images, _ in tqdm(batches(source, EVAL_BATCH, device, train=False),
                          disable=not progress, desc="predicting", unit="batch"):
        with autocast(device):
            logits = model(to_device(images, device))
        out.append((logits > 0).cpu().numpy())
    return np.concatenate(out)


def counts_of(pred: np.ndarray, truth: np.ndarray) -> torch.Tensor:
    """Per-image, per-target tp/fp/fn/tn counts ``(N, T, 4)``."""
    return confusion_counts(torch.from_numpy(pred), torch.from_numpy(truth))


def score(pred: np.ndarray, truth: np.ndarray, targets: tuple[str, ...]) -> float:
    """The selection score: mean over targets of the imagewise Dice (an undefined one counts 0).

    Imagewise Dice scores a healthy image with a false-positive infection as 0, so removing
    false positives is rewarded.
    """
    summary = summarize_counts(counts_of(pred, truth), targets)
    return sum(summary[t]["dice_imagewise"] or 0.0 for t in targets) / len(targets)


def select_postprocessing(pred: np.ndarray, truth: np.ndarray, targets: tuple[str, ...]
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


def class_summaries(counts: torch.Tensor, classes: pd.Series, targets: tuple[str, ...]
                    ) -> dict[str, dict]:
    """``summarize_counts`` per target for each class and for all images."""
    by_class: dict[str, dict] = {}
    for cls in (*layout.CLASSES, "all"):
        rows = np.ones(len(classes), bool) if cls == "all" else (classes == cls).to_numpy()
        if rows.any():
            by_class[cls] = summarize_counts(counts[torch.as_tensor(rows.copy())], targets)
    return {t: {cls: summary[t] for cls, summary in by_class.items()} for t in targets}


def severity(pred: np.ndarray, truth: np.ndarray, targets: tuple[str, ...]
             ) -> tuple[np.ndarray, np.ndarray]:
    """Percentage of lung area infected per image, predicted and true (NaN without lung)."""
    lung, infection = targets.index("lung"), targets.index("infection")

    def percent(masks: np.ndarray) -> np.ndarray:
        lung_area = masks[:, lung].sum(axis=(1, 2)).astype(float)
        infected = masks[:, infection].sum(axis=(1, 2)).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(lung_area > 0, 100 * infected / lung_area, np.nan)

    return percent(pred), percent(truth)


def severity_agreement(predicted: np.ndarray, true: np.ndarray) -> dict[str, Any]:
    """Pearson r and mean absolute error (percentage points) over images where both exist."""
    ok = ~(np.isnan(predicted) | np.isnan(true))
    p, t = predicted[ok], true[ok]
    defined = len(p) >= 2 and p.std() > 0 and t.std() > 0
    return {
        "n_images": int(ok.sum()),
        "pearson_r": float(np.corrcoef(p, t)[0, 1]) if defined else None,
        "mae_percentage_points": float(np.abs(p - t).mean()) if len(p) else None,
        "mean_true_percent": float(t.mean()) if len(t) else None,
        "mean_predicted_percent": float(p.mean()) if len(p) else None,
    }


def per_image_table(source: DecodedArrays, pred: np.ndarray, truth: np.ndarray,
                    targets: tuple[str, ...]) -> pd.DataFrame:
    """One row per image: class, Dice and IoU per target, predicted and true areas (pixels)."""
    counts = counts_of(pred, truth)
    dice, iou = dice_from_counts(counts).numpy(), iou_from_counts(counts).numpy()
    table = source.records[["name", "cls"]].rename(columns={"name": "image"}).copy()
    for t, target in enumerate(targets):
        table[f"dice_{target}"] = dice[:, t]
        table[f"iou_{target}"] = iou[:, t]
        table[f"pred_area_{target}"] = pred[:, t].sum(axis=(1, 2))
        table[f"true_area_{target}"] = truth[:, t].sum(axis=(1, 2))
    if "infection" in targets:
        table["severity_pred_percent"], table["severity_true_percent"] = severity(
            pred, truth, targets)
    return table


def evaluate(checkpoint_path: str | Path, data_root: str | Path, out: str | Path,
             split: str = "Test", device: str = "auto", steps: PostProcess | None = None,
             progress: bool = True) -> dict[str, Any]:
    """Evaluate a checkpoint on ``split``; writes ``out/metrics.json`` and ``out/per_image.csv``.

    ``steps=None`` chooses post-processing on the Val split (all off when there is none).
    """
    dev = resolve_device(device)
    state = checkpoint.load(checkpoint_path, dev)
    model, cfg = checkpoint.model_from(state, dev)
    targets = layout.TARGETS[cfg.part]
    index = build_index(data_root, parts=[cfg.part])

    def predicted(split_name: str) -> tuple[DecodedArrays, np.ndarray, np.ndarray]:
        rows = select_split(index, cfg.part, split_name)
        source = open_source(rows, cfg.part, cfg.image_size, progress=progress)
        return source, predict(model, source, dev, progress), source.masks.astype(bool)

    selection: dict[str, Any] = {"split": "Val", "rule": "greedy: a step stays on only if it "
                                 "raises the mean imagewise Dice on Val"}
    if steps is None and "Val" in set(index["split"]) and split != "Val":
        _, val_pred, val_truth = predicted("Val")
        steps, selection["trials"] = select_postprocessing(val_pred, val_truth, targets)
    elif steps is None:
        why = "evaluating Val itself" if split == "Val" else "no Val split"
        steps, selection = PostProcess(), {"split": None, "rule": f"{why}: all steps off"}
    else:
        selection = {"split": None, "rule": "given by the caller"}

    source, raw, truth = predicted(split)
    pred = postprocess.apply(raw, targets, steps)
    classes = source.records["cls"]
    ablation = [{"steps": v.name, **_headline(summarize_counts(
        counts_of(postprocess.apply(raw, targets, v), truth), targets), targets)}
        for v in _variants(targets, steps)]
    table = per_image_table(source, pred, truth, targets)
    results: dict[str, Any] = {
        "data": {
            "source": source_kind(data_root), "label": source_label(data_root),
            "root": display_path(data_root), "part": cfg.part, "split": split,
            "n_images": len(source), "image_size": cfg.image_size,
            "images_per_class": {c: int((classes == c).sum()) for c in layout.CLASSES},
        },
        "checkpoint": {"path": display_path(checkpoint_path), "epoch": state["epoch"],
                       "config": state["config"]},
        "definitions": {
            "dice": "2|P∩G| / (|P|+|G|) per image and target", "iou": "|P∩G| / |P∪G|",
            "imagewise": "mean over images where the score is defined; an image whose "
                         "prediction and truth are both empty is left out (n_images_scored)",
            "dataset": "pixel counts pooled over all images, then the ratio",
            "healthy_fp_rate": "share of images with empty truth that get any predicted pixel",
            "threshold": "probability > 0.5",
        },
        "postprocessing": {"chosen": steps.name, "selection": selection,
                           "min_speck_fraction": steps.min_speck_fraction},
        "metrics": class_summaries(counts_of(pred, truth), classes, targets),
        "ablation": {"split": split, "variants": ablation},
    }
    if "infection" in targets:
        covid = (classes == "COVID-19").to_numpy()
        results["severity"] = severity_agreement(
            table["severity_pred_percent"].to_numpy()[covid],
            table["severity_true_percent"].to_numpy()[covid])
    text = json.dumps(results, indent=2, allow_nan=False) + "\n"  # fails before any write
    out = Path(out)
    write_text(out / PER_IMAGE_FILE, table.to_csv(index=False))
    write_text(out / METRICS_FILE, text)
    return results


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
        row[f"{t}_dice_imagewise"] = summary[t]["dice_imagewise"]
        row[f"{t}_iou_imagewise"] = summary[t]["iou_imagewise"]
        row[f"{t}_dice_dataset"] = summary[t]["dice_dataset"]
    if "infection" in targets:
        row["infection_healthy_fp_rate"] = summary["infection"]["healthy_fp_rate"]
    return row
