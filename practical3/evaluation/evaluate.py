"""Evaluation of a checkpoint on one split, scored at each image's native size.

``evaluate`` orchestrates, top-down: load the model (``inference.load_model``), choose the
post-processing on Val (``choose_on_val``), predict the split at native size
(``predict_split``), score it (``score_split``; the math is ``scoring``'s: Dice and IoU per
target and class, the lungs' HD95, severity, bootstrap and exact intervals), find the split's
near-duplicates in the other splits (``data.near_duplicates``) and write ``metrics.json`` and
``per_image.csv`` as one set (``write_results``). The post-processing chosen on Val is
written beside the checkpoint (``RUN_DIR/postprocessing.json``), where ``practical3 predict``
applies it.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from practical3.base.atomic import staged, write_text
from practical3.base.parallel import thread_map
from practical3.base.paths import display_path
from practical3.data import layout
from practical3.data.cache import load_decoded
from practical3.data.decode import read_masks
from practical3.data.fingerprint import data_fingerprint
from practical3.data.index import build_index, select_split
from practical3.data.near_duplicates import near_duplicates
from practical3.data.sources import describe, metadata, record
from practical3.evaluation import postprocess, provenance
from practical3.evaluation.inference import NATIVE_SCORING, LoadedModel, load_model, predict_native
from practical3.evaluation.postprocess import PostProcess
from practical3.evaluation.results import METRICS_FILE, PER_IMAGE_FILE, copy_fingerprint
from practical3.scoring.metrics import DEFINITIONS, counts_of, score_key, summarize_counts
from practical3.scoring.per_image import per_image_table
from practical3.scoring.selection import MIN_GAIN, SELECTION_RULE
from practical3.scoring.severity import severity_agreement
from practical3.scoring.summaries import boundary_summaries, class_summaries, headline
from practical3.scoring.uncertainty import CI_DEFINITION, bootstrap_weights


@dataclass
class Predicted:
    """One split predicted at native size: its index rows, the true and the raw predicted
    (thresholded, not post-processed) masks, one boolean (T, H, W) array per image."""

    split: str
    rows: pd.DataFrame
    truth: list[np.ndarray]
    pred: list[np.ndarray]


@dataclass
class Evaluation:
    """What ``score_split`` returns: ``metrics.json``'s content and ``per_image.csv``'s rows."""

    metrics: dict[str, Any]
    per_image: pd.DataFrame


def evaluate(checkpoint_path: str | Path, data_root: str | Path, out_dir: str | Path,
             split: str = "Test", device: str = "auto",
             postprocessing: PostProcess | None = None, progress: bool = True,
             data_label: str | None = None) -> dict[str, Any]:
    """Evaluate a checkpoint on ``split`` at native size: writes ``metrics.json`` and
    ``per_image.csv`` into ``out_dir`` and returns the metrics.

    ``postprocessing=None`` chooses it on Val and writes the choice beside the checkpoint
    (``RUN_DIR/postprocessing.json``) for ``predict``; a given one is applied as given.
    ``data_label`` names a real copy in what is recorded (default: its README's name).

    Example::

        metrics = evaluate("runs/infection/best.pt", "data/synthetic", "runs/eval")
        metrics["metrics"]["lung"]["all"]["dice_imagewise"]
    """
    model = load_model(checkpoint_path, device)
    index = build_index(data_root, parts=[model.cfg.part])
    fingerprints = {"fingerprint": data_fingerprint(index, data_root),
                    "copy_fingerprint": copy_fingerprint(data_root)}
    trained_on = provenance.record(model.state, describe(data_root, data_label).kind,
                                   fingerprints["fingerprint"])
    provenance.announce(trained_on)
    if postprocessing is None:
        chosen, selection = choose_on_val(model, index, data_root, split, progress)
    else:
        chosen, selection = postprocessing, {"split": None, "rule": "given by the caller"}
    test = predict_split(model, index, split, progress)
    groups = patients_of(test.rows, data_root)
    scored = score_split(test, model.cfg.targets, chosen, groups)
    run_id = model.state["run_id"]
    data = {**record(data_root, label=data_label), **_scored_data(model, test, groups),
            **fingerprints}
    result = Evaluation({
        "run_id": run_id,
        "data": data,
        "training_data": trained_on,
        "checkpoint": {"path": display_path(checkpoint_path), "run_id": run_id,
                       "epoch": model.state["epoch"], "config": model.state["config"]},
        "definitions": {**DEFINITIONS, "scoring": NATIVE_SCORING, "ci95": CI_DEFINITION},
        "postprocessing": {**chosen.record(), "selection": selection},
        **scored.metrics,
        "near_duplicates": near_duplicates(index, split),
    }, scored.per_image.assign(run_id=run_id))
    write_results(result, out_dir)
    if selection["split"] == "Val":
        _keep_choice(checkpoint_path, model.state, chosen, selection)
    return result.metrics


def choose_on_val(model: LoadedModel, index: pd.DataFrame, data_root: str | Path, split: str,
                  progress: bool = True) -> tuple[PostProcess, dict[str, Any]]:
    """The post-processing ``postprocess.choose_steps`` keeps on Val's predictions (all off
    when evaluating Val itself, or without Val), and how it was chosen."""
    if split == "Val" or "Val" not in set(index["split"]):
        why = "evaluating Val itself" if split == "Val" else "no Val split"
        return PostProcess(), {"split": None, "rule": f"{why}: all steps off"}
    val = predict_split(model, index, "Val", progress)
    chosen, trials = postprocess.choose_steps(val.pred, val.truth, model.cfg.targets,
                                              patients_of(val.rows, data_root))
    return chosen, {"split": "Val", "rule": SELECTION_RULE, "min_gain": MIN_GAIN,
                    "trials": trials}


def predict_split(model: LoadedModel, index: pd.DataFrame, split: str, progress: bool = True
                  ) -> Predicted:
    """The raw (thresholded, not post-processed) masks of ``split`` at native size, beside its
    true masks as they are on disk."""
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
            {"steps": v.name, **headline(summarize_counts(
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
    """``metrics.json`` and ``per_image.csv`` into ``out_dir`` as one set (``atomic.staged``):
    both are written aside, the old ``metrics.json`` is withdrawn, then ``per_image.csv`` and
    ``metrics.json`` are moved in, so a ``metrics.json`` never stands beside the
    ``per_image.csv`` of another evaluation, even after a kill. A result that is not valid
    JSON fails before either is written."""
    text = json.dumps(result.metrics, indent=2, allow_nan=False) + "\n"
    with staged(out_dir, last=METRICS_FILE) as stage:
        write_text(stage / PER_IMAGE_FILE, result.per_image.to_csv(index=False))
        write_text(stage / METRICS_FILE, text)


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


def _scored_data(model: LoadedModel, test: Predicted, groups: list[str] | None
                 ) -> dict[str, Any]:
    """What was scored, beside the copy's record: part, split, counts, sizes, resampling."""
    classes = test.rows["cls"]
    sizes = sorted({tuple(m.shape[-2:]) for m in test.truth})
    return {
        "part": model.cfg.part, "split": test.split, "n_images": len(test.rows),
        "images_per_class": {c: int((classes == c).sum()) for c in layout.CLASSES},
        "image_size": model.cfg.image_size, "scored_size": _scored_size(sizes),
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
