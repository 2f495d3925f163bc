"""The size of notebook 03's own training loop: a subset small enough that the loop takes about
a minute at most on whatever machine runs it, and the rule that stops it (``LOOP_SECONDS``).

The loop runs the profile's epochs on the session's device, and stops after the first epoch
that ends past ``LOOP_SECONDS`` (``timed_epochs``): a CPU and a GPU both finish in about a
minute or less.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from practical3.training.config import TrainConfig

LOOP_SECONDS = 60.0
TRAIN_IMAGES = 64
VAL_IMAGES = 64
BATCH_SIZE = 8


@dataclass(frozen=True)
class LoopPlan:
    """What notebook 03's loop trains on, for how long, and where."""

    train_images: int
    val_images: int
    batch_size: int
    epochs: int
    seconds: float
    device: str

    def __str__(self) -> str:
        return (f"your loop: the first {self.train_images} Train images in batches of "
                f"{self.batch_size}, the first {self.val_images} Val images scored after each "
                f"epoch, on {self.device}; {self.epochs} epochs (the profile's), stopping early "
                f"after the first epoch that ends past {self.seconds:.0f} s")


def loop_plan(cfg: TrainConfig, device: str, train_images: int, val_images: int) -> LoopPlan:
    """The loop's plan for profile ``cfg`` on ``device``, given the split sizes loaded."""
    return LoopPlan(min(TRAIN_IMAGES, train_images), min(VAL_IMAGES, val_images), BATCH_SIZE,
                    cfg.epochs, LOOP_SECONDS, device)


def timed_epochs(epochs: int, seconds: float = LOOP_SECONDS) -> Iterator[int]:
    """Epochs 1 to ``epochs``, stopping after the first that ends past ``seconds``; says at
    the end how many ran and how long they took."""
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        yield epoch
        spent = time.perf_counter() - start
        if spent > seconds and epoch < epochs:
            print(f"stopped after epoch {epoch} of {epochs}: {spent:.0f} s, past the "
                  f"{seconds:.0f} s limit")
            return
    print(f"{epochs} epochs in {time.perf_counter() - start:.0f} s")
