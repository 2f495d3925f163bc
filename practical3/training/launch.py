"""Start the data-parallel workers of one run: ``practical3 train --gpus N`` and ``start()``.

``launch`` runs torchrun's own agent (``torch.distributed.launcher.elastic_launch``, what the
``torchrun`` command runs) in this process: it starts ``python -m practical3 train ...`` once
per GPU as a subprocess, and a worker that fails ends the launch with one line naming it.
From a notebook, ``ensure_trained_by_workers`` (``loop.ensure_trained(..., gpus=N)``) runs
that command in a fresh process and copies its output into the cell: the kernel itself never
touches a GPU nor forks (the reason ``accelerate``'s ``notebook_launcher`` asks for a kernel
with no CUDA call before it, and why this needs no extra package).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

import pandas as pd

from practical3.base.errors import ConfigError, RunError
from practical3.training.config import TrainConfig
from practical3.training.distributed import World, check_batch_size
from practical3.training.profiles import profile
from practical3.training.runs import HISTORY_FILE
from practical3.training.settings import overridable

TRAIN = ("-m", "practical3", "train")
RESUME_HINT = ("the run folder keeps its last finished epoch: continue it with practical3 train "
               "--resume --data DATA --out RUN_DIR (its saved settings apply)")


def launch(workers: int, train_args: Sequence[str]) -> None:
    """Run ``practical3 train *train_args`` in ``workers`` processes on this machine and wait
    for them; a worker that dies or fails raises one RunError naming it."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=workers,
                          run_id=str(uuid.uuid4()), rdzv_backend="c10d",
                          rdzv_endpoint="localhost:0", max_restarts=0, monitor_interval=0.5)
    try:
        elastic_launch(config, sys.executable)(*TRAIN, *train_args)
    except ChildFailedError as err:
        rank, failure = err.get_first_failure()
        raise RunError(failure_line(rank, workers, failure.pid, failure.exitcode)) from None


def failure_line(rank: int, workers: int, pid: int, exitcode: int) -> str:
    """One line naming the worker that ended a run, how, and how to go on."""
    if exitcode < 0:
        import signal

        how = f"was killed by {signal.Signals(-exitcode).name}"
    else:
        how = f"stopped with exit status {exitcode} (its message is above)"
    return f"training worker {rank} of {workers} (pid {pid}) {how}; {RESUME_HINT}"


def train_in_subprocess(train_args: Sequence[str], environ: Mapping[str, str] = os.environ,
                        out: TextIO | None = None) -> None:
    """Run ``python -m practical3 train *train_args`` in a new process with its own copy of
    ``environ`` (unbuffered, so progress shows as it comes), copying its output to ``out``
    (the notebook cell); a failure raises RunError with the command's last line."""
    out = out or sys.stdout
    env = {**environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen([sys.executable, *TRAIN, *train_args], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as process:
        assert process.stdout is not None
        last = b""
        while chunk := process.stdout.read1(4096):
            out.write(chunk.decode(errors="replace"))
            out.flush()
            last = (last + chunk).rstrip(b"\r\n").rsplit(b"\n", 1)[-1]
    if process.returncode:
        raise RunError(last.decode(errors="replace").strip()
                       or f"practical3 train stopped with exit status {process.returncode}")


def ensure_trained_by_workers(cfg: TrainConfig, data_root: str | Path, run_dir: str | Path,
                              gpus: int, progress: bool = True, data_label: str | None = None,
                              environ: Mapping[str, str] = os.environ) -> pd.DataFrame:
    """``loop.ensure_trained`` in ``gpus`` data-parallel workers: ``practical3 train --gpus
    N --reuse`` in a subprocess with its own environment, its output shown here."""
    check_batch_size(cfg.batch_size, World(size=gpus))  # before any process starts
    args = ["--data", str(data_root), "--out", str(run_dir), "--gpus", str(gpus), "--reuse",
            *settings_arguments(cfg)]
    args += ["--data-label", data_label] if data_label else []
    args += [] if progress else ["--quiet"]
    train_in_subprocess(args, environ)
    return pd.read_csv(Path(run_dir) / HISTORY_FILE)


def settings_arguments(cfg: TrainConfig) -> list[str]:
    """The command-line options that give ``cfg``: its profile, and each setting it changes."""
    base = profile(cfg.profile)
    args = ["--profile", cfg.profile]
    for name, kind in overridable().items():
        value, flag = getattr(cfg, name), f"--{name.replace('_', '-')}"
        if value == getattr(base, name):
            continue
        if value is None:
            raise ConfigError(f"{name}=None cannot be passed to the workers over the profile "
                              f"{cfg.profile}'s {getattr(base, name)}: give it a value")
        args += [flag if value else f"--no-{flag[2:]}"] if kind is bool else [flag, str(value)]
    return args
