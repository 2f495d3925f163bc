"""A training run's identity and folder.

A run id is derived from the run's config (seed included), the precision it resolves to on
this machine (a bf16 run and an fp32 run of the same settings are different runs) and the
fingerprint of its data, so the same settings on the same files at the same precision give the
same id on every machine, and a finished run is reused only when all three match. Checkpoints,
``history.csv``, ``run.json`` and the evaluation's results all carry it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from practical3.base.paths import runs_dir
from practical3.data.fingerprint import data_fingerprint
from practical3.data.index import build_index
from practical3.training.config import TrainConfig
from practical3.training.device import Precision, choose_precision, resolve_device

LAST, BEST = "last.pt", "best.pt"
HISTORY_FILE, RUN_FILE = "history.csv", "run.json"
ID_LENGTH = 12


def run_id(cfg: TrainConfig, data_fingerprint: str, precision_used: str) -> str:
    """The id of training ``cfg`` at ``precision_used`` on the data with ``data_fingerprint``."""
    text = json.dumps({"config": cfg.to_dict(), "data": data_fingerprint,
                       "precision_used": precision_used}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:ID_LENGTH]


class Identity(NamedTuple):
    """What a run trains on and what it is called: its part's index, the fingerprint of those
    files, the precision it trains in here, and the run id."""

    index: pd.DataFrame
    fingerprint: str
    precision: Precision
    run_id: str


def identify(cfg: TrainConfig, data_root: str | Path) -> Identity:
    """Index ``cfg``'s part of ``data_root``, fingerprint its files, resolve its precision on
    this machine and derive the run id."""
    index = build_index(data_root, parts=[cfg.part])
    fingerprint = data_fingerprint(index, data_root)
    precision = choose_precision(cfg.precision, resolve_device(cfg.device))
    return Identity(index, fingerprint, precision, run_id(cfg, fingerprint, precision.name))


def default_run_dir(cfg: TrainConfig, identity: str, runs: str | Path | None = None) -> Path:
    """Where a run lives unless told otherwise: ``<runs>/<profile>-<part>-<run id>``, ``runs``
    defaulting to ``runs/`` (or ``$PRACTICAL3_RUNS``)."""
    return Path(runs or runs_dir()) / f"{cfg.profile}-{cfg.part}-{identity}"


def saved_config(state: dict[str, Any]) -> TrainConfig:
    """The config a checkpoint was trained with."""
    return TrainConfig.from_dict(state["config"])
