"""Evaluation of a checkpoint on one split, scored at each image's native size: Dice and IoU per
target and class (``scoring.metrics`` defines them), the lungs' boundary distance (HD95),
post-processing chosen on Val, infection severity and bootstrap intervals
(``scoring.uncertainty``).

``score_split`` computes; ``write_results`` writes ``metrics.json`` and ``per_image.csv``;
``evaluate`` does both and writes the post-processing it chose on Val beside the checkpoint
(``RUN_DIR/postprocessing.json``), where ``practical3 predict`` applies it.
"""

from __future__ import annotations

import json
import sys
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
from practical3.data.fingerprint import data_fingerprint
from practical3.data.index import build_index, select_split
from practical3.data.sources import describe, metadata, record
from practical3.evaluation import postprocess, provenance
from practical3.evaluation.inference import NATIVE_SCORING, predict_native
from practical3.evaluation.postprocess import PostProcess
from practical3.evaluation.results import METRICS_FILE, PER_IMAGE_FILE, copy_fingerprint
from practical3.scoring.metrics import (
    DEFINITIONS,
    confusion_counts,
    dice_from_counts,
    hausdorff95,
    iou_from_counts,
    score_key,
    summarize_counts,
)
from practical3.scoring.severity import infected_percent
from practical3.scoring.uncertainty import (
    CI_DEFINITION,
    bootstrap_weights,
    ci_entry,
    score_intervals,
    standard_error,
    weighted_correlation,
    weighted_mean,
)
from practical3.training import checkpoint
from practical3.training.config import TrainConfig
from practical3.training.device import Precision, choose_precision, resolve_device

Masks = Sequence[np.ndarray]  # one boolean (T, H, W) array per image, each at its own size
# A step stays on only when it raises the Val score by more than noise: by more than this,
# and by more than the bootstrap standard error of the paired gain.
MIN_GAIN = 0.005
SELECTION_RULE = (f"greedy on Val: a step stays on only if it raises the mean imagewise Dice "
                  f"by more than {MIN_GAIN * 100:g} Dice points and by more than the bootstrap "
                  "standard error of the paired gain (images resampled together)")


@dataclass
class Predicted:
    """One split scored at native size: its index rows, the true and the predicted masks."""

    split: str
    rows: pd.DataFrame
    truth: list[np.ndarray]
    pred: list[np.ndarray]


@dataclass
class Model:
    """A loaded checkpoint ready to predict: its state, network, settings, device, precision."""

    state: dict[str, Any]
    net: torch.nn.Module
    cfg: TrainConfig
    device: torch.device
    precision: Precision


@dataclass
class Evaluation:
    """What ``score_split`` returns: ``metrics.json``'s content and ``per_image.csv``'s rows."""

    metrics: dict[str, Any]
    per_image: pd.DataFrame


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


def resampled_score(pred: Masks, truth: Masks, weights: np.ndarray) -> np.ndarray:
    """``score`` in each bootstrap resample ``weights`` (B, N): (B,)."""
    dice = dice_from_counts(counts_of(pred, truth)).numpy()
    per_target = [np.nan_to_num(weighted_mean(dice[:, t], weights)) for t in range(dice.shape[1])]
    return np.mean(per_target, axis=0)


def select_postprocessing(pred: Masks, truth: Masks, targets: tuple[str, ...],
                          groups: Sequence[str] | None = None
                          ) -> tuple[PostProcess, list[dict[str, Any]]]:
    """Greedy, nnU-Net style, under ``SELECTION_RULE``: each step is tried on top of those kept
    and stays on only for a gain beyond noise. ``groups`` are resampled together (default:
    each image alone)."""
    weights = bootstrap_weights(groups if groups is not None else range(len(pred)))
    chosen = PostProcess()
    best, best_draws = score(pred, truth, targets), resampled_score(pred, truth, weights)
    trials: list[dict[str, Any]] = [{"steps": "none", "score": best, "kept": True}]
    for step in postprocess.applicable_steps(targets):
        candidate = chosen.with_steps((*chosen.steps, step))
        processed = postprocess.apply(pred, targets, candidate)
        value, draws = score(processed, truth, targets), resampled_score(processed, truth, weights)
        noise = standard_error(draws - best_draws) or 0.0
        kept = value - best > max(MIN_GAIN, noise)
        trials.append({"steps": candidate.name, "score": value, "gain": value - best,
                       "gain_standard_error": noise, "kept": kept})
        if kept:
            chosen, best, best_draws = candidate, value, draws
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


def boundary_summaries(hd95: np.ndarray, misses: np.ndarray, classes: pd.Series,
                       weights: np.ndarray) -> dict[str, dict[str, Any]]:
    """Mean and median HD95 (pixels) per class and for all images, with the mean's interval
    and the count of total misses scored as the image diagonal (``metrics.hausdorff95``)."""
    out: dict[str, dict[str, Any]] = {}
    for cls in (*layout.CLASSES, "all"):
        rows = np.ones(len(classes), bool) if cls == "all" else (classes == cls).to_numpy()
        if not rows.any():
            continue
        values = hd95[rows]
        defined = values[~np.isnan(values)]
        out[cls] = {
            "hd95_mean": float(defined.mean()) if defined.size else None,
            "hd95_median": float(np.median(defined)) if defined.size else None,
            **ci_entry("hd95_mean", weighted_mean(values, weights[:, rows]), defined.size),
            "n_images_hd95": int(defined.size),
            "n_images_hd95_miss": int(misses[rows].sum()),
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
        correlation = weighted_correlation(p, t, w) if defined else np.array([np.nan])
        result |= ci_entry("pearson_r", correlation, len(p))
        result |= ci_entry("mae_percentage_points", weighted_mean(np.abs(p - t), w), len(p))
    return result


def per_image_table(rows: pd.DataFrame, pred: Masks, truth: Masks, targets: tuple[str, ...],
                    groups: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per image: class, native size, ``<target>_dice`` and ``<target>_iou``, the lungs'
    HD95, predicted and true areas (native pixels), severity."""
    counts = counts_of(pred, truth)
    dice, iou = dice_from_counts(counts).numpy(), iou_from_counts(counts).numpy()
    table = rows[["name", "cls"]].rename(columns={"name": "image"}).reset_index(drop=True)
    if groups is not None:
        table["patient"] = list(groups)
    table["height"] = [m.shape[-2] for m in truth]
    table["width"] = [m.shape[-1] for m in truth]
    for t, target in enumerate(targets):
        table[score_key(target, "dice")] = dice[:, t]
        table[score_key(target, "iou")] = iou[:, t]
        if target == "lung":
            table[score_key(target, "hd95")] = lung_hd95(pred, truth, t)
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


def load_model(checkpoint_path: str | Path, device: str = "auto") -> Model:
    """The checkpoint's network on ``device``, with the precision evaluation predicts in."""
    dev = resolve_device(device)
    state = checkpoint.load(checkpoint_path, dev)
    net, cfg = checkpoint.model_from(state, dev)
    return Model(state, net, cfg, dev, choose_precision(cfg.precision, dev))


def predict_split(model: Model, index: pd.DataFrame, split: str, progress: bool = True
                  ) -> Predicted:
    """The raw (thresholded, not post-processed) masks of ``split`` at native size."""
    targets = model.cfg.targets
    rows = select_split(index, model.cfg.part, split)
    inputs = load_decoded(rows, targets, model.cfg.image_size, progress=progress)
    truth = list(thread_map(lambda row: read_masks(row, targets).astype(bool),
                            [row for _, row in rows.iterrows()]))
    pred = predict_native(model.net, inputs.images, [m.shape[-2:] for m in truth], model.device,
                          model.precision)
    return Predicted(split, rows, truth, pred)


def patients_of(rows: pd.DataFrame, data_root: str | Path) -> list[str] | None:
    """Each image's patient where the copy's metadata names patients (else the image's name),
    or None when it names none: the bootstrap's resampling units."""
    patients = metadata(data_root)
    if not any(row.get("patientid") for row in patients.values()):
        return None  # no metadata, or metadata without patient ids (COVID-QU-Ex has none)
    return [patients.get(name, {}).get("patientid") or name for name in rows["name"]]


def choose_postprocessing(model: Model, index: pd.DataFrame, data_root: str | Path, split: str,
                          progress: bool = True) -> tuple[PostProcess, dict[str, Any]]:
    """The post-processing chosen on Val (all off when evaluating Val itself, or without Val),
    and how it was chosen."""
    if split == "Val" or "Val" not in set(index["split"]):
        why = "evaluating Val itself" if split == "Val" else "no Val split"
        return PostProcess(), {"split": None, "rule": f"{why}: all steps off"}
    val = predict_split(model, index, "Val", progress)
    chosen, trials = select_postprocessing(val.pred, val.truth, model.cfg.targets,
                                           patients_of(val.rows, data_root))
    return chosen, {"split": "Val", "rule": SELECTION_RULE, "min_gain": MIN_GAIN,
                    "trials": trials}


def score_split(test: Predicted, targets: tuple[str, ...], chosen: PostProcess,
                groups: list[str] | None = None) -> Evaluation:
    """Score one split's predictions under ``chosen``: per target and class with intervals
    (images resampled by ``groups``, default each alone), the ablation of every variant, the
    lungs' HD95 and the severity; and the per-image table."""
    pred = postprocess.apply(test.pred, targets, chosen)
    classes = test.rows["cls"].reset_index(drop=True)
    weights = bootstrap_weights(groups if groups is not None else list(test.rows["name"]))
    table = per_image_table(test.rows, pred, test.truth, targets, groups)
    scores: dict[str, Any] = {
        "metrics": class_summaries(counts_of(pred, test.truth), classes, targets, weights),
        "ablation": {"split": test.split, "variants": [
            {"steps": v.name, **_headline(summarize_counts(
                counts_of(postprocess.apply(test.pred, targets, v), test.truth), targets),
                targets)}
            for v in _variants(targets, chosen)]},
    }
    if "lung" in targets:
        misses = (table["pred_area_lung"] == 0) != (table["true_area_lung"] == 0)
        scores["boundary"] = {"lung": boundary_summaries(
            table[score_key("lung", "hd95")].to_numpy(), misses.to_numpy(), classes, weights)}
    if "infection" in targets:
        covid = (classes == "COVID-19").to_numpy()
        scores["severity"] = severity_agreement(
            table["severity_pred_percent"].to_numpy()[covid],
            table["severity_true_percent"].to_numpy()[covid], weights[:, covid])
    return Evaluation(scores, table)


def write_results(result: Evaluation, out_dir: str | Path) -> None:
    """``metrics.json`` and ``per_image.csv`` into ``out_dir``, atomically; a result that is not
    valid JSON fails before either is written."""
    text = json.dumps(result.metrics, indent=2, allow_nan=False) + "\n"
    out_dir = Path(out_dir)
    write_text(out_dir / PER_IMAGE_FILE, result.per_image.to_csv(index=False))
    write_text(out_dir / METRICS_FILE, text)


def evaluate(checkpoint_path: str | Path, data_root: str | Path, out_dir: str | Path,
             split: str = "Test", device: str = "auto",
             postprocessing: PostProcess | None = None, progress: bool = True,
             data_label: str | None = None) -> dict[str, Any]:
    """Evaluate a checkpoint on ``split`` at native size: writes ``metrics.json`` and
    ``per_image.csv`` into ``out_dir`` and returns the metrics (its data called
    ``data_label`` when given: ``sources.record``).

    ``postprocessing=None`` chooses it on Val and writes the choice beside the checkpoint
    (``RUN_DIR/postprocessing.json``) for ``predict``; a given one is applied as given.
    """
    model = load_model(checkpoint_path, device)
    index = build_index(data_root, parts=[model.cfg.part])
    fingerprints = {"fingerprint": data_fingerprint(index, data_root),
                    "copy_fingerprint": copy_fingerprint(data_root)}
    trained_on = provenance.record(model.state, describe(data_root).kind,
                                   fingerprints["fingerprint"])
    provenance.announce(trained_on)
    if postprocessing is None:
        chosen, selection = choose_postprocessing(model, index, data_root, split, progress)
    else:
        chosen, selection = postprocessing, {"split": None, "rule": "given by the caller"}
    test = predict_split(model, index, split, progress)
    groups = patients_of(test.rows, data_root)
    scored = score_split(test, model.cfg.targets, chosen, groups)
    run_id = model.state["run_id"]
    result = Evaluation({
        "run_id": run_id,
        "data": {**_data_record(model.cfg, test, data_root, groups, data_label),
                 **fingerprints},
        "training_data": trained_on,
        "checkpoint": {"path": display_path(checkpoint_path), "run_id": run_id,
                       "epoch": model.state["epoch"], "config": model.state["config"]},
        "definitions": {**DEFINITIONS, "scoring": NATIVE_SCORING, "ci95": CI_DEFINITION},
        "postprocessing": {**chosen.record(), "selection": selection},
        **scored.metrics,
    }, scored.per_image.assign(run_id=run_id))
    write_results(result, out_dir)
    if selection["split"] == "Val":
        _keep_choice(checkpoint_path, model.state, chosen, selection)
    return result.metrics


def _keep_choice(checkpoint_path: str | Path, state: dict[str, Any], chosen: PostProcess,
                 selection: dict[str, Any]) -> None:
    """Write the choice beside the checkpoint; a run folder that cannot take it is named on
    stderr (the evaluation stands, but ``predict`` will apply no post-processing)."""
    try:
        postprocess.save_choice(Path(checkpoint_path).parent, chosen, state, selection)
    except OSError as err:
        print(f"warning: could not write {postprocess.POSTPROCESSING_FILE} beside "
              f"{checkpoint_path} ({err.strerror}); `practical3 predict` will apply no "
              "post-processing", file=sys.stderr)


def _data_record(cfg: TrainConfig, test: Predicted, data_root: str | Path,
                 groups: list[str] | None, label: str | None = None) -> dict[str, Any]:
    """What was scored: the copy (source, place), part, split, counts and sizes."""
    classes = test.rows["cls"]
    sizes = sorted({tuple(m.shape[-2:]) for m in test.truth})
    return {
        **record(data_root, label), "part": cfg.part, "split": test.split,
        "n_images": len(test.rows),
        "images_per_class": {c: int((classes == c).sum()) for c in layout.CLASSES},
        "image_size": cfg.image_size, "scored_size": _scored_size(sizes),
        "resampled_by": "patient" if groups is not None else "image",
        "n_resampling_units": len(set(groups)) if groups is not None else len(test.rows),
    }


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
        for name in ("dice_imagewise", "iou_imagewise", "dice_dataset"):
            row[score_key(t, name)] = summary[t][name]
    if "infection" in targets:
        row["infection_healthy_fp_rate"] = summary["infection"]["healthy_fp_rate"]
    return row
