"""The whole job behind ``make figures``: data, EDA, training, evaluation, figures, report.

Profile ``auto`` runs the report's ``full`` protocol when real data and a GPU are present,
``laptop`` for real data on a CPU, and the CPU ``demo`` on the synthetic twin otherwise.
Each stage reuses what is already done (a finished run is not retrained, a cache not rebuilt).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch

from practical3 import eda, figures, model_figures, report
from practical3.config import FIGURES_DIR, TrainConfig, profile, runs_dir
from practical3.evaluate import evaluate
from practical3.results import RESULTS_DIR, gather_run
from practical3.sources import default_data_root, is_synthetic, real_data_root
from practical3.train import ensure_trained

T = TypeVar("T")


def choose_profile(name: str, data: str | Path | None) -> TrainConfig:
    """The named profile, or for ``auto`` the one that fits the data and the device."""
    if name != "auto":
        return profile(name)
    real = (data is not None and not is_synthetic(data)) or (data is None and real_data_root())
    if not real:
        return profile("demo")
    return profile("full" if torch.cuda.is_available() else "laptop")


def run(profile_name: str = "auto", data: str | Path | None = None,
        run_dir: str | Path | None = None, results_dir: str | Path = RESULTS_DIR,
        figures_dir: str | Path = FIGURES_DIR, report_path: str | Path = report.REPORT,
        progress: bool = True) -> Path:
    """Run every stage and return the written report's path; prints the time of each stage.

    The report links its figures as ``../figures/NAME.png``: keep ``figures_dir`` there.
    """
    cfg = choose_profile(profile_name, data)
    run_dir = Path(run_dir or runs_dir() / cfg.profile)
    print(f"profile {cfg.profile}: {cfg.image_size} px, base {cfg.base_channels}, "
          f"{cfg.epochs} epochs; run folder {run_dir}")
    root = _stage("data", lambda: Path(data) if data else default_data_root(cfg))
    _stage("EDA figures", lambda: eda.draw_all(root, cfg.part, cfg.seed, figures_dir))
    _stage("model figures", lambda: model_figures.draw_all(cfg, root, figures_dir))
    _stage("training", lambda: ensure_trained(cfg, root, run_dir, progress=progress))
    _stage("evaluation", lambda: evaluate(run_dir / "best.pt", root, results_dir,
                                          device=cfg.device, progress=progress))
    gather_run(run_dir, results_dir)
    _stage("figures", lambda: figures.draw_all(results_dir, figures_dir))
    return _stage("report", lambda: report.write(results_dir, report_path))


def _stage(name: str, work: Callable[[], T]) -> T:
    start = time.perf_counter()
    result = work()
    print(f"[{name}] done in {time.perf_counter() - start:.1f} s", flush=True)
    return result
