"""Data-parallel training: the worker's place in the run, its process group, and the sums
across workers.

A run launched by ``torchrun`` (or ``practical3 train --gpus N``, ``training.launch``) trains
in N worker processes, one per GPU (or N CPU processes with the gloo backend, as the tests
do). ``batch_size`` stays the global batch, the one the optimiser steps on: every worker draws
the same shuffled order and keeps its share of each batch (``data.batches``), so N workers
see the images and augmentations one worker sees, and the run id does not depend on N.
Gradients are averaged by DistributedDataParallel. BatchNorm keeps per-worker statistics
(each GPU normalises its own share); rank 0's running statistics, which DDP sends to the
others before each step, are sent again before validation, so every worker validates the
model rank 0 saves. Validation counts are gathered from every worker before any score.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import Tensor, nn

from practical3.base.errors import ConfigError, RunError

# torchrun's variables, set in each worker it starts.
RANK_ENV, SIZE_ENV, LOCAL_RANK_ENV, LOCAL_SIZE_ENV = (
    "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")
# Collectives of CPU tensors (validation counts, losses) go through gloo, of GPU tensors
# (DDP's gradients) through NCCL; a machine without CUDA uses gloo for all.
GPU_BACKEND, CPU_BACKEND = "cpu:gloo,cuda:nccl", "gloo"
# How long a worker waits for the others in one collective before giving up: longer than
# the slowest step (the first compiled one) and the rank-0-first cache build.
TIMEOUT = timedelta(minutes=30)


@dataclass(frozen=True)
class World:
    """This worker's rank among ``size`` workers, and its rank on this machine
    (which GPU it drives)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @property
    def is_main(self) -> bool:
        """The worker that writes the run folder and prints the progress."""
        return self.rank == 0


SINGLE = World()


def from_environment(environ: Mapping[str, str] = os.environ) -> World:
    """The ``World`` torchrun describes in its variables; ``SINGLE`` outside torchrun."""
    if SIZE_ENV not in environ:
        return SINGLE
    try:
        return World(*(int(environ.get(name, default)) for name, default in (
            (RANK_ENV, "0"), (SIZE_ENV, "1"), (LOCAL_RANK_ENV, "0"), (LOCAL_SIZE_ENV, "1"))))
    except ValueError as err:
        raise ConfigError(f"torchrun's {RANK_ENV}/{SIZE_ENV}/{LOCAL_RANK_ENV} are not numbers "
                          f"({err}): start the workers with torchrun or practical3 train "
                          "--gpus N") from err


@contextmanager
def joined(world: World) -> Iterator[World]:
    """Join the workers' process group for the block (nothing to join for one worker); a
    worker that loses the others stops with one line instead of a backend traceback."""
    if world.size == 1 or dist.is_initialized():
        yield world
        return
    dist.init_process_group(GPU_BACKEND if torch.cuda.is_available() else CPU_BACKEND,
                            timeout=TIMEOUT)
    try:
        yield world
    except RuntimeError as err:  # DistError, or DDP's reducer relaying the backend's error
        if not lost_contact(err):
            raise
        first = str(err).strip().splitlines()[0]
        raise RunError(f"worker {world.rank} of {world.size} lost contact with the others "
                       f"({first[:160]}): the run folder keeps its last finished epoch; "
                       "continue it with --resume") from None
    finally:
        dist.destroy_process_group()


def lost_contact(err: BaseException) -> bool:
    """Whether ``err`` is a collective failing because another worker is gone (its backend,
    gloo or NCCL, names itself), rather than a bug."""
    text = str(err)
    return isinstance(err, dist.DistError) or any(name in text for name in ("gloo", "NCCL"))


def worker_device(device: torch.device, world: World) -> torch.device:
    """The device this worker trains on: its own GPU (``cuda:LOCAL_RANK``), or the CPU with
    its share of the cores."""
    if world.size == 1:
        return device
    if device.type == "cuda":
        if world.local_size > torch.cuda.device_count():
            raise ConfigError(f"{world.local_size} workers on this machine but "
                              f"{torch.cuda.device_count()} GPU(s): start at most one worker "
                              "per GPU (--gpus / --nproc_per_node)")
        torch.cuda.set_device(world.local_rank)
        return torch.device("cuda", world.local_rank)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world.local_size))
    return device


def check_batch_size(batch_size: int, world: World) -> None:
    """The global batch must split evenly, so every worker's share weighs the same in DDP's
    average of gradients."""
    if batch_size % world.size:
        raise ConfigError(f"--batch-size {batch_size} does not split into {world.size} equal "
                          f"shares: choose a multiple of {world.size} (the batch size is the "
                          "global batch, shared by the workers)")


def wrap(model: nn.Module, device: torch.device, world: World) -> nn.Module:
    """``model`` in DistributedDataParallel when there are several workers, else itself."""
    if world.size == 1:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def share_buffers(model: nn.Module, world: World) -> None:
    """Send rank 0's buffers (BatchNorm's running statistics) to every worker, so all of them
    evaluate the model rank 0 saves."""
    if world.size > 1:
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)


def summed(values: Tensor, world: World) -> Tensor:
    """``values`` summed over the workers (on the CPU: gloo)."""
    values = values.detach().cpu().clone()
    if world.size > 1:
        dist.all_reduce(values)
    return values


def gathered_rows(rows: Tensor, world: World) -> Tensor:
    """Every worker's ``rows`` (first dimension of any length, zero included), concatenated in
    rank order on the CPU: the per-image counts of the whole split."""
    rows = rows.detach().cpu()
    if world.size == 1:
        return rows
    sizes = [torch.zeros(1, dtype=torch.int64) for _ in range(world.size)]
    dist.all_gather(sizes, torch.tensor([len(rows)]))
    longest = int(max(sizes).item())
    padded = torch.zeros((longest, *rows.shape[1:]), dtype=rows.dtype)
    padded[:len(rows)] = rows
    parts = [torch.empty_like(padded) for _ in range(world.size)]
    dist.all_gather(parts, padded)
    return torch.cat([part[:int(n.item())] for part, n in zip(parts, sizes, strict=True)])


@contextmanager
def main_first(world: World) -> Iterator[None]:
    """Run the block on rank 0 first, then on the others (a cache rank 0 builds once and the
    others read)."""
    if not world.is_main:
        summed(torch.zeros(1), world)
    yield
    if world.is_main:
        summed(torch.zeros(1), world)
