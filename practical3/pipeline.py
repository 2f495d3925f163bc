"""The whole job behind ``make figures``: data, EDA, training, evaluation, figures, report.

It trains what the copy holds: the Infection part's model (lung and infection) and, when the
copy has it, the Lung part's model (lungs), each with the profile that fits the device. The
default synthetic twin trains the Infection part only. Each stage reuses what is already done:
a finished run of the same id is not retrained, a cache not rebuilt.

Where the report goes follows the data (``choose_place``): real COVID-QU-Ex makes the committed
real report (``report/report.md``, or ``report/gpu/`` when trained on a GPU), the synthetic twin
the twin's (``report/twin/``), any other copy a report under ``runs/reports/`` unless a place
is named. Results go to ``<results>/<part>/``; results and figures of parts not trained this
time are removed, so a place never mixes runs.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from practical3 import report
from practical3.base import paths
from practical3.data import layout
from practical3.data.sources import describe
from practical3.evaluation.evaluate import evaluate
from practical3.evaluation.results import MAKERS, gather_run
from practical3.plots import eda, evaluation, model
from practical3.session import choose_profile, default_data_root, parts_to_train, run_dir_for
from practical3.training.config import TrainConfig
from practical3.training.device import resolve_device
from practical3.training.loop import ensure_trained
from practical3.training.runs import BEST

T = TypeVar("T")


def choose_place(root: str | Path, cfg: TrainConfig) -> paths.ReportPlace:
    """The report place for ``cfg`` trained on the copy at ``root``: ``twin`` for the synthetic
    twin, ``real`` (CPU) or ``gpu`` for real COVID-QU-Ex, else ``runs/reports/<dataset>/``."""
    source = describe(root)
    if source.kind == "synthetic":
        return paths.report_place("twin")
    if source.is_covidqu:
        on_gpu = resolve_device(cfg.device).type == "cuda"
        return paths.report_place("gpu" if on_gpu else "real")
    slug = re.sub(r"[^a-z0-9]+", "-", source.dataset.lower()).strip("-") or "data"
    return paths.scratch_place(slug)


def run(profile_name: str = "auto", data: str | Path | None = None, *,
        parts: list[str] | None = None, place: str | None = None,
        results_dir: str | Path | None = None, figures_dir: str | Path | None = None,
        report_path: str | Path | None = None, progress: bool = True) -> Path:
    """Run every stage and return the written report's path; prints the time of each stage.

    ``parts`` defaults to ``parts_to_train``. The report, its results and figures go to the
    committed place named ``place``, else to the one ``choose_place`` gives the data; each of
    ``results_dir``, ``figures_dir`` and ``report_path`` overrides its part of the place. Runs
    go under ``runs/``.
    """
    base = choose_profile(profile_name, data)
    root = _stage("data", lambda: Path(data) if data else default_data_root(base))
    where = paths.report_place(place) if place else choose_place(root, base)
    results_dir = Path(results_dir or where.results)
    figures_dir = Path(figures_dir or where.figures)
    report_path = Path(report_path or where.report)
    print(f"report: {paths.display_path(report_path)} (results {paths.display_path(results_dir)},"
          f" figures {paths.display_path(figures_dir)})")
    parts = parts or parts_to_train(root)
    print(f"profile {base.profile}: {base.image_size} px, base {base.base_channels}, "
          f"{base.epochs} epochs; parts: {', '.join(parts)}")
    _stage("EDA figures", lambda: eda.draw_all(root, parts[0], base.seed, out_dir=figures_dir))
    _stage("model figures", lambda: model.draw_all(root, base.replace(part=parts[0]),
                                                   out_dir=figures_dir))
    _remove_other_parts(results_dir, figures_dir, parts)
    for part in parts:
        _model_stages(base.replace(part=part), root, results_dir / part, figures_dir, progress)
    return _stage("report", lambda: report.write(results_dir, report_path,
                                                 figures=figures_dir))


def _model_stages(cfg: TrainConfig, root: Path, results_dir: Path, figures_dir: Path,
                  progress: bool) -> None:
    """Train (or reuse), evaluate, gather and draw one part's model."""
    run_dir = run_dir_for(cfg, root)
    print(f"{cfg.part} model: run folder {run_dir}")
    _stage(f"training ({cfg.part})", lambda: ensure_trained(cfg, root, run_dir, progress))
    _stage(f"evaluation ({cfg.part})", lambda: evaluate(run_dir / BEST, root, results_dir,
                                                        device=cfg.device, progress=progress))
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
