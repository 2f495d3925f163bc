"""What the report's placeholders may name: each model's results plus facts derived from them.

The report covers the models in a results folder: the Infection part's model (lung and
infection), the Lung part's model (lungs), or both, as the dataset's paper does (lungs from the
Lung part, infection from the Infection part). ``lung`` names the model whose lung scores are
reported, ``infection`` the one whose infection scores are (absent: falsy).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from practical3 import models
from practical3.data import layout
from practical3.evaluation.comparison import read
from practical3.evaluation.evaluate import MIN_GAIN
from practical3.evaluation.results import Results
from practical3.models.inspection import count_parameters
from practical3.plots.evaluation import FIGURES, figure_name
from practical3.report.formats import FORMATS, markdown_text, p_text, with_interval
from practical3.scoring.findings import (
    COVID,
    averaging_rules,
    dice_by_size,
    healthy_fp_comparison,
    lesion_size_rows,
    missed_entirely,
    size_trend,
    without_near_duplicates,
)
from practical3.scoring.metrics import score_key
from practical3.scoring.significance import ALPHA, two_samples
from practical3.scoring.summaries import healthy_fp_count
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
# What a results file's data block holds as the copy or the options gave it: escaped for Markdown.
COPY_TEXT = ("label", "credit", "dataset", "note")
NO_CLAIM = {"supported": False, "contradicted": False, "undecided": False, "untested": True,
            "test": None, "p": "no test possible"}


# The headline numbers the report gives with their training spread over seeds: (model, the
# number's name in the spread file, what it is, its format).
SPREAD_HEADLINES = (
    ("lung", "lung all dice_imagewise", "lung Dice, imagewise, all images", "pct"),
    ("infection", "infection COVID-19 dice_imagewise", "infection Dice, imagewise, COVID-19 "
     "images", "pct"),
    ("infection", "infection COVID-19 missed_entirely", "COVID-19 images with the infection "
     "missed entirely", "int"),
    ("infection", "infection COVID-19 dice_dataset", "infection Dice, pooled, COVID-19 images",
     "pct"),
    ("infection", "infection Non-COVID healthy_fp_rate", "healthy FP rate, Non-COVID", "pct"),
    ("infection", "infection Normal healthy_fp_rate", "healthy FP rate, Normal", "pct"),
    ("infection", "severity bias_pp", "severity bias (predicted - true)", "pp"),
    ("infection", "severity mae_percentage_points", "severity mean absolute error", "pp"),
    ("lung", "lung all hd95_mean", "lung HD95, mean (px)", "num"),
)


def context(parts: dict[str, Results], comparison_dir: Path | None = None,
            spread: dict[str, Any] | None = None) -> dict[str, Any]:
    """The context of a report on the models in ``parts`` (part -> results), with the
    comparison in ``comparison_dir`` when it is on the same real data and the training spread
    ``spread`` (``seed_spread.spread_of``) when it was measured for these runs."""
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
        "real": first["kind"] != "synthetic",
        "covidqu": covidqu,
        "other_real": first["kind"] == "real" and not covidqu,
        "synthetic_statement": SYNTHETIC_STATEMENT,
        "infection": infection,
        "lung": lung,
        "claims": {"lung_classes": lung["discussion"]["lung_classes"],
                   **(infection["discussion"]["claims"] if infection else
                      {"opacity": NO_CLAIM, "lesion_size": NO_CLAIM,
                       "severity_bias": NO_CLAIM})},
        "lung_part": "lung" in by_part,
        "both": len(by_part) == 2,
        "models": by_part,
        "patients_unknown": (first["kind"] != "synthetic"
                             and lung["data"].get("resampled_by") == "image"),
        "reference": REFERENCE,
        "coursework": coursework_rows(),
        "uncertainty": {"level": LEVEL, "resamples": RESAMPLES, "min_images": MIN_IMAGES,
                        "alpha": ALPHA},
        "selection": {"min_gain_points": 100 * MIN_GAIN},
        "comparison": compared if same_data and first["kind"] == "real" else None,
        "spread": spread_rows(by_part, spread),
        "near_duplicates": near_duplicate_facts(next(iter(parts.values()))),
    }


def spread_rows(by_part: dict[str, dict[str, Any]], spread: dict[str, Any] | None
                ) -> dict[str, Any] | None:
    """The ``SPREAD_HEADLINES`` this report has, each with this run's value and its spread
    over seeds; None when no spread was measured for these runs."""
    if spread is None:
        return None
    rows = []
    for model_name, name, label, kind in SPREAD_HEADLINES:
        part = "lung" if model_name == "lung" and "lung" in by_part else "infection"
        numbers = spread["parts"].get(part, {}).get("numbers", {})
        if part not in by_part or name not in numbers:
            continue
        seed = by_part[part]["config"]["seed"]
        values = dict(zip(spread["seeds"], numbers[name]["values"], strict=True))
        rows.append({"label": label, "kind": kind, "seed": seed, "this": values.get(seed),
                     "values": numbers[name]["values"], "mean": numbers[name]["mean"],
                     "sd": numbers[name]["sd"]})
    seeds = [str(seed) for seed in spread["seeds"]]
    return {"seeds": spread["seeds"], "machine": spread["machine"], "rows": rows,
            "seeds_text": ", ".join(seeds[:-1]) + f" and {seeds[-1]}"}


def near_duplicate_facts(results: Results) -> dict[str, Any]:
    """The Test images with a near-duplicate in Train or Val (``metrics.json``, from
    ``data.near_duplicates``) and the headline scores without them; ``searched`` is False for
    results that predate the search."""
    found = results.metrics.get("near_duplicates")
    if found is None:
        return {"searched": False, "n_pairs": 0}
    images = [pair["image"] for pair in found["pairs"]]
    return {**found, "searched": True, "n_pairs": len(images),
            "scores": without_near_duplicates(results.per_image, images)}


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
        "averaging_rules": {target: averaging_rules(results.per_image, target)
                            for target in results.targets},
    }


def shown_data(data: dict[str, Any]) -> dict[str, Any]:
    """A results file's data block with the text the copy or the options gave (its label, credit,
    name and README prose) escaped for Markdown (``markdown_text``)."""
    return {**data, **{key: markdown_text(data[key]) for key in COPY_TEXT
                       if isinstance(data.get(key), str)}}


def discussion(results: Results) -> dict[str, Any]:
    """Where the errors fall, and which comparisons a stated test decides: the weakest class
    per target, the headline scores with their intervals, the infection missed entirely, the
    healthy false positives by class, the severity's bias and Dice by lesion size."""
    facts: dict[str, Any] = {}
    per_image = results.per_image
    for target, by_class in results.metrics["metrics"].items():
        scored = {c: s["dice_imagewise"] for c, s in by_class.items()
                  if c != "all" and s["dice_imagewise"] is not None}
        if scored:
            worst, best = min(scored, key=scored.get), max(scored, key=scored.get)
            dice = score_key(target, "dice")
            test = two_samples(*(per_image.loc[per_image["cls"] == c, dice].to_numpy(float)
                                 for c in (worst, best)))
            facts[target] = {"worst_class": worst, "worst_dice": scored[worst],
                             "best_class": best, "best_dice": scored[best],
                             "test": test.as_dict()}
        if target == "lung":
            test = facts.get("lung", {}).get("test", {})
            facts["lung_classes"] = claim(test if len(scored) >= 2 else None, True)
            facts["lung_sizes"] = dice_by_size(per_image, "lung")
            facts["lung_dice_text"] = with_interval(by_class["all"], "dice_imagewise")
    if "infection" in results.targets:
        infection = results.metrics["metrics"]["infection"]
        covid = infection.get(COVID, {"dice_imagewise": None})
        facts["covid_infection_dice"] = covid["dice_imagewise"]
        facts["covid_infection_dice_text"] = with_interval(covid, "dice_imagewise")
        facts["covid_missed"] = missed_entirely(per_image, "infection", COVID)
        healthy = [f"{FORMATS['pct'](s['healthy_fp_rate'])} "
                   f"{FORMATS['ci'](s.get('healthy_fp_rate_ci95'))} of the {cls} images "
                   f"({healthy_fp_count(s)} of {s['n_images_empty_truth']})"
                   for cls, s in infection.items() if cls not in ("all", COVID)
                   and s["healthy_fp_rate"] is not None]
        facts["healthy_fp_by_class"] = " and ".join(healthy) or "no healthy image (none to score)"
        opacity = healthy_fp_comparison(infection)
        facts["healthy_fp_test"] = opacity
        facts["lesion_sizes"] = lesion_size_rows(per_image)
        trend = size_trend(per_image[per_image["cls"] == COVID], "infection")
        facts["lesion_trend"] = trend.as_dict()
        smallest = facts["lesion_sizes"][0] if facts["lesion_sizes"] else {}
        facts["smallest_third"] = smallest
        bias = (results.metrics.get("severity") or {}).get("bias_test")
        facts["claims"] = {
            "opacity": claim(opacity if opacity["n_1"] and opacity["n_2"] else None,
                             (opacity["k_1"] / max(opacity["n_1"], 1))
                             > (opacity["k_2"] / max(opacity["n_2"], 1))),
            "lesion_size": claim(trend.as_dict(), (trend.statistic or 0) > 0),
            "severity_bias": claim(bias, True)}
    return facts


def claim(test: dict[str, Any] | None, holds: bool) -> dict[str, Any]:
    """A comparison's states for the template's conditionals, decided by its stated ``test``
    (``significance.Comparison.as_dict``): supported (significant, in the stated direction),
    contradicted (significant, the other way), or no evidence of a difference (not significant,
    or no test possible: ``untested``); with its test's name and p-value."""
    significant = bool(test and test["significant"])
    return {"supported": significant and holds, "contradicted": significant and not holds,
            "undecided": not significant, "untested": test is None or test["p_value"] is None,
            "test": (test or {}).get("test"), "p": p_text((test or {}).get("p_value"))}


def coursework_rows() -> list[dict[str, Any]]:
    """The coursework's printed numbers beside the range its IoU allows for a mean Dice:
    IoU <= mean Dice <= 2 IoU / (1 + IoU) (Dice = 2 IoU / (1 + IoU) per image, which is concave)."""
    rows = []
    for target, printed in COURSEWORK.items():
        low, high = printed["iou"], 2 * printed["iou"] / (1 + printed["iou"])
        rows.append({"target": target, **printed, "low": low, "high": high,
                     "possible": low <= printed["dice"] <= high})
    return rows
