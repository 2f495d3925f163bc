"""A results folder: everything the figures and the report are drawn from, in one place.

``practical3 evaluate`` writes ``metrics.json`` and ``per_image.csv``; ``practical3 train``
writes ``history.csv`` and ``run.json`` in its run folder, and ``gather_run`` copies them
beside the evaluation. The committed report reads ``report/results``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from practical3.atomic import write_with
from practical3.config import PROJECT_ROOT
from practical3.evaluate import METRICS_FILE, PER_IMAGE_FILE

RESULTS_DIR = PROJECT_ROOT / "report" / "results"
HISTORY_FILE = "history.csv"
RUN_FILE = "run.json"
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
    def targets(self) -> list[str]:
        """Predicted targets in channel order (``layout.TARGETS`` of the run's part)."""
        return list(self.metrics["metrics"])


def load(folder: str | Path = RESULTS_DIR) -> Results:
    """Read a results folder; a missing file is a FileNotFoundError saying what writes it."""
    folder = Path(folder)
    missing = [name for name in MAKERS if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder}: missing {', '.join(missing)}; write them with "
            + "; ".join(sorted({MAKERS[name] for name in missing})))
    return Results(
        folder=folder,
        metrics=json.loads((folder / METRICS_FILE).read_text(encoding="utf-8")),
        per_image=pd.read_csv(folder / PER_IMAGE_FILE, keep_default_na=False,
                              na_values=[""], dtype={"image": str, "cls": str}),
        history=pd.read_csv(folder / HISTORY_FILE),
        run=json.loads((folder / RUN_FILE).read_text(encoding="utf-8")),
    )


def gather_run(run_dir: str | Path, folder: str | Path) -> None:
    """Copy a training run's ``history.csv`` and ``run.json`` into the results ``folder``."""
    run_dir, folder = Path(run_dir), Path(folder)
    for name in (HISTORY_FILE, RUN_FILE):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(f"{run_dir / name}: not found; is {run_dir} a run folder "
                                    "written by `practical3 train --out RUN_DIR`?")
        write_with(folder / name, lambda tmp, src=run_dir / name: shutil.copyfile(src, tmp))


def project_path(path: str) -> Path:
    """A path stored in results (relative to the project root when inside it) made usable."""
    return Path(path) if Path(path).is_absolute() else PROJECT_ROOT / path
