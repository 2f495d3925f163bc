"""A comparison's results files: ``OUT/comparison.json``, one row per setting with the run ids
it aggregates, and ``OUT/runs.json``, every one of those runs' four results files verbatim
(one file rather than a folder per run, so a comparison holds no ``metrics.json`` that could be
taken for the report's).

``practical3 compare`` writes it (``practical3.compare``); the README's and the report's tables
are drawn from it, and ``consistency`` recomputes every row from its runs' results, so those
tables cannot drift from the runs.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from practical3.base.errors import ResultsError
from practical3.base.text import fmt
from practical3.evaluation.results import MAKERS, Results, load
from practical3.models.inspection import count_parameters, forward_flops
from practical3.scoring.metrics import HEALTHY_FP, score_key
from practical3.training.config import TrainConfig

COMPARISON_FILE = "comparison.json"
RUNS_FILE = "runs.json"
TOLERANCE = 1e-9
# A row's scores beside the per-target Dice and IoU (``score_key`` names, as in metrics.json).
LUNG_HD95 = score_key("lung", "hd95_mean")
COVID_INFECTION_DICE = "covid_" + score_key("infection", "dice_imagewise")
HEALTHY_FP_RATE = score_key("infection", HEALTHY_FP)
TRAIN_MINUTES = "train_minutes"
ON_TEST = ("Scored on Test: this table describes the settings and may not be used to choose "
           "between them (that would select on Test); compare on Val, the default, to choose.")


def read(out_dir: str | Path) -> dict[str, Any]:
    """The comparison in ``out_dir`` (one written before the split was recorded was scored on
    Test); a ResultsError when there is none."""
    path = Path(out_dir) / COMPARISON_FILE
    if not path.is_file():
        raise ResultsError(f"{path}: no comparison; write one with `practical3 compare`")
    return {"split": "Test", **json.loads(path.read_text())}


def pack(results_dirs: Iterable[Path]) -> dict[str, dict[str, str]]:
    """The four results files of each folder as text, by the run id the folder holds."""
    packed = {}
    for folder in results_dirs:
        packed[load(folder).run_id] = {name: (folder / name).read_text(encoding="utf-8")
                                       for name in sorted(MAKERS)}
    return packed


def unpack(packed: dict[str, dict[str, str]], run_ids: list[str]) -> list[Results]:
    """``run_ids``' results from ``pack``'s mapping, read as any results folder is; a
    ResultsError names a run that is not there."""
    missing = [run_id for run_id in run_ids if run_id not in packed]
    if missing:
        raise ResultsError(f"{RUNS_FILE} lacks run(s) {', '.join(missing)}; "
                           "run the comparison again with `practical3 compare`")
    with tempfile.TemporaryDirectory() as scratch:
        folders = []
        for run_id in run_ids:
            folder = Path(scratch) / run_id
            folder.mkdir()
            for name, text in packed[run_id].items():
                (folder / name).write_text(text, encoding="utf-8")
            folders.append(folder)
        return [load(folder) for folder in folders]


def summarize(runs: list[Results], cfg: TrainConfig) -> dict[str, Any]:
    """Mean and standard deviation over seeds of the headline scores of ``runs``."""
    model = cfg.build_model()
    scores = [headline(r) for r in runs]
    return {
        "run_ids": [r.run_id for r in runs],
        "parameters": count_parameters(model),
        "gflop_per_image": forward_flops(model, cfg.image_size) / 1e9,
        **{name: mean_std([s[name] for s in scores]) for name in scores[0]},
    }


def headline(results: Results) -> dict[str, float | None]:
    """The headline scores of a run, read from its results files and named as in them: the
    split's Dice and IoU (imagewise) per target, the lungs' mean HD95, the COVID-19 images'
    infection Dice and the healthy false-positive rate, and the training time."""
    metrics = results.metrics["metrics"]
    scores = {score_key(t, s): metrics[t]["all"][s]
              for t in results.targets for s in ("dice_imagewise", "iou_imagewise")}
    scores[LUNG_HD95] = results.metrics["boundary"]["lung"]["all"]["hd95_mean"]
    if "infection" in results.targets:
        scores[COVID_INFECTION_DICE] = metrics["infection"]["COVID-19"]["dice_imagewise"]
        scores[HEALTHY_FP_RATE] = metrics["infection"]["all"][HEALTHY_FP]
    scores[TRAIN_MINUTES] = float(results.history["epoch_time_s"].sum()) / 60
    return scores


def mean_std(values: list[float | None]) -> dict[str, float | None]:
    """Mean and sample standard deviation over the defined values (None when none is)."""
    defined = np.array([v for v in values if v is not None], float)
    return {"mean": float(defined.mean()) if defined.size else None,
            "std": float(defined.std(ddof=1)) if defined.size > 1 else None}


def consistency(out_dir: str | Path) -> list[str]:
    """Every row of ``OUT/comparison.json`` whose aggregates differ from its runs' results."""
    out_dir = Path(out_dir)
    comparison = read(out_dir)
    runs_file = out_dir / RUNS_FILE
    if not runs_file.is_file():
        return [f"{runs_file}: missing; run the comparison again with `practical3 compare`"]
    packed = json.loads(runs_file.read_text(encoding="utf-8"))
    problems = []
    for row in comparison["rows"]:
        try:
            runs = unpack(packed, row["run_ids"])
        except ResultsError as err:
            problems.append(f"{runs_file}: row {row['setting']}: {err}")
            continue
        problems += [f"{runs_file}: run {run_id} holds the results of run {r.run_id}"
                     for run_id, r in zip(row["run_ids"], runs, strict=True)
                     if r.run_id != run_id]
        scores = [headline(r) for r in runs]
        for name in scores[0]:
            again = mean_std([s[name] for s in scores])
            if not _close(again, row[name]):
                problems.append(f"{out_dir}/{COMPARISON_FILE}: row {row['setting']} {name} "
                                f"{row[name]} differs from its runs' results ({again})")
    return problems


def _close(a: dict[str, float | None], b: dict[str, float | None]) -> bool:
    return all((a[k] is None and b[k] is None) or (a[k] is not None and b[k] is not None
               and abs(a[k] - b[k]) <= TOLERANCE) for k in ("mean", "std"))


HEADINGS = {score_key(t, f"{m}_imagewise"): f"{t} {title} %"
            for t in ("lung", "infection") for m, title in (("dice", "Dice"), ("iou", "IoU"))}
HEADINGS |= {LUNG_HD95: "lung HD95 px", COVID_INFECTION_DICE: "COVID-19 infection Dice %",
             HEALTHY_FP_RATE: "healthy FP %", TRAIN_MINUTES: "training min"}


def markdown_table(comparison: dict[str, Any], only: dict[str, Any] | None = None) -> str:
    """The comparison as a Markdown table: one row per setting, mean ± std over the seeds
    (scores in percent, HD95 in pixels, training time in minutes); ``only`` keeps the rows
    whose setting has those values (``{"model": "unet"}``)."""
    rows = [row for row in comparison["rows"]
            if all(row["setting"].get(k) == v for k, v in (only or {}).items())]
    if not rows:
        raise ResultsError(f"no row of the comparison has {only}")
    names = [n for n in HEADINGS if n in rows[0]]
    header = [*comparison["varied"], "parameters", "GFLOP/image",
              *[HEADINGS[n] for n in names]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [str(row["setting"][k]) for k in comparison["varied"]]
        cells += [f"{row['parameters']:,}", fmt(row["gflop_per_image"], ".2f")]
        for name in names:
            scale = 100 if HEADINGS[name].endswith("%") else 1
            m, s = (None if v is None else v * scale for v in row[name].values())
            cells.append(f"{fmt(m, '.2f')} ± {fmt(s, '.2f')}")
        lines.append("| " + " | ".join(cells) + " |")
    split = comparison.get("split", "Test")  # as ``read`` gives it
    lines += ["", f"*{ON_TEST}*" if split == "Test" else f"*Scored on {split}.*"]
    return "\n".join(lines)
