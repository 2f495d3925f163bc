"""``make reproduce``: regenerate every committed report's runs from scratch and say, number by
number, whether they reproduce what is committed.

Each report (real, twin, gpu) is regenerated with the data it names (the twin made afresh by
``synth`` with its run's settings; a real copy only when given) into
``runs/reproduce/<report>/`` with its own runs folder (passed to ``pipeline.run``), never
``runs/``'s runs, ``report/`` or ``figures/``; decoded caches are shared, being keyed by their
source files' contents. A report whose data or device is absent here is listed with what it
needs, not failed. The data fingerprint, run id and image counts must be identical; each score
must lie within ``TOLERANCE`` of the committed one (measured: training on another CPU differs by
floating-point noise; README "Grading"); whether it also lies inside the committed 95 % interval
is shown, not judged.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from practical3 import pipeline
from practical3.base import paths
from practical3.base.atomic import write_text
from practical3.base.errors import ResultsError
from practical3.data.synth import synthesize
from practical3.evaluation.results import Results, load_parts
from practical3.report.context import lesion_size_rows

# Largest difference from the committed number that still reproduces, by unit: twice the
# largest measured between three demo-profile runs of the twin with other thread settings
# (benchmarks/reproduction_tolerance.py; README, "Grading"): 0.050 for a fraction (a Val
# selection score; 0.034 on Test), 0.23 px for an HD95, 0.10 pp for a severity percentage,
# 0 for counts (2 images allowed: one flip each way).
TOLERANCE = {"fraction": 0.10, "pixels": 0.5, "points": 0.25, "count": 2}
REPORT_FILE, TABLE_FILE = "reproduce.md", "reproduce.json"
SCORE_KEYS = ("dice_imagewise", "iou_imagewise", "dice_dataset", "iou_dataset",
              "healthy_fp_rate")


@dataclass(frozen=True)
class Row:
    """One number a report prints: committed, regenerated and the verdict on the pair."""

    part: str
    name: str
    unit: str  # "identity" (must be equal), a TOLERANCE unit, or "shown" (not judged)
    committed: Any
    regenerated: Any
    ci95: list[float] | None = None

    @property
    def difference(self) -> float | None:
        numbers = (self.committed, self.regenerated)
        if self.unit in TOLERANCE and all(isinstance(n, (int, float)) for n in numbers):
            return self.regenerated - self.committed
        return None

    @property
    def verdict(self) -> str:
        """identical, within (the tolerance), differs, or shown (not judged)."""
        if self.unit == "shown" or self.committed == self.regenerated:
            return "shown" if self.unit == "shown" else "identical"
        if self.difference is not None and abs(self.difference) <= TOLERANCE[self.unit]:
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


def printed_numbers(results: Results) -> dict[str, tuple[str, Any, list[float] | None]]:
    """Every number the report prints from one model's results: name -> (unit, value, its
    committed 95 % interval if any)."""
    metrics, run, history = results.metrics, results.run, results.history
    numbers: dict[str, tuple[str, Any, list[float] | None]] = {
        "data fingerprint": ("identity", run["data"]["fingerprint"], None),
        "run id": ("identity", metrics["run_id"], None),
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
        if "_ci95" not in key:
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
    return "points" if "percent" in key else "fraction"


def compare(committed: dict[str, Results], regenerated: dict[str, Results]) -> list[Row]:
    """Every printed number of every part, committed beside regenerated."""
    rows = []
    for part, results in committed.items():
        found = printed_numbers(regenerated[part]) if part in regenerated else {}
        for name, (unit, value, ci95) in printed_numbers(results).items():
            rows.append(Row(part, name, unit, value, found.get(name, (unit, None))[1], ci95))
    return rows


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


def regenerate(committed: dict[str, Results], data: Path | None, folder: Path) -> Path:
    """Train, evaluate and report the parts of ``committed`` afresh in ``folder`` (emptied
    first) on the data it names; returns the regenerated results folder."""
    shutil.rmtree(folder, ignore_errors=True)
    run = next(iter(committed.values())).run
    if run["data"]["kind"] == "synthetic":
        data = synthesize(folder / "data", **run["config"]["synth"])
    pipeline.run(run["config"]["profile"], data, parts=list(committed),
                 results_dir=folder / "results", figures_dir=folder / "figures",
                 report_path=folder / "report.md", runs=folder / "runs", progress=False)
    return folder / "results"


def reproduce_place(place: paths.ReportPlace, data: Path | None, out_dir: Path,
                    cuda: bool) -> Outcome:
    """Reproduce one committed report (see the module's docstring)."""
    if not place.results.is_dir():
        return Outcome(place.name, "not committed", f"no results in {place.results}")
    committed = load_parts(place.results)
    missing = needs(next(iter(committed.values())), data, cuda)
    if missing:
        return Outcome(place.name, "not reproducible here", missing)
    regenerated = load_parts(regenerate(committed, data, out_dir / place.name))
    rows = compare(committed, regenerated)
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
    return {**asdict(outcome), "rows": rows, "tolerance": TOLERANCE}


def _show(value: Any) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4f}"
    if isinstance(value, str) and len(value) == 64:  # a SHA-256: its first 16 digits
        return f"{value[:16]}..."
    return "-" if value is None else str(value)


def markdown(outcomes: Sequence[Outcome]) -> str:
    """The outcomes as Markdown: one line per report, then one table per reproduced report."""
    tolerance = ", ".join(f"{unit} {limit}" for unit, limit in TOLERANCE.items())
    lines = ["# Reproduce: committed reports regenerated from scratch", "",
             f"Tolerance (largest difference that reproduces): {tolerance}.", ""]
    lines += [f"- **{o.report}**: {o.status}" + (f" ({o.reason})" if o.reason else "")
              for o in outcomes]
    for outcome in outcomes:
        if not outcome.rows:
            continue
        lines += ["", f"## {outcome.report}: {outcome.status}", "",
                  "| part | number | committed | regenerated | difference | verdict | "
                  "committed 95 % CI |", "| --- | --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {r.part} | {r.name} | {_show(r.committed)} | {_show(r.regenerated)} | "
                  f"{_show(r.difference)} | {r.verdict} | {r.interval} |" for r in outcome.rows]
    return "\n".join(lines) + "\n"


def passed(outcomes: Sequence[Outcome]) -> bool:
    """True when no reproduced report differs (not reproducible or not committed is no
    failure)."""
    return all(outcome.status != "differs" for outcome in outcomes)
