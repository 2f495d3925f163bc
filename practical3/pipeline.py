"""The whole job behind ``make figures``: data, EDA, training, evaluation, figures, report.

It trains what the copy holds: the Infection part's model (lung and infection) and, when the
copy has it, the Lung part's model (lungs), each with the profile that fits the device. The
default synthetic twin trains the Infection part only. Each stage reuses what is already done:
a finished run of the same id is not retrained, a cache not rebuilt.

A committed report is replaced only by its own protocol (``choose_place``; docs/places.md): the
twin's (``report/twin/``) by a run of the synthetic twin, the real one (``report/report.md``, or
``report/gpu/`` on a GPU) by a run of real COVID-QU-Ex, each only at the profile and on the data
(fingerprint) its committed results record. Anything else (another profile, a subset, a copy that
merely looks like the archive) writes under ``runs/reports/<data>-<profile>/`` and says why;
``place`` names a committed place outright. Results go to ``<results>/<part>/``; results and
figures of parts not trained this time are removed, so a place never mixes runs.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from practical3 import report
from practical3.base import paths
from practical3.data import layout
from practical3.data.sources import DataSource, describe
from practical3.evaluation.evaluate import evaluate
from practical3.evaluation.results import MAKERS, gather_run
from practical3.plots import eda, evaluation, model
from practical3.session import choose_profile, default_data_root, parts_to_train
from practical3.training.config import TrainConfig
from practical3.training.device import resolve_device
from practical3.training.loop import ensure_trained
from practical3.training.runs import BEST, RUN_FILE, default_run_dir, identify

T = TypeVar("T")
# What makes a report: each part's profile and the fingerprint of the data it trained on.
Protocol = dict[str, tuple[str, str]]


def recorded_protocol(place: paths.ReportPlace) -> Protocol | None:
    """The protocol of the results at ``place``, from each part's run.json; None when it has
    no results (nothing to replace). A run.json that cannot be read matches no run."""
    files = sorted(place.results.glob(f"*/{RUN_FILE}"))
    if not files:
        return None
    protocol: Protocol = {}
    for file in files:
        try:
            run = json.loads(file.read_text(encoding="utf-8"))
            protocol[file.parent.name] = (run["config"]["profile"], run["data"]["fingerprint"])
        except (OSError, ValueError, KeyError, TypeError):
            protocol[file.parent.name] = ("unreadable", str(file))
    return protocol


def choose_place(source: DataSource, protocol: Protocol, on_gpu: bool,
                 runs: str | Path | None = None) -> tuple[paths.ReportPlace, str]:
    """Where a run of ``protocol`` on ``source`` reports, and why: the committed place of its
    kind of data (twin, real, or gpu when ``on_gpu``) when that place records the same protocol
    or nothing yet, else ``<runs>/reports/<data>-<profile>/``."""
    profile = next(iter(protocol.values()))[0]
    slug = re.sub(r"[^a-z0-9]+", "-", source.dataset.lower()).strip("-") or "data"
    scratch = paths.scratch_place(f"{slug}-{profile}", runs)
    if source.kind == "synthetic":
        home = "twin"
    elif source.is_covidqu:
        home = "gpu" if on_gpu else "real"
    else:
        return scratch, f"{source.dataset} is the data of no committed report"
    recorded = recorded_protocol(paths.report_place(home))
    if recorded is None:
        return paths.report_place(home), f"the {home} report has no committed results yet"
    if recorded == protocol:
        return paths.report_place(home), f"the committed {home} report's own protocol"
    return scratch, (f"not the committed {home} report's protocol ({_shown(recorded)}; this run: "
                     f"{_shown(protocol)}), which stays as it is; --place {home} replaces it")


def _shown(protocol: Protocol) -> str:
    return ", ".join(f"{part}: profile {profile}, data {fingerprint[:12]}"
                     for part, (profile, fingerprint) in sorted(protocol.items()))


def run(profile_name: str = "auto", data: str | Path | None = None, *,
        parts: list[str] | None = None, place: str | None = None,
        results_dir: str | Path | None = None, figures_dir: str | Path | None = None,
        report_path: str | Path | None = None, runs: str | Path | None = None,
        data_label: str | None = None, progress: bool = True) -> Path:
    """Run every stage and return the written report's path; prints the time of each stage.

    ``parts`` defaults to ``parts_to_train``. The report, its results and figures go to the
    committed place named ``place``, else to the one ``choose_place`` gives the run; each of
    ``results_dir``, ``figures_dir`` and ``report_path`` overrides its part of the place. Runs
    go under ``runs`` (default ``runs/``, or ``$PRACTICAL3_RUNS``); ``data_label`` names a
    real copy in every output.

    Example: ``run("smoke", "data/synthetic-smoke")`` trains the smoke profile on that twin
    and writes its report under ``runs/reports/`` (the committed twin report is the demo's).
    """
    runs = paths.writable_folder(runs, "the runs folder") if runs else paths.runs_folder()
    base = choose_profile(profile_name, data)
    root = _stage("data", lambda: Path(data) if data else default_data_root(base))
    parts = parts or parts_to_train(root)
    identities = _stage("fingerprints", lambda: {
        part: identify(base.replace(part=part), root) for part in parts})
    if place:
        where, why = paths.report_place(place), f"--place {place}"
    else:
        protocol = {part: (base.profile, i.fingerprint) for part, i in identities.items()}
        on_gpu = resolve_device(base.device).type == "cuda"
        where, why = choose_place(describe(root, data_label), protocol, on_gpu, runs)
    results_dir = Path(results_dir or where.results)
    figures_dir = Path(figures_dir or where.figures)
    report_path = Path(report_path or where.report)
    print(f"report: {paths.display_path(report_path)} ({why}; results "
          f"{paths.display_path(results_dir)}, figures {paths.display_path(figures_dir)})")
    print(f"profile {base.profile}: {base.image_size} px, base {base.base_channels}, "
          f"{base.epochs} epochs; parts: {', '.join(parts)}")
    _stage("EDA figures", lambda: eda.draw_all(root, parts[0], base.seed, out_dir=figures_dir,
                                               data_label=data_label))
    _stage("model figures", lambda: model.draw_all(root, base.replace(part=parts[0]),
                                                   out_dir=figures_dir, data_label=data_label))
    _remove_other_parts(results_dir, figures_dir, parts)
    for part, identity in identities.items():
        cfg = base.replace(part=part)
        run_dir = default_run_dir(cfg, identity.run_id, runs)
        _model_stages(cfg, root, run_dir, results_dir / part, figures_dir, data_label, progress)
    return _stage("report", lambda: report.write(results_dir, report_path,
                                                 figures=figures_dir))


def _model_stages(cfg: TrainConfig, root: Path, run_dir: Path, results_dir: Path,
                  figures_dir: Path, data_label: str | None, progress: bool) -> None:
    """Train (or reuse) into ``run_dir``, evaluate, gather and draw one part's model."""
    print(f"{cfg.part} model: run folder {run_dir}")
    _stage(f"training ({cfg.part})",
           lambda: ensure_trained(cfg, root, run_dir, progress, data_label))
    _stage(f"evaluation ({cfg.part})",
           lambda: evaluate(run_dir / BEST, root, results_dir, device=cfg.device,
                            progress=progress, data_label=data_label))
    gather_run(run_dir, results_dir)
    _stage(f"figures ({cfg.part})", lambda: evaluation.draw_all(results_dir, out_dir=figures_dir))


def _remove_other_parts(results_dir: Path, figures_dir: Path, parts: list[str]) -> None:
    """Delete results and figures of parts not trained this time (and a flat, single-model
    results folder), so that the report's folders hold one run per part."""
    for part in layout.PARTS:
        if part not in parts:
            shutil.rmtree(results_dir / part, ignore_errors=True)
            for name in evaluation.figure_names(part):
                (figures_dir / f"{name}.png").unlink(missing_ok=True)
    for name in MAKERS:
        (results_dir / name).unlink(missing_ok=True)


def _stage(name: str, work: Callable[[], T]) -> T:
    start = time.perf_counter()
    result = work()
    print(f"[{name}] done in {time.perf_counter() - start:.1f} s", flush=True)
    return result
