"""``practical3 compare``: settings side by side, the same run repeated over a grid of values and
seeds, each run evaluated at native size, summarised as mean and standard deviation over seeds.

``compare`` trains (or reuses) one run per setting and seed, evaluates its ``best.pt`` on Val
by default (the four results files of any results folder), so that a setting chosen from the
table is not chosen on Test; on Test only when asked (``split="Test"``), and then the table
says it may not be used to choose, and writes ``OUT/runs.json`` (every run's
results) and ``OUT/comparison.json`` (one row per setting with its run ids and the aggregates);
``practical3.evaluation.comparison`` reads and checks them.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from practical3.base.atomic import write_text
from practical3.base.errors import ConfigError
from practical3.data import sources
from practical3.evaluation.comparison import COMPARISON_FILE, RUNS_FILE, pack, summarize
from practical3.evaluation.evaluate import evaluate
from practical3.evaluation.results import gather_run, load
from practical3.session import run_dir_for
from practical3.training.config import TrainConfig, validate
from practical3.training.device import device_name, resolve_device
from practical3.training.loop import ensure_trained
from practical3.training.runs import BEST
from practical3.training.settings import overridable, parse


def parse_vary(items: Sequence[str], base: TrainConfig, flag: str = "--vary"
               ) -> dict[str, list[Any]]:
    """``["model=unet,unetpp", "image_size=64,128"]`` as {setting: [values]}, each value of
    the setting's type (``settings.parse``); an error names ``flag``, the option they came from."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        name, _, values = item.partition("=")
        if not values or name not in overridable() or name == "seed":
            raise ConfigError(f"{flag} {item!r}: write SETTING=V1,V2 with a TrainConfig setting "
                              "(not profile or seed: seeds have --seeds)")
        grid[name] = [parse(name, v) for v in values.split(",")]
    return grid


def parse_also(items: Sequence[str], grid: dict[str, list[Any]],
               base: TrainConfig) -> list[dict[str, Any]]:
    """``["model=unetpp_ds image_size=64"]`` as single settings to add after the grid's: one
    value for every setting the grid varies (so each is a row of the same table)."""
    settings = []
    for item in items:
        parsed = parse_vary(item.split(), base, "--also")
        if set(parsed) != set(grid) or any(len(v) != 1 for v in parsed.values()):
            raise ConfigError(f"--also {item!r}: give one value for each of {', '.join(grid)}, "
                              "e.g. --also 'model=unetpp_ds image_size=64'")
        settings.append({name: parsed[name][0] for name in grid})
    return settings


def compare(data_root: str | Path, base: TrainConfig, grid: dict[str, list[Any]],
            seeds: Sequence[int], out_dir: str | Path, also: Sequence[dict[str, Any]] = (),
            progress: bool = False, label: str | None = None,
            runs: str | Path | None = None, split: str = "Val") -> dict[str, Any]:
    """Train (under ``runs``, default ``runs/``) and evaluate every setting of ``grid``, then
    each of ``also``, with every seed, scored on ``split``; write and return the comparison
    (see the module docstring), its data called ``label`` when given (``sources.describe``).

    Example: ``compare(root, profile("smoke"), {"model": ["unet", "unetpp"]}, [0, 1], "out")``
    writes ``out/comparison.json`` with one row per model, each over seeds 0 and 1.
    """
    out_dir = Path(out_dir)
    settings = [dict(zip(grid, values, strict=True))
                for values in itertools.product(*grid.values())]
    for setting in [*settings, *also]:  # every value checked before the first run trains
        for seed in seeds:
            validate(base.replace(**setting, seed=seed))
    rows, packed = [], {}
    with tempfile.TemporaryDirectory() as scratch:
        for setting in [*settings, *also]:
            evaluated = []
            for seed in seeds:
                cfg = base.replace(**setting, seed=seed)
                run_dir = run_dir_for(cfg, data_root, runs)
                ensure_trained(cfg, data_root, run_dir, progress=progress, data_label=label)
                results_dir = Path(scratch) / run_dir.name
                evaluate(run_dir / BEST, data_root, results_dir, split=split,
                         device=cfg.device, progress=progress, data_label=label)
                gather_run(run_dir, results_dir)
                packed |= pack([results_dir])
                evaluated.append(load(results_dir))
            rows.append({"setting": setting, **summarize(evaluated, base.replace(**setting))})
    comparison = {
        "data": {**sources.record(data_root, label), "part": base.part},
        "base": base.to_dict(), "varied": list(grid), "seeds": list(seeds), "split": split,
        "device": device_name(resolve_device(base.device)), "torch": torch.__version__,
        "rows": rows,
    }
    write_text(out_dir / RUNS_FILE, json.dumps(packed, indent=1, sort_keys=True) + "\n")
    write_text(out_dir / COMPARISON_FILE, json.dumps(comparison, indent=2, allow_nan=False) + "\n")
    return comparison
