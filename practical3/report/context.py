"""What the report's placeholders may name: each model's results plus facts derived from them.

The report covers the models in a results folder: the Infection part's model (lung and
infection), the Lung part's model (lungs), or both, as the dataset's paper does (lungs from the
Lung part, infection from the Infection part). ``lung`` names the model whose lung scores are
reported, ``infection`` the one whose infection scores are (absent: falsy).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from practical3 import models
from practical3.data import layout
from practical3.evaluation.comparison import read
from practical3.evaluation.evaluate import MIN_GAIN
from practical3.evaluation.results import Results
from practical3.models.inspection import count_parameters
from practical3.plots.evaluation import FIGURES, figure_name
from practical3.report.formats import FORMATS, markdown_text, with_interval
from practical3.scoring.metrics import score_key
from practical3.scoring.uncertainty import LEVEL, MIN_IMAGES, RESAMPLES
from practical3.training.config import TrainConfig
from practical3.training.losses import LOSSES

SYNTHETIC_STATEMENT = ("These results come from synthetic phantoms, not chest X-rays: they "
                       "test the code and say nothing about how the model does on real X-rays.")
# Cited, not measured: the best network of the dataset's paper on the real COVID-QU-Ex test set.
REFERENCE = {
    "citation": "Tahir et al., Computers in Biology and Medicine 139 (2021) 105002",
    "protocol": ("the archive's own Test split, 256 px, the paper's best networks (U-Net, "
                 "U-Net++ and FPN compared, with larger encoders), on a GPU"),
    "lung": {"dice": 0.9799, "iou": 0.9611},
    "infection": {"dice": 0.8821, "iou": 0.8305},
}
# Cited: what the coursework this project grew from printed (imagewise means on its test set).
COURSEWORK = {"lung": {"dice": 0.5767, "iou": 0.9344},
              "infection": {"dice": 0.8692, "iou": 0.3421}}
LESION_BINS = 3  # COVID-19 test images split into terciles of true infected area
# What a results file's data block holds as the copy or the options gave it: escaped for Markdown.
COPY_TEXT = ("label", "credit", "dataset", "note")
NO_CLAIM = {"supported": False, "contradicted": False, "undecided": False}


def context(parts: dict[str, Results], comparison_dir: Path | None = None) -> dict[str, Any]:
    """The context of a report on the models in ``parts`` (part -> results), with the
    comparison in ``comparison_dir`` when it is on the same real data."""
    by_part = {part: model_context(results) for part, results in parts.items()}
    first = shown_data(next(iter(parts.values())).metrics["data"])
    covidqu = first["kind"] == "real" and first["dataset"] == "COVID-QU-Ex"
    compared = read(comparison_dir) if comparison_dir is not None else None
    same_data = compared is not None and compared["data"]["label"] == first["label"]
    lung = by_part.get("lung") or by_part["infection"]
    infection = by_part.get("infection")
    return {
        "data": first,
        "synthetic": first["kind"] == "synthetic",
        "covidqu": covidqu,
        "other_real": first["kind"] == "real" and not covidqu,
        "synthetic_statement": SYNTHETIC_STATEMENT,
        "infection": infection,
        "lung": lung,
        "claims": {"lung_classes": lung["discussion"]["lung_classes"],
                   **(infection["discussion"]["claims"] if infection else
                      {"opacity": NO_CLAIM, "lesion_size": NO_CLAIM})},
        "lung_part": "lung" in by_part,
        "both": len(by_part) == 2,
        "models": by_part,
        "patients_unknown": (first["kind"] != "synthetic"
                             and lung["data"].get("resampled_by") == "image"),
        "reference": REFERENCE,
        "coursework": coursework_rows(),
        "uncertainty": {"level": LEVEL, "resamples": RESAMPLES, "min_images": MIN_IMAGES},
        "selection": {"min_gain_points": 100 * MIN_GAIN},
        "comparison": compared if same_data and first["kind"] == "real" else None,
    }


def model_context(results: Results) -> dict[str, Any]:
    """One model: the keys of its ``metrics.json`` plus ``run``, ``config``, ``training``,
    ``model``, ``augment``, ``figures``, ``discussion``."""
    metrics, history = results.metrics, results.history
    cfg = metrics["checkpoint"]["config"]
    return {
        **metrics,
        "data": shown_data(metrics["data"]),
        "part": results.part,
        "part_name": layout.PARTS[results.part],
        "run": results.run,
        "config": cfg,
        "training": {
            "epochs_run": len(history),
            "best_val_score": float(history["val_score"].max()),
            "time_s": float(history["epoch_time_s"].sum()),
            "final_train_loss": float(history["train_loss"].iloc[-1]),
            "final_val_loss": float(history["val_loss"].iloc[-1]),
        },
        "model": {
            "parameters": count_parameters(TrainConfig.from_dict(cfg).build_model()),
            "bottleneck_channels": cfg["base_channels"] * 2 ** cfg["depth"],
            "summary": models.MODELS[cfg["model"]].description,
            "loss_summary": LOSSES[cfg["loss"]].description,
        },
        "augment": results.run["augmentation"] or {},
        "figures": {figure.split("_", 1)[1]: f"{figure_name(figure, results.part)}.png"
                    for figure in FIGURES},
        "discussion": discussion(results),
    }


def shown_data(data: dict[str, Any]) -> dict[str, Any]:
    """A results file's data block with the text the copy or the options gave (its label, credit,
    name and README prose) escaped for Markdown (``markdown_text``)."""
    return {**data, **{key: markdown_text(data[key]) for key in COPY_TEXT
                       if isinstance(data.get(key), str)}}


def discussion(results: Results) -> dict[str, Any]:
    """Where the errors fall, and which of the discussion's findings the numbers support: the
    weakest class per target, the headline scores with their intervals, the healthy false
    positives by class, and infection Dice by lesion size."""
    facts: dict[str, Any] = {}
    for target, by_class in results.metrics["metrics"].items():
        scored = {c: s["dice_imagewise"] for c, s in by_class.items()
                  if c != "all" and s["dice_imagewise"] is not None}
        if scored:
            worst = min(scored, key=scored.get)
            facts[target] = {"worst_class": worst, "worst_dice": scored[worst],
                             "best_dice": max(scored.values())}
        if target == "lung":
            facts["lung_classes"] = verdict(len(scored) >= 2, True)
            facts["lung_sizes"] = dice_by_size(results.per_image, "lung")
            facts["lung_dice_text"] = with_interval(by_class["all"], "dice_imagewise")
    if "infection" in results.targets:
        infection = results.metrics["metrics"]["infection"]
        covid = infection.get("COVID-19", {"dice_imagewise": None})
        facts["covid_infection_dice"] = covid["dice_imagewise"]
        facts["covid_infection_dice_text"] = with_interval(covid, "dice_imagewise")
        healthy = [f"{FORMATS['pct'](s['healthy_fp_rate'])} of the {cls} images"
                   for cls, s in infection.items() if cls not in ("all", "COVID-19")
                   and s["healthy_fp_rate"] is not None]
        facts["healthy_fp_by_class"] = " and ".join(healthy) or "no healthy image (none to score)"
        facts["lesion_sizes"] = lesion_size_rows(results.per_image)
        facts["claims"] = {"opacity": opacity_claim(infection),
                           "lesion_size": lesion_size_claim(facts["lesion_sizes"])}
    return facts


def verdict(decided: bool, holds: bool) -> dict[str, bool]:
    """A finding's three states, for the template's conditionals: the numbers decide it and
    support it, decide it and contradict it, or are too few to decide."""
    return {"supported": decided and holds, "contradicted": decided and not holds,
            "undecided": not decided}


def opacity_claim(infection: dict[str, dict[str, Any]]) -> dict[str, bool]:
    """"The false positives come from Non-COVID opacities": Non-COVID's healthy false-positive
    rate is above Normal's; decided when both classes have ``MIN_IMAGES`` healthy images."""
    rates = [infection.get(cls, {}) for cls in ("Non-COVID", "Normal")]
    decided = all(r.get("n_images_empty_truth", 0) >= MIN_IMAGES
                  and r.get("healthy_fp_rate") is not None for r in rates)
    return verdict(decided, decided and rates[0]["healthy_fp_rate"] > rates[1]["healthy_fp_rate"])


def lesion_size_claim(rows: list[dict[str, Any]]) -> dict[str, bool]:
    """"The Dice of an image falls with the size of its lesion": each size bin's Dice is above
    the smaller bin's; decided with two bins or more and ``MIN_IMAGES`` images in all."""
    dice = [row["dice"] for row in rows]
    decided = (len(rows) >= 2 and None not in dice
               and sum(row["n_images"] for row in rows) >= MIN_IMAGES)
    return verdict(decided, decided and all(a < b for a, b in itertools.pairwise(dice)))


def lesion_size_rows(per_image: pd.DataFrame) -> list[dict[str, Any]]:
    """Imagewise infection Dice of COVID-19 images in terciles of true infected area
    (native pixels)."""
    return dice_by_size(per_image[per_image["cls"] == "COVID-19"], "infection")


def dice_by_size(per_image: pd.DataFrame, target: str) -> list[dict[str, Any]]:
    """Imagewise Dice of ``target`` over the images where its truth is not empty, in
    ``LESION_BINS`` quantile bins of its true area (native pixels): where the errors fall."""
    scored = per_image[per_image[f"true_area_{target}"] > 0]
    if len(scored) < LESION_BINS:
        return []
    edges = np.quantile(scored[f"true_area_{target}"], np.linspace(0, 1, LESION_BINS + 1))
    bins = pd.cut(scored[f"true_area_{target}"], np.unique(edges), include_lowest=True)
    rows = []
    for interval, group in scored.groupby(bins, observed=True):
        dice = group[score_key(target, "dice")].dropna()
        rows.append({"low": float(interval.left), "high": float(interval.right),
                     "n_images": len(group), "dice": float(dice.mean()) if len(dice) else None})
    return rows


def coursework_rows() -> list[dict[str, Any]]:
    """The coursework's printed numbers beside the range its IoU allows for a mean Dice:
    IoU <= mean Dice <= 2 IoU / (1 + IoU) (Dice = 2 IoU / (1 + IoU) per image, which is concave)."""
    rows = []
    for target, printed in COURSEWORK.items():
        low, high = printed["iou"], 2 * printed["iou"] / (1 + printed["iou"])
        rows.append({"target": target, **printed, "low": low, "high": high,
                     "possible": low <= printed["dice"] <= high})
    return rows
