"""``practical3 spread``: how much each number of a committed report moves between training runs
of its own protocol, measured once and kept beside the report.

Two spreads. Over **seeds**: the committed run's config (``run.json``) trained with each seed
(a finished run of the same id under ``runs/`` is reused, so seeds trained earlier cost
nothing) at the precision the committed run used, and evaluated on Test as the pipeline does;
the report shows it as its training spread. Over **machines** (``--machines``): the committed
seed retrained and evaluated under the floating-point numerics of other CPUs, simulated here
(``MACHINES``); that is what a reproduce on another machine does, so when it was measured it
gives each number's tolerance ``max(K * SD, FLOORS[unit])``, else the seeds' SD does.
``reproduce`` reads the tolerance. Schema (docs/reproducing.md)::

    {"rule": {"k": 5, "floors": {unit: floor}, "why": ...},
     "measured": {"seeds", "machines": {name: environment}, "machine", "torch", "date",
                  "commit", "command"},
     "parts": {part: {"protocol", "data_fingerprint", "precision_used", "run_ids": {seed: id},
                      "numbers": {name: {"unit", "values": [one per seed], "mean", "sd",
                                         "machines": {"values": [here, then one per
                                                      machine], "sd"},
                                         "tolerance", "tolerance_from"}}}}}
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
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
from practical3.training.config import TrainConfig
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
WHY = ("tolerance = max(k * SD, floor of the unit), SD over the committed seed's runs on the "
       "simulated machines when measured (a reproduce elsewhere retrains that seed under other "
       "numerics), else over seeds: a regenerated number and the committed one are two draws "
       "of that distribution, their difference has SD sqrt(2) * SD, and k = 5 is 3.5 SDs of it "
       "(p ~ 5e-4 per number) with room for an SD from few runs; the floor is below the "
       "printed precision (0.001 for a fraction, 0.05 px, 0.05 percentage points, 1 image)")
# Other CPUs, simulated on this one by the environment variables torch reads when it loads (so
# each trains in a process of its own): how many threads split each sum, and which oneDNN
# kernels (instruction sets) compute the convolutions. Same seed, data order and precision:
# only the rounding differs, as on a grader's machine. Each changed the committed twin run's
# epoch-1 loss on the development machine; 3 or 4 threads, AVX-512 VNNI and ATen's AVX2
# kernels alone did not, and a run identical to the committed one simulates nothing.
MACHINES: dict[str, dict[str, str]] = {
    "1 thread": {"OMP_NUM_THREADS": "1"},
    "AVX-512 without bf16 instructions": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"},
    "AVX-512 without bf16 instructions, 1 thread": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE",
                                                    "OMP_NUM_THREADS": "1"},
    "AVX2 only": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"},
}


def tolerance(unit: str, values: Sequence[float]) -> tuple[float | None, float | None, float]:
    """(mean, sample SD, tolerance) of one number's values over runs (seeds or machines); NaN
    values (undefined in a run) are left out, and fewer than two values give the floor."""
    defined = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    mean = statistics.fmean(defined) if defined else None
    sd = statistics.stdev(defined) if len(defined) > 1 else None
    return mean, sd, max(K * (sd or 0.0), FLOORS[unit])


def summarize(per_seed: dict[int, Results],
              per_machine: Sequence[Results] = ()) -> dict[str, dict[str, Any]]:
    """Every judged number of one part: its values over the seeds' results (mean, SD) and, when
    ``per_machine`` (the committed seed here, then on each simulated machine) is given, over
    those (SD); its tolerance from the machines' SD when measured, else the seeds'."""
    found = [printed_numbers(results) for results in per_seed.values()]
    on_machines = [printed_numbers(results) for results in per_machine]
    numbers = {}
    for name, (unit, _, _) in found[0].items():
        if unit not in JUDGED_UNITS:
            continue
        values = _values(name, found)
        mean, sd, limit = tolerance(unit, values)
        numbers[name] = {"unit": unit, "values": values, "mean": mean, "sd": sd,
                         "tolerance": limit, "tolerance_from": "seeds"}
        if on_machines:
            machine_values = _values(name, on_machines)
            _, machine_sd, machine_limit = tolerance(unit, machine_values)
            numbers[name].update(machines={"values": machine_values, "sd": machine_sd},
                                 tolerance=machine_limit, tolerance_from="machines")
    return numbers


def _values(name: str, found: Sequence[dict[str, tuple[str, Any, Any]]]) -> list[Any]:
    """The value of the number ``name`` in each of ``found`` (None where it is not printed)."""
    return [numbers[name][1] if name in numbers else None for numbers in found]


def measure(place: paths.ReportPlace, seeds: Sequence[int], data: str | Path | None = None,
            runs: str | Path | None = None, progress: bool = True,
            machines: Sequence[str] = ()) -> Path:
    """Train and evaluate the committed report at ``place`` with each seed, and its committed
    seed on each of ``machines`` (names of ``MACHINES``), and write its spread file
    (``reproduce.spread_path``); returns the file's path.

    Runs go under ``runs`` (default ``runs/``); each seed's Test results under
    ``<runs>/spread/<place>/seed-<n>/``, each machine's runs and results under
    ``<runs>/spread/<place>/machines/<machine>/``. Example:
    ``measure(report_place("twin"), range(5), machines=list(MACHINES))``.
    """
    if len(seeds) < 2:
        raise ResultsError(f"--seeds {' '.join(map(str, seeds))}: a spread needs at least two "
                           "seeds (five for a committed report)")
    unknown = [name for name in machines if name not in MACHINES]
    if unknown:
        raise ResultsError(f"--machines {unknown}: not simulated here; choose among "
                           f"{list(MACHINES)}")
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
        per_machine = []
        if machines:
            seed = results.run["config"]["seed"]
            here = per_seed[seed] if seed in per_seed else load_parts(regenerate_part(
                protocol_config(results.run), root, runs, folder / f"seed-{seed}" / part,
                progress))[part]
            per_machine = [here] + [
                _regenerate_on(name, protocol_config(results.run), root, folder, part, progress)
                for name in machines]
        parts[part] = {"protocol": protocol(results.run),
                       "data_fingerprint": results.run["data"]["fingerprint"],
                       "precision_used": precision_used(results.run), "run_ids": run_ids,
                       "numbers": summarize(per_seed, per_machine)}
    path = spread_path(place)
    spread = {"rule": {"k": K, "floors": FLOORS, "why": WHY},
              "measured": _how(place.name, seeds, machines), "parts": parts}
    write_text(path, json.dumps(spread, indent=2) + "\n")
    return path


def _regenerate_on(machine: str, cfg: TrainConfig, data: Path, folder: Path, part: str,
                   progress: bool) -> Results:
    """``regenerate_part`` in a process of its own with the numerics of ``machine``
    (``MACHINES``): its runs and Test results under ``folder/machines/<machine>/``."""
    out = folder / "machines" / re.sub(r"[^a-z0-9]+", "-", machine.lower()).strip("-")
    print(f"{part} seed {cfg.seed} on a simulated machine: {machine}", flush=True)
    command = [sys.executable, "-m", "practical3.spread", json.dumps(cfg.to_dict()), str(data),
               str(out / "runs"), str(out / part), "progress" if progress else "quiet"]
    done = subprocess.run(command, env={**os.environ, **MACHINES[machine]})
    if done.returncode != 0:
        raise ResultsError(f"{out}: training or evaluating on the simulated machine "
                           f"'{machine}' failed (exit {done.returncode}; its output is "
                           "above): run the command again (finished runs are reused) or "
                           "leave out --machines")
    return load_parts(out / part)[part]


def _how(place: str, seeds: Sequence[int], machines: Sequence[str]) -> dict[str, Any]:
    """Where, when and how the spread was measured."""
    import torch

    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=paths.project_root(),
                            capture_output=True, text=True).stdout.strip() or None
    command = f"practical3 spread --place {place} --seeds {' '.join(map(str, seeds))}"
    return {"seeds": list(seeds),
            "machines": {name: MACHINES[name] for name in machines},
            "machine": f"{device_name(torch.device('cpu'))} ({platform.system()}), "
                       f"{torch.get_num_threads()} torch threads",
            "torch": torch.__version__,
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "commit": commit,
            "command": command + (" --machines" if machines else "")}


def _main(argv: Sequence[str]) -> None:
    """One simulated machine's regeneration (``_regenerate_on``): CONFIG_JSON DATA RUNS RESULTS
    progress|quiet."""
    config, data, runs, results, progress = argv
    regenerate_part(TrainConfig.from_dict(json.loads(config)), Path(data), Path(runs),
                    Path(results), progress == "progress")


if __name__ == "__main__":
    _main(sys.argv[1:])
