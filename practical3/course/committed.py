"""The committed real COVID-QU-Ex report in the notebooks: its figures and its scores, seen
without a Kaggle account or a training (``report_place("real")``: ``figures/`` and
``report/results/``, drawn by ``make figures DATA=...`` from real X-rays)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from practical3.base.errors import ResultsError
from practical3.base.paths import report_place
from practical3.evaluation.results import Results, load

SCORE_COLUMNS = ["dice_imagewise", "dice_imagewise_ci95", "iou_imagewise", "dice_dataset",
                 "healthy_fp_rate", "n_images_scored", "n_images"]


def real_figure(name: str, width: int = 900) -> Any:
    """The committed real figure ``name`` (``figures/<name>.png``) for display in a notebook;
    a ResultsError names the command that draws it when it is absent."""
    from IPython.display import Image

    path = report_place("real").figures / f"{name}.png"
    if not path.is_file():
        raise ResultsError(f"{path}: not found; `make figures DATA=/path/to/covidqu` draws the "
                           "real figures (a clone of the course has them committed)")
    return Image(filename=str(path), width=width)


def real_results(part: str = "infection") -> Results:
    """The committed real report's results folder of ``part``'s model."""
    return load(Path(report_place("real").results) / part)


def score_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """Scores per target and class of a ``metrics.json``: imagewise Dice with its interval,
    IoU, pooled Dice, healthy false-positive rate, images scored and images."""
    return pd.concat({target: pd.DataFrame(by_class).T[SCORE_COLUMNS]
                      for target, by_class in metrics["metrics"].items()})
