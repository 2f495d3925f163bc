"""``make reproduce``: regenerate every committed report's runs from scratch and say, number by
number, whether they reproduce what is committed.

Each report (real, twin, gpu) is regenerated with the data it names (the twin made afresh by
``synth`` with its run's settings; a real copy only when given) into
``runs/reproduce/<report>/`` with its own runs folder, never ``runs/``'s runs, ``report/`` or
``figures/``: each part is trained with the committed run's config at the precision it records
(``protocol_config``) and evaluated on Test as the pipeline does (``regenerate_part``). A
report whose data, device or measured spread is absent here is listed with what it needs, not
failed. The data fingerprint, the protocol, the precision used and the counts fixed by the data
must be identical; each other number must lie within its own tolerance, measured over runs of
the same protocol (the committed seed on simulated machines, or seeds) and kept beside the
committed results (``SPREAD_FILE``, written by
``practical3 spread``; docs/reproducing.md). Whether it also lies inside the committed 95 %
interval is shown, not judged.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from practical3.base import paths
from practical3.base.atomic import write_text
from practical3.base.errors import ResultsError
from practical3.data.synth import synthesize
from practical3.evaluation.evaluate import evaluate
from practical3.evaluation.results import Results, gather_run, load_parts
from practical3.evaluation.seed_spread import SPREAD_FILE
from practical3.scoring.findings import COVID, lesion_size_rows, missed_entirely
from practical3.training.config import TrainConfig
from practical3.training.device import choose_precision, resolve_device
from practical3.training.loop import ensure_trained
from practical3.training.runs import BEST, default_run_dir, identify

# The units of numbers judged against a tolerance; "identity" must be equal, "shown" is not
# judged.
JUDGED_UNITS = ("fraction", "pixels", "points", "count")
REPORT_FILE, TABLE_FILE = "reproduce.md", "reproduce.json"
SCORE_KEYS = ("dice_imagewise", "iou_imagewise", "dice_dataset", "iou_dataset",
              "healthy_fp_rate")


@dataclass(frozen=True)
class Row:
    """One number a report prints: committed, regenerated and the verdict on the pair."""

    part: str
    name: str
    unit: str  # "identity" (must be equal), one of JUDGED_UNITS, or "shown" (not judged)
    committed: Any
    regenerated: Any
    ci95: list[float] | None = None
    tolerance: float | None = None  # its measured tolerance (judged units only)

    @property
    def difference(self) -> float | None:
        numbers = (self.committed, self.regenerated)
        if self.unit in JUDGED_UNITS and all(isinstance(n, (int, float)) for n in numbers):
            return self.regenerated - self.committed
        return None

    @property
    def verdict(self) -> str:
        """identical, within (its tolerance), differs, or shown (not judged). A judged number
        without a measured tolerance differs: run ``practical3 spread`` again."""
        if self.unit == "shown":
            return "shown"
        if self.committed == self.regenerated or _both_nan(self.committed, self.regenerated):
            return "identical"
        if self.difference is not None and self.tolerance is not None \
                and abs(self.difference) <= self.tolerance:
            return "within"
        return "differs"

    @property
    def interval(self) -> str:
        """Whether the regenerated number lies inside the committed 95 % interval."""
        if self.ci95 is None or not isinstance(self.regenerated, (int, float)):
            return ""
        low, high = self.ci95
        return "inside" if low <= self.regenerated <= high else "outside"


@dataclass
class Outcome:
    """One committed report: reproduces, differs, not reproducible here, or not committed."""

    report: str
    status: str
    reason: str = ""
    rows: list[Row] = field(default_factory=list)


def _both_nan(a: Any, b: Any) -> bool:
    return all(isinstance(v, float) and math.isnan(v) for v in (a, b))


def precision_used(run: dict[str, Any]) -> str:
    """The precision a run trained in (``run.json`` before the precision issue called it
    ``precision``)."""
    return run["precision_used"] if "precision_used" in run else run["precision"]


def protocol(run: dict[str, Any]) -> dict[str, Any]:
    """What makes two runs the same protocol: the config but its seed and precision setting
    (the precision used is judged on its own)."""
    return {k: v for k, v in run["config"].items() if k not in ("seed", "precision")}


def protocol_config(run: dict[str, Any], seed: int | None = None) -> TrainConfig:
    """The config of the run recorded in ``run`` (``seed`` replaced if given), at the precision
    it used: its own setting when that resolves to the same precision here (same run id), else
    that precision by name (e.g. an fp32 run on a CPU where ``auto`` would pick bf16)."""
    cfg = TrainConfig.from_dict(run["config"])
    cfg = cfg if seed is None else cfg.replace(seed=seed)
    used = precision_used(run)
    if choose_precision(cfg.precision, resolve_device(cfg.device)).name != used:
        cfg = cfg.replace(precision=used)
    return cfg


def printed_numbers(results: Results) -> dict[str, tuple[str, Any, list[float] | None]]:
    """Every number the report prints from one model's results: name -> (unit, value, its
    committed 95 % interval if any). The run id is shown: it hashes the precision setting,
    which a regeneration may have to name (``protocol_config``), and the protocol and the
    precision used are judged instead."""
    metrics, run, history = results.metrics, results.run, results.history
    numbers: dict[str, tuple[str, Any, list[float] | None]] = {
        "data fingerprint": ("identity", run["data"]["fingerprint"], None),
        "protocol": ("identity", json.dumps(protocol(run), sort_keys=True), None),
        "precision used": ("identity", precision_used(run), None),
        "run id": ("shown", metrics["run_id"], None),
        "train images": ("identity", run["n_train_images"], None),
        "val images": ("identity", run["n_val_images"], None),
        "test images": ("identity", metrics["data"]["n_images"], None),
        "evaluated epoch (best)": ("shown", metrics["checkpoint"]["epoch"], None),
        "post-processing chosen": ("shown", metrics["postprocessing"]["chosen"], None),
        "training time s": ("shown", round(float(history["epoch_time_s"].sum()), 1), None),
        "epochs run": ("identity", len(history), None),
        "best val score": ("fraction", float(history["val_score"].max()), None),
        "final train loss": ("fraction", float(history["train_loss"].iloc[-1]), None),
        "final val loss": ("fraction", float(history["val_loss"].iloc[-1]), None),
    }
    for section in ("metrics", "boundary"):
        for target, by_class in metrics.get(section, {}).items():
            for cls, scores in by_class.items():
                for key, value in scores.items():
                    if "_ci95" not in key:  # intervals and their notes go with their score
                        numbers[f"{target} {cls} {key}"] = (
                            _unit(key), value, scores.get(f"{key}_ci95"))
    severity = metrics.get("severity") or {}
    for key, value in severity.items():
        if "_ci95" not in key and not isinstance(value, dict):  # a test's outcome: derived
            numbers[f"severity {key}"] = (_unit(key), value, severity.get(f"{key}_ci95"))
    for variant in metrics["ablation"]["variants"]:
        for key, value in variant.items():
            if key != "steps":
                numbers[f"ablation {variant['steps']}: {key}"] = ("fraction", value, None)
    for trial in metrics["postprocessing"]["selection"]["trials"]:
        numbers[f"selection {trial['steps']}: val score"] = ("fraction", trial["score"], None)
    for i, row in enumerate(lesion_size_rows(results.per_image), 1):
        numbers[f"lesion tercile {i} images"] = ("identity", row["n_images"], None)
        numbers[f"lesion tercile {i} infection dice"] = ("fraction", row["dice"], None)
        numbers[f"lesion tercile {i} missed entirely"] = ("count", row["n_missed"], None)
    if "infection" in results.targets:
        missed = missed_entirely(results.per_image, "infection", COVID)
        numbers["infection COVID-19 missed_entirely"] = ("count", missed["k"], None)
    return numbers


def _unit(key: str) -> str:
    """The unit of a score named ``key``: image counts (those fixed by the data are
    identities), boundary distances in pixels, percentages, else a fraction."""
    if key in ("n_images", "n_images_empty_truth"):
        return "identity"
    if key.startswith("n_"):
        return "count"
    if "hd95" in key:
        return "pixels"
    return "points" if "percent" in key or key.endswith("_pp") else "fraction"


def compare(committed: dict[str, Results], regenerated: dict[str, Results],
            tolerances: dict[str, dict[str, float]]) -> list[Row]:
    """Every printed number of every part, committed beside regenerated, each judged number
    with its tolerance from ``tolerances`` (part -> name -> tolerance; ``read_tolerances``)."""
    rows = []
    for part, results in committed.items():
        found = printed_numbers(regenerated[part]) if part in regenerated else {}
        limits = tolerances.get(part, {})
        for name, (unit, value, ci95) in printed_numbers(results).items():
            rows.append(Row(part, name, unit, value, found.get(name, (unit, None))[1], ci95,
                            limits.get(name) if unit in JUDGED_UNITS else None))
    return rows


def spread_path(place: paths.ReportPlace) -> Path:
    """Where a committed report keeps its measured spread: beside its results folder."""
    return place.results.parent / SPREAD_FILE


def read_tolerances(path: Path, committed: dict[str, Results]) -> dict[str, dict[str, float]]:
    """Each number's tolerance (part -> name -> tolerance) from the spread file at ``path``;
    a ResultsError when it is absent or was measured for another protocol or data."""
    command = "practical3 spread --place NAME (docs/reproducing.md)"
    if not path.is_file():
        raise ResultsError(f"{path}: no measured spread; measure it with {command}")
    spread = json.loads(path.read_text())
    for part, results in committed.items():
        measured = spread["parts"].get(part)
        if measured is None or measured["protocol"] != protocol(results.run) \
                or measured["data_fingerprint"] != results.run["data"]["fingerprint"]:
            raise ResultsError(f"{path}: measured for another protocol or other data than the "
                               f"committed {part} run; measure it again with {command}")
    return {part: {name: number["tolerance"] for name, number in measured["numbers"].items()}
            for part, measured in spread["parts"].items()}


def needs(committed: Results, data: Path | None, cuda: bool) -> str:
    """What reproducing a report whose results are ``committed`` needs and this machine lacks;
    empty when it can be reproduced here."""
    run = committed.run
    if run["data"]["kind"] != "synthetic" and data is None:
        return (f"needs its data, a copy of {run['data']['dataset']}: "
                "make reproduce DATA=PATH (practical3 reproduce --data PATH)")
    if run["device"] == "cuda" and not cuda:
        return "needs a CUDA GPU: it was trained on one"
    if run["device"] == "cpu" and cuda and run["config"]["device"] == "auto":
        return ("was trained on a CPU and this machine has a GPU the pipeline would use: "
                "CUDA_VISIBLE_DEVICES= make reproduce")
    return ""


def data_for(run: dict[str, Any], data: Path | None, folder: Path) -> Path:
    """The data ``run`` trained on: its synthetic twin made afresh in ``folder / "data"`` (synth
    is machine-independent), else the copy given; a ResultsError when its fingerprint is not
    the run's (checked by the caller through ``regenerate_part``'s run)."""
    if run["data"]["kind"] == "synthetic":
        return synthesize(folder / "data", **run["config"]["synth"])
    if data is None:
        raise ResultsError(f"needs a copy of {run['data']['dataset']}: --data PATH")
    return data


def regenerate_part(cfg: TrainConfig, data: Path, runs: Path, results_dir: Path,
                    progress: bool = False) -> Path:
    """Train ``cfg`` on ``data`` under ``runs`` (a finished run of the same id is reused) and
    evaluate its best checkpoint on Test into ``results_dir`` as the pipeline does; returns
    ``results_dir``."""
    run_dir = default_run_dir(cfg, identify(cfg, data).run_id, runs)
    ensure_trained(cfg, data, run_dir, progress)
    evaluate(run_dir / BEST, data, results_dir, device=cfg.device, progress=progress)
    gather_run(run_dir, results_dir)
    return results_dir


def regenerate(committed: dict[str, Results], data: Path | None, folder: Path) -> Path:
    """Train and evaluate the parts of ``committed`` afresh in ``folder`` (emptied first) on
    the data they name, each with its committed protocol; returns the results folder."""
    shutil.rmtree(folder, ignore_errors=True)
    root = data_for(next(iter(committed.values())).run, data, folder)
    for part, results in committed.items():
        regenerate_part(protocol_config(results.run), root, folder / "runs",
                        folder / "results" / part)
    return folder / "results"


def reproduce_place(place: paths.ReportPlace, data: Path | None, out_dir: Path,
                    cuda: bool) -> Outcome:
    """Reproduce one committed report (see the module's docstring)."""
    if not place.results.is_dir():
        return Outcome(place.name, "not committed", f"no results in {place.results}")
    committed = load_parts(place.results)
    missing = needs(next(iter(committed.values())), data, cuda)
    try:
        tolerances = read_tolerances(spread_path(place), committed)
    except ResultsError as err:
        missing = missing or str(err)
    if missing:
        return Outcome(place.name, "not reproducible here", missing)
    regenerated = load_parts(regenerate(committed, data, out_dir / place.name))
    rows = compare(committed, regenerated, tolerances)
    failed = [row for row in rows if row.verdict == "differs"]
    reason = f"{len(failed)} of {len(rows)} numbers differ" if failed else \
        f"{len(rows)} numbers compared"
    return Outcome(place.name, "differs" if failed else "reproduces", reason, rows)


def default_out_dir() -> Path:
    """``runs/reproduce/`` (under ``$PRACTICAL3_RUNS`` when set)."""
    return paths.runs_dir() / "reproduce"


def reproduce(data: str | Path | None = None, out_dir: str | Path | None = None,
              places: Sequence[paths.ReportPlace] | None = None) -> list[Outcome]:
    """Reproduce every committed report (or ``places``), write the tables under ``out_dir``
    (default ``runs/reproduce/``) and return the outcomes.

    Example: ``passed(reproduce())`` on a fresh clone regenerates the twin's report in
    ``runs/reproduce/twin/`` and is True when every number reproduces.
    """
    import torch

    out_dir = Path(out_dir or default_out_dir())
    places = places or [paths.report_place(name) for name in paths.COMMITTED_PLACES]
    data = Path(data) if data else None
    if data is not None and not data.exists():
        raise ResultsError(f"--data {data}: no such folder; give a copy of COVID-QU-Ex")
    cuda = torch.cuda.is_available()
    outcomes = [reproduce_place(place, data, out_dir, cuda) for place in places]
    write_text(out_dir / REPORT_FILE, markdown(outcomes))
    write_text(out_dir / TABLE_FILE, json.dumps([_as_json(o) for o in outcomes], indent=2))
    return outcomes


def _as_json(outcome: Outcome) -> dict[str, Any]:
    rows = [{**asdict(row), "difference": row.difference, "verdict": row.verdict,
             "interval": row.interval} for row in outcome.rows]
    return {**asdict(outcome), "rows": rows}


def _show(value: Any) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4f}"
    if isinstance(value, str) and len(value) > 40:  # a SHA-256, a protocol: its start
        return f"{value[:16]}..."
    return "-" if value is None else str(value)


def markdown(outcomes: Sequence[Outcome]) -> str:
    """The outcomes as Markdown: one line per report, then one table per reproduced report."""
    lines = ["# Reproduce: committed reports regenerated from scratch", "",
             f"Each number's tolerance is its own, measured over runs of the committed "
             f"protocol on simulated machines or over seeds ({SPREAD_FILE} beside the "
             "committed results; docs/reproducing.md).", ""]
    lines += [f"- **{o.report}**: {o.status}" + (f" ({o.reason})" if o.reason else "")
              for o in outcomes]
    for outcome in outcomes:
        if not outcome.rows:
            continue
        lines += ["", f"## {outcome.report}: {outcome.status}", "",
                  "| part | number | committed | regenerated | difference | tolerance | verdict "
                  "| committed 95 % CI |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {r.part} | {r.name} | {_show(r.committed)} | {_show(r.regenerated)} | "
                  f"{_show(r.difference)} | {_show(r.tolerance)} | {r.verdict} | {r.interval} |"
                  for r in outcome.rows]
    return "\n".join(lines) + "\n"


def passed(outcomes: Sequence[Outcome]) -> bool:
    """True when no reproduced report differs (not reproducible or not committed is no
    failure)."""
    return all(outcome.status != "differs" for outcome in outcomes)
