"""A results folder: everything the figures and the report are drawn from, in one place.

``practical3 evaluate`` writes ``metrics.json`` and ``per_image.csv``; ``practical3 train``
writes ``history.csv`` and ``run.json`` in its run folder, and ``gather_run`` copies them
beside the evaluation. One folder holds one model's results; the report's ``report/results``
holds one such folder per trained part (``infection``, ``lung``). The four files must come from
one run (``consistency``), and ``digest`` fingerprints them for the figures drawn from them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from practical3.base.atomic import write_with
from practical3.base.errors import ResultsError, RunError
from practical3.base.paths import results_dir as default_results_dir
from practical3.data import layout
from practical3.data.fingerprint import data_fingerprint
from practical3.data.index import build_index, find_part_dir
from practical3.data.sources import stamp
from practical3.scoring.metrics import score_key
from practical3.training.runs import HISTORY_FILE, RUN_FILE

METRICS_FILE = "metrics.json"
PER_IMAGE_FILE = "per_image.csv"
MAKERS = {
    METRICS_FILE: "practical3 evaluate --out DIR",
    PER_IMAGE_FILE: "practical3 evaluate --out DIR",
    HISTORY_FILE: "practical3 train (then copy RUN_DIR/history.csv into DIR)",
    RUN_FILE: "practical3 train (then copy RUN_DIR/run.json into DIR)",
}


@dataclass(frozen=True)
class Results:
    """The four files of a results folder, parsed."""

    folder: Path
    metrics: dict[str, Any]
    per_image: pd.DataFrame
    history: pd.DataFrame
    run: dict[str, Any]

    @property
    def label(self) -> str:
        """The data-source label every figure and the report carry."""
        return self.metrics["data"]["label"]

    @property
    def stamp(self) -> str:
        """The label and the data's credit, as figures carry them."""
        return stamp(self.label, self.metrics["data"].get("credit"))

    @property
    def targets(self) -> list[str]:
        """Predicted targets in channel order (``layout.TARGETS`` of the run's part)."""
        return list(self.metrics["metrics"])

    @property
    def part(self) -> str:
        return self.metrics["data"]["part"]

    @property
    def run_id(self) -> str:
        return self.metrics["run_id"]


def load(results_dir: str | Path | None = None) -> Results:
    """Read a results folder (default ``report/results``); a missing file is a ResultsError
    saying what writes it."""
    folder = Path(results_dir or default_results_dir())
    missing = [name for name in MAKERS if not (folder / name).is_file()]
    if missing:
        raise ResultsError(
            f"{folder}: missing {', '.join(missing)}; write them with "
            + "; ".join(sorted({MAKERS[name] for name in missing})))
    return Results(
        folder=folder,
        metrics=json.loads((folder / METRICS_FILE).read_text(encoding="utf-8")),
        per_image=pd.read_csv(folder / PER_IMAGE_FILE, keep_default_na=False,
                              na_values=[""], dtype={"image": str, "cls": str, "run_id": str}),
        history=pd.read_csv(folder / HISTORY_FILE, dtype={"run_id": str}),  # "1e50" is an id
        run=json.loads((folder / RUN_FILE).read_text(encoding="utf-8")),
    )


def gather_run(run_dir: str | Path, results_dir: str | Path) -> None:
    """Copy a training run's ``history.csv`` and ``run.json`` into the results folder."""
    run_dir, results_dir = Path(run_dir), Path(results_dir)
    for name in (HISTORY_FILE, RUN_FILE):
        if not (run_dir / name).is_file():
            raise RunError(f"{run_dir / name}: not found; is {run_dir} a run folder "
                           "written by `practical3 train --out RUN_DIR`?")
        write_with(results_dir / name, lambda tmp, src=run_dir / name: shutil.copyfile(src, tmp))


def load_parts(results_dir: str | Path | None = None) -> dict[str, Results]:
    """Every model's results under ``results_dir``: its ``<part>/`` folders, in part order, or
    the folder itself when it holds one model's files."""
    folder = Path(results_dir or default_results_dir())
    if (folder / METRICS_FILE).is_file():
        single = load(folder)
        return {single.part: single}
    found = {part: load(folder / part) for part in layout.PARTS if (folder / part).is_dir()}
    if not found:
        raise ResultsError(f"{folder}: no results (neither {METRICS_FILE} nor a folder per part "
                           f"{', '.join(layout.PARTS)}); write them with `practical3 pipeline` or "
                           "`practical3 evaluate --out DIR`")
    return found


def digest(results_dir: str | Path) -> str:
    """SHA-256 of the four files of a results folder: what a figure drawn from them records."""
    folder, sha = Path(results_dir), hashlib.sha256()
    for name in sorted(MAKERS):
        sha.update(name.encode() + b"\0" + (folder / name).read_bytes() + b"\0")
    return sha.hexdigest()


def copy_fingerprint(data_root: str | Path) -> str:
    """The fingerprint of every part of a copy: what its EDA figures record, and what
    ``metrics.json`` keeps (``data.copy_fingerprint``) so that ``report --check`` can tell
    them apart from a copy's figures drawn since; "" when ``data_root`` holds no part."""
    if not any(find_part_dir(data_root, part) for part in layout.PARTS):
        return ""
    return data_fingerprint(build_index(data_root), data_root)


def outdated(results: Results) -> list[str]:
    """What the results lack that this version of ``practical3 evaluate`` writes (the per-image
    ``<target>_dice`` and ``<target>_iou`` columns): results of an older version."""
    wanted = [score_key(t, m) for t in results.targets for m in ("dice", "iou")]
    missing = [column for column in wanted if column not in results.per_image]
    return [f"{results.folder}/{PER_IMAGE_FILE}: no column {', '.join(missing)} (written by an "
            "older `practical3 evaluate`); evaluate again, e.g. with `practical3 pipeline`"
            ] if missing else []


def consistency(results: Results) -> list[str]:
    """Every way the four files fail to come from one run: run ids that differ (each file's,
    each history epoch's and each per-image row's), or an evaluated epoch that is not the
    run's best (the one ``best.pt`` kept)."""
    where, problems = results.folder, []
    ids = {"metrics.json": results.run_id, "checkpoint in metrics.json":
           results.metrics["checkpoint"].get("run_id"), RUN_FILE: results.run.get("run_id")}
    if "run_id" in results.history:
        ids |= {f"{HISTORY_FILE} (epoch {row.epoch})": row.run_id
                for row in results.history.itertuples()}
    else:
        ids[HISTORY_FILE] = None
    if "run_id" in results.per_image:  # one name per run its rows come from
        ids |= {f"{PER_IMAGE_FILE} ({count} rows)": found for found, count in
                results.per_image["run_id"].value_counts(dropna=False).items()}
    else:
        ids[PER_IMAGE_FILE] = None
    others = {name: found for name, found in ids.items() if found != results.run_id}
    problems += [f"{where}: {name} is from run {found}, metrics.json from run {results.run_id}: "
                 "evaluate and gather one run (`practical3 pipeline` does both)"
                 for name, found in others.items()]
    best = int(results.history.loc[results.history["val_score"].idxmax(), "epoch"])
    evaluated = results.metrics["checkpoint"]["epoch"]
    if evaluated != best:
        problems.append(f"{where}: metrics.json evaluates epoch {evaluated}, but the run's best "
                        f"epoch (best.pt) is {best}: evaluate RUN_DIR/best.pt")
    return problems
