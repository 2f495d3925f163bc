"""Start the data-parallel workers of one run: ``practical3 train --gpus N`` and ``start()``.

``launch`` runs torchrun's own agent (``torch.distributed.launcher.elastic_launch``, what the
``torchrun`` command runs) in this process: it starts ``python -m practical3 train ...`` once
per GPU as a subprocess, and a worker that fails ends the launch with one line naming it.
From a notebook, ``train_in_subprocess`` runs that command in a fresh process and copies its
output into the cell: the kernel itself never touches a GPU nor forks (the reason
``accelerate``'s ``notebook_launcher`` asks for a kernel with no CUDA call before it, and why
this needs no extra package).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Mapping, Sequence
from typing import TextIO

from practical3.base.errors import RunError

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
