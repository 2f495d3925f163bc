"""The cases a figure shows: the best, median and worst test image of each class, predicted
again by the evaluated checkpoint at native size, handed over as arrays (``plots.evaluation``
draws them and loads nothing)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from practical3.base.errors import ResultsError
from practical3.base.paths import stored_path
from practical3.data import layout
from practical3.data.decode import read_sample
from practical3.data.index import build_index, select_split
from practical3.data.sources import showable
from practical3.evaluation import postprocess
from practical3.evaluation.inference import load_model, predict_images
from practical3.evaluation.postprocess import PostProcess
from practical3.evaluation.results import Results
from practical3.scoring.metrics import score_key

CASES = ("best", "median", "worst")


@dataclass(frozen=True)
class Cases:
    """The picked rows of ``per_image.csv`` (with their ``case``) and, row for row, the image,
    its true masks and the post-processed prediction; ``shareable`` of ``total`` test images
    could be shown (``sources.showable``)."""

    rows: pd.DataFrame
    images: list[np.ndarray]
    truth: list[np.ndarray]
    pred: list[np.ndarray]
    shareable: int
    total: int


def shareable_cases(results: Results, cases: tuple[str, ...] = CASES, device: str = "auto"
                    ) -> Cases:
    """``pick_cases`` among the test images whose licence allows showing them, predicted."""
    root = stored_path(results.metrics["data"]["root"])
    shareable = results.per_image["image"].map(lambda name: showable(root, name))
    picked = pick_cases(results.per_image[shareable], cases)
    images, truth, pred = predict_cases(results, picked, device)
    return Cases(picked, images, truth, pred, int(shareable.sum()), len(shareable))


def pick_cases(per_image: pd.DataFrame, cases: tuple[str, ...] = CASES) -> pd.DataFrame:
    """Per class, the best, median and worst image by mean per-image Dice over the targets.

    A class with fewer images gives fewer cases (best and worst first, never one image twice);
    images whose Dice is undefined for every target cannot be ranked and are never picked.
    """
    dice = per_image[[score_key(t, "dice") for t in layout.ALL_TARGETS
                      if score_key(t, "dice") in per_image]]
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
    model = load_model(path, device)
    found = (model.state.get("run_id"), model.state["epoch"])
    if found != (evaluated["run_id"], evaluated["epoch"]):
        raise ResultsError(f"{path} now holds run {found[0]} epoch {found[1]}, not the evaluated "
                           f"run {evaluated['run_id']} epoch {evaluated['epoch']}: evaluate it "
                           "again before drawing the overlays")
    targets = model.cfg.targets
    index = build_index(stored_path(results.metrics["data"]["root"]), parts=[model.cfg.part])
    rows = select_split(index, model.cfg.part, results.metrics["data"]["split"]).set_index(
        ["cls", "name"])
    samples = [read_sample(rows.loc[key], targets)
               for key in zip(cases["cls"], cases["image"], strict=True)]
    images = [image for image, _ in samples]
    chosen = PostProcess.from_record(results.metrics["postprocessing"])
    return images, [masks.astype(bool) for _, masks in samples], postprocess.apply(
        predict_images(model, images), targets, chosen)
