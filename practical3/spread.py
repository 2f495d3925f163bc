"""``practical3 spread``: how much each number of a committed report moves between training runs
of its own protocol that differ only in their seed, measured once and kept beside the report.

The committed run's config (``run.json``) is trained with each seed (a finished run of the same
id under ``runs/`` is reused, so seeds trained earlier cost nothing) at the precision the
committed run used, and evaluated on Test as the pipeline does. For every number ``make
reproduce`` judges, the file keeps each seed's value, their mean and sample SD, and the
tolerance ``max(K * SD, FLOORS[unit])``; ``reproduce`` reads it. The same file gives the
report its training spread (issue 26). Schema (docs/reproducing.md)::

    {"rule": {"k": 5, "floors": {unit: floor}, "why": ...},
     "measured": {"seeds", "machine", "torch", "date", "commit", "command"},
     "parts": {part: {"protocol", "data_fingerprint", "precision_used", "run_ids": {seed: id},
                      "numbers": {name: {"unit", "values": [one per seed], "mean", "sd",
                                         "tolerance"}}}}}
"""

from __future__ import annotations

import datetime
import json
import math
import platform
import statistics
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from practical3.base import paths
from practical3.base.atomic import write_text
from practical3.base.errors import ResultsError
from practical3.evaluation.results import Results, load_parts
from practical3.reproduce import (
    JUDGED_UNITS,
    data_for,
    precision_used,
    printed_numbers,
    protocol,
    protocol_config,
    regenerate_part,
    spread_path,
)
from practical3.training.device import device_name
from practical3.training.runs import identify

# A regenerated number and the committed one are two draws of the same seed distribution, so
# their difference has SD sqrt(2) * SD: K = 5 puts the limit at 3.5 SDs of that difference
# (two-sided p ~ 5e-4 per number, under 0.1 expected false alarms over a report's ~150
# correlated numbers) and leaves room for an SD estimated from only 5 seeds.
K = 5.0
# The least tolerance of a unit: below what the report prints (a Dice to 3 decimals, a
# distance to 2, a percentage to 1) or one image, so a number that never moved between seeds
# is not failed for the last bit another machine changes.
FLOORS = {"fraction": 0.001, "pixels": 0.05, "points": 0.05, "count": 1.0}
WHY = ("tolerance = max(k * SD over seeds, floor of the unit): a regenerated number and the "
       "committed one are two draws of the seed distribution, their difference has SD "
       "sqrt(2) * SD, and k = 5 is 3.5 SDs of it (p ~ 5e-4 per number) with room for an SD "
       "from few seeds; the floor is below the printed precision (0.001 for a fraction, "
       "0.05 px, 0.05 percentage points, 1 image)")


def tolerance(unit: str, values: Sequence[float]) -> tuple[float | None, float | None, float]:
    """(mean, sample SD, tolerance) of one number's values over seeds; NaN values (undefined in
    a seed) are left out, and fewer than two values give the floor."""
    defined = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    mean = statistics.fmean(defined) if defined else None
    sd = statistics.stdev(defined) if len(defined) > 1 else None
    return mean, sd, max(K * (sd or 0.0), FLOORS[unit])


def summarize(per_seed: dict[int, Results]) -> dict[str, dict[str, Any]]:
    """Every judged number of one part over the seeds' results: values, mean, SD, tolerance."""
    found = {seed: printed_numbers(results) for seed, results in per_seed.items()}
    first = next(iter(found.values()))
    numbers = {}
    for name, (unit, _, _) in first.items():
        if unit not in JUDGED_UNITS:
            continue
        values = [numbers_[name][1] if name in numbers_ else None for numbers_ in found.values()]
        mean, sd, limit = tolerance(unit, values)
        numbers[name] = {"unit": unit, "values": values, "mean": mean, "sd": sd,
                         "tolerance": limit}
    return numbers


def measure(place: paths.ReportPlace, seeds: Sequence[int], data: str | Path | None = None,
            runs: str | Path | None = None, progress: bool = True) -> Path:
    """Train and evaluate the committed report at ``place`` with each seed and write its spread
    file (``reproduce.spread_path``); returns the file's path.

    Runs go under ``runs`` (default ``runs/``); each seed's Test results under
    ``<runs>/spread/<place>/seed-<n>/``. Example: ``measure(report_place("twin"), range(5))``.
    """
    if len(seeds) < 2:
        raise ResultsError(f"--seeds {' '.join(map(str, seeds))}: a spread needs at least two "
                           "seeds (five for a committed report)")
    if not place.results.is_dir():
        raise ResultsError(f"{place.results}: no committed results to measure the spread of")
    runs = paths.writable_folder(runs, "--runs") if runs else paths.runs_folder()
    committed = load_parts(place.results)
    folder = runs / "spread" / place.name
    root = data_for(next(iter(committed.values())).run, Path(data) if data else None, folder)
    parts = {}
    for part, results in committed.items():
        per_seed, run_ids = {}, {}
        for seed in seeds:
            cfg = protocol_config(results.run, seed)
            identity = identify(cfg, root)
            if identity.fingerprint != results.run["data"]["fingerprint"]:
                raise ResultsError(f"{root}: not the data the committed {part} run trained on "
                                   "(another fingerprint); give the copy it names in its "
                                   "run.json")
            print(f"{place.name} {part} seed {seed}: run {identity.run_id}", flush=True)
            out = regenerate_part(cfg, root, runs, folder / f"seed-{seed}" / part, progress)
            per_seed[seed], run_ids[seed] = load_parts(out)[part], identity.run_id
        parts[part] = {"protocol": protocol(results.run),
                       "data_fingerprint": results.run["data"]["fingerprint"],
                       "precision_used": precision_used(results.run), "run_ids": run_ids,
                       "numbers": summarize(per_seed)}
    path = spread_path(place)
    spread = {"rule": {"k": K, "floors": FLOORS, "why": WHY},
              "measured": _how(place.name, seeds), "parts": parts}
    write_text(path, json.dumps(spread, indent=2) + "\n")
    return path


def _how(place: str, seeds: Sequence[int]) -> dict[str, Any]:
    """Where, when and how the spread was measured."""
    import torch

    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=paths.project_root(),
                            capture_output=True, text=True).stdout.strip() or None
    return {"seeds": list(seeds),
            "machine": f"{device_name(torch.device('cpu'))} ({platform.system()}), "
                       f"{torch.get_num_threads()} torch threads",
            "torch": torch.__version__,
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "commit": commit,
            "command": f"practical3 spread --place {place} --seeds {' '.join(map(str, seeds))}"}
