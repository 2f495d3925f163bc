"""What a report's findings rest on, computed from one evaluation's ``per_image.csv`` and
``metrics.json``: each comparison with its stated test, each rate with its exact interval.

- ``dice_by_size``: a target's Dice in thirds of its true area, with the images missed entirely;
- ``size_trend``: whether the Dice rises with the true area (Spearman);
- ``missed_entirely``: images with a target the prediction misses completely;
- ``healthy_fp_comparison``: Non-COVID against Normal healthy false positives (Fisher);
- ``averaging_rules``: one run's infection and lung scores under each averaging rule a paper
  may have used, so a cited number is set beside like with like;
- ``without_near_duplicates``: the headline scores with the Test images that have a
  near-duplicate in Train or Val left out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from practical3.scoring.metrics import HEALTHY_FP, score_key
from practical3.scoring.significance import (
    Comparison,
    exact_rate_interval,
    fisher_two_rates,
    rank_trend,
)
from practical3.scoring.summaries import healthy_fp_count

SIZE_BINS = 3  # images split into thirds of the true area
COVID = "COVID-19"


def _with_truth(per_image: pd.DataFrame, target: str) -> pd.DataFrame:
    return per_image[per_image[f"true_area_{target}"] > 0]


def dice_by_size(per_image: pd.DataFrame, target: str) -> list[dict[str, Any]]:
    """Imagewise Dice of ``target`` over the images whose truth is not empty, in ``SIZE_BINS``
    quantile bins of the true area (native pixels): each bin's smallest and largest area, its
    images, its mean Dice, and how many of them the prediction misses entirely (no pixel)."""
    scored = _with_truth(per_image, target)
    if len(scored) < SIZE_BINS:
        return []
    area = scored[f"true_area_{target}"]
    edges = np.unique(np.quantile(area, np.linspace(0, 1, SIZE_BINS + 1)))
    bins = pd.cut(area, edges, include_lowest=True)
    rows = []
    for _, group in scored.groupby(bins, observed=True):
        dice = group[score_key(target, "dice")].dropna()
        rows.append({"low": int(group[f"true_area_{target}"].min()),
                     "high": int(group[f"true_area_{target}"].max()),
                     "n_images": len(group), "dice": float(dice.mean()) if len(dice) else None,
                     "n_missed": int((group[f"pred_area_{target}"] == 0).sum())})
    return rows


def lesion_size_rows(per_image: pd.DataFrame) -> list[dict[str, Any]]:
    """``dice_by_size`` of the infection over the COVID-19 images."""
    return dice_by_size(per_image[per_image["cls"] == COVID], "infection")


def size_trend(per_image: pd.DataFrame, target: str) -> Comparison:
    """Spearman's rank correlation of an image's ``target`` Dice with its true area, over the
    images whose truth is not empty."""
    scored = _with_truth(per_image, target)
    return rank_trend(scored[f"true_area_{target}"].to_numpy(float),
                      scored[score_key(target, "dice")].to_numpy(float))


def missed_entirely(per_image: pd.DataFrame, target: str, cls: str | None = None
                    ) -> dict[str, Any]:
    """Of the images (of ``cls``) whose ``target`` truth is not empty, how many get no predicted
    pixel at all: k, n, the rate and its exact interval."""
    rows = per_image if cls is None else per_image[per_image["cls"] == cls]
    scored = _with_truth(rows, target)
    k, n = int((scored[f"pred_area_{target}"] == 0).sum()), len(scored)
    return {"k": k, "n": n, "rate": k / n if n else None, "rate_ci95": exact_rate_interval(k, n)}


def healthy_fp_comparison(infection: dict[str, dict[str, Any]], first: str = "Non-COVID",
                          second: str = "Normal") -> dict[str, Any]:
    """Fisher's exact test of two classes' healthy false-positive rates (``metrics.json``'s
    infection summaries), with each class's k and n."""
    counts = {cls: (healthy_fp_count(infection[cls]), infection[cls]["n_images_empty_truth"])
              if cls in infection and infection[cls][HEALTHY_FP] is not None else (0, 0)
              for cls in (first, second)}
    test = fisher_two_rates(*counts[first], *counts[second])
    return {"first": first, "second": second,
            **{f"{key}_{i}": value for i, cls in enumerate((first, second), 1)
               for key, value in zip(("k", "n"), counts[cls], strict=True)},
            **test.as_dict()}


def _imagewise(values: pd.Series) -> float | None:
    values = values.dropna()
    return float(values.mean()) if len(values) else None


def _pooled(rows: pd.DataFrame, target: str, metric: str) -> float | None:
    """Dice or IoU of the pooled pixel counts, from each image's score and areas."""
    dice, pred, true = (rows[score_key(target, "dice")].fillna(0.0),
                        rows[f"pred_area_{target}"], rows[f"true_area_{target}"])
    overlap = (dice * (pred + true) / 2).sum()
    total = (pred + true).sum()
    if total == 0:
        return None
    return float(2 * overlap / total if metric == "dice" else overlap / (total - overlap))


def averaging_rules(per_image: pd.DataFrame, target: str) -> list[dict[str, Any]]:
    """``target``'s Dice and IoU of one run under each averaging rule, named: per image over
    the images where the score is defined (both-empty left out), per image with both-empty
    images scored 1 (smp's ``zero_division=1``), pooled pixels; for the infection also per
    image and pooled over the COVID-19 images alone."""
    both_empty = (per_image[f"true_area_{target}"] == 0) & (per_image[f"pred_area_{target}"] == 0)
    groups = [("all images", per_image)]
    if target == "infection":
        groups.insert(0, ("COVID-19 images only", per_image[per_image["cls"] == COVID]))
    rows = []
    for name, rows_ in groups:
        empty = both_empty[rows_.index]
        rules = [("per image, both-empty images left out", len(rows_) - int(empty.sum()),
                  {m: _imagewise(rows_[score_key(target, m)]) for m in ("dice", "iou")})]
        if empty.any():
            rules.append(("per image, both-empty images scored 1 (smp zero_division=1)",
                          len(rows_), {m: _imagewise(rows_[score_key(target, m)].where(
                              ~empty, 1.0)) for m in ("dice", "iou")}))
        rules.append(("pooled pixels", len(rows_),
                      {m: _pooled(rows_, target, m) for m in ("dice", "iou")}))
        rows += [{"images": name, "rule": rule, "n_images": n, **scores}
                 for rule, n, scores in rules]
    return rows


def without_near_duplicates(per_image: pd.DataFrame, images: list[str]) -> dict[str, Any]:
    """The imagewise lung Dice (all images) and infection Dice (COVID-19 images) with the
    ``images`` left out, and the same over those images alone."""
    dropped = per_image["image"].isin(images)

    def scores(rows: pd.DataFrame) -> dict[str, Any]:
        covid = rows[rows["cls"] == COVID]
        out = {"n_images": len(rows), "lung_dice": _imagewise(rows[score_key("lung", "dice")])
               if score_key("lung", "dice") in rows else None}
        if score_key("infection", "dice") in rows:
            out |= {"n_covid": len(covid),
                    "covid_infection_dice": _imagewise(covid[score_key("infection", "dice")])}
        return out

    return {"kept": scores(per_image[~dropped]), "dropped": scores(per_image[dropped])}
