"""Training: one run of a ``TrainConfig``, with per-epoch history, atomic checkpoints and resume.

A run folder holds ``run.json`` (settings and data source), ``history.csv`` (one row per epoch,
written as the epoch ends), ``last.pt`` (everything needed to resume, after every epoch) and
``best.pt`` (the epoch with the best validation score). An interrupted run continues from
``last.pt`` and reproduces the uninterrupted run's numbers on the same machine.
"""

from __future__ import annotations

import dataclasses
import json
import math
import platform
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn
from tqdm import tqdm

from practical3 import checkpoint, layout
from practical3.atomic import write_text
from practical3.augment import AugmentSpec
from practical3.cache import DecodedArrays
from practical3.config import TrainConfig
from practical3.dataset import open_source, select_split
from practical3.device import autocast, resolve_device, to_device
from practical3.index import build_index
from practical3.loaders import batches
from practical3.losses import build_loss
from practical3.metrics import CountsAccumulator
from practical3.model import build_model
from practical3.sources import display_path, source_kind, source_label

LOG_EVERY = 10  # steps between progress-bar updates (each one waits for the device)


class DivergedError(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def load_split_arrays(cfg: TrainConfig, data_root: str | Path, split: str,
                      limit: int | None, progress: bool = False) -> DecodedArrays:
    """The decoded (cached) arrays of one split of ``cfg.part`` at ``cfg.image_size``."""
    index = build_index(data_root, parts=[cfg.part])
    rows = select_split(index, cfg.part, split, limit=limit, seed=cfg.seed)
    return open_source(rows, cfg.part, cfg.image_size, cached=True, progress=progress)


def train(cfg: TrainConfig, data_root: str | Path, out: str | Path, resume: bool = False,
          progress: bool = True) -> pd.DataFrame:
    """Train ``cfg`` on ``data_root`` into run folder ``out``; returns the epoch history."""
    out = Path(out)
    state = _resume_state(out, resume)
    if state is not None:
        cfg = TrainConfig.from_dict(state["config"]).replace(epochs=cfg.epochs)
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    targets = layout.TARGETS[cfg.part]
    train_data = load_split_arrays(cfg, data_root, "Train", cfg.max_train_images, progress)
    val_data = load_split_arrays(cfg, data_root, "Val", cfg.max_val_images, progress)

    model = build_model(cfg.model, 1, len(targets), cfg.base_channels, cfg.depth).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs)
    history: list[dict[str, Any]] = []
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scheduler.T_max = cfg.epochs
        history = state["history"]
        _set_rng_state(state["rng"])
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        model = model.to(memory_format=torch.channels_last)
    step_model = torch.compile(model) if cfg.compile else model
    loss_fn = build_loss(cfg.loss)
    augment = AugmentSpec() if cfg.augment else None
    train_batches = batches(train_data, cfg.batch_size, device, train=True, augment=augment)
    val_batches = batches(val_data, cfg.batch_size * 2, device, train=False)
    _write_run_json(out, cfg, data_root, device, len(train_data), len(val_data))

    best = max((row["val_score"] for row in history), default=-math.inf)
    for epoch in range(len(history) + 1, cfg.epochs + 1):
        start = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        train_loss, seen = _train_epoch(step_model, train_batches, loss_fn, optimizer, device,
                                        f"epoch {epoch}/{cfg.epochs}", progress)
        train_time = time.perf_counter() - start
        val_loss, scores = evaluate_batches(step_model, val_batches, loss_fn, device, targets)
        scheduler.step()
        row = _history_row(epoch, train_loss, val_loss, scores, targets, lr,
                           time.perf_counter() - start, seen / train_time)
        row["best"] = row["val_score"] > best
        best = max(best, row["val_score"])
        history.append(row)
        _save_epoch(out, model, optimizer, scheduler, cfg, history, row["best"])
        if progress:
            tqdm.write(_summary_line(row, cfg.epochs, targets))
    return pd.DataFrame(history)


def ensure_trained(cfg: TrainConfig, data_root: str | Path, out: str | Path,
                   progress: bool = True) -> pd.DataFrame:
    """Train ``cfg`` into ``out``, resume it if interrupted, or reuse it if already finished.

    A folder holding a run of another config is an error, never overwritten.
    """
    last = Path(out) / "last.pt"
    if not last.exists():
        return train(cfg, data_root, out, progress=progress)
    state = checkpoint.load(last)
    if TrainConfig.from_dict(state["config"]).replace(epochs=cfg.epochs) != cfg:
        raise FileExistsError(f"{out} holds a run with other settings (see its run.json): "
                              "delete the folder or choose another run folder")
    if state["epoch"] >= cfg.epochs:
        return pd.DataFrame(state["history"])
    return train(cfg, data_root, out, resume=True, progress=progress)


def _resume_state(out: Path, resume: bool) -> dict[str, Any] | None:
    last = out / "last.pt"
    if resume:
        return checkpoint.load(last)
    if last.exists():
        raise FileExistsError(f"{out} already holds a run (last.pt): pass --resume to continue "
                              "it, or choose another --out")
    return None


def _train_epoch(model: nn.Module, data: Iterable[tuple[Tensor, Tensor]], loss_fn: nn.Module,
                 optimizer: torch.optim.Optimizer, device: torch.device, desc: str,
                 progress: bool) -> tuple[float, int]:
    """One pass over the training batches; returns the mean loss per image and images seen."""
    model.train()
    total = torch.zeros((), device=device)
    seen = 0
    bar = tqdm(data, desc=desc, leave=False, disable=not progress, unit="batch")
    for step, (images, masks) in enumerate(bar, start=1):
        loss = train_step(model, images, masks, loss_fn, optimizer, device)
        total += loss * len(images)
        seen += len(images)
        if step % LOG_EVERY == 0 or step == len(bar):
            running = total.item() / seen
            _check_finite(running, desc)
            bar.set_postfix(loss=f"{running:.4f}")
    return total.item() / max(seen, 1), seen


def train_step(model: nn.Module, images: Tensor, masks: Tensor, loss_fn: nn.Module,
               optimizer: torch.optim.Optimizer, device: torch.device, fast: bool = True
               ) -> Tensor:
    """One optimisation step on one batch; returns the detached loss (no device sync).

    ``fast`` (bf16 autocast and channels_last on CUDA) is off only for the benchmark's baseline.
    """
    images, masks = to_device(images, device, fast), to_device(masks, device, fast)
    with autocast(device, fast):
        loss = loss_fn(model(images), masks)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def _check_finite(loss: float, where: str) -> None:
    if not math.isfinite(loss):
        raise DivergedError(f"training loss became {loss} in {where}: stopped; the last good "
                            "checkpoint (last.pt of the previous epoch) is kept. Lower --lr or "
                            "check the data, then --resume")


@torch.inference_mode()
def evaluate_batches(model: nn.Module, data: Iterable[tuple[Tensor, Tensor]], loss_fn: nn.Module,
                     device: torch.device, targets: tuple[str, ...]) -> tuple[float, dict]:
    """Mean loss per image and the metric summary (``metrics.summarize_counts``) of ``data``."""
    model.eval()
    accumulator = CountsAccumulator(from_logits=True)
    total = torch.zeros((), device=device)
    seen = 0
    for images, masks in data:
        images, masks = to_device(images, device), to_device(masks, device)
        with autocast(device):
            logits = model(images).float()
        total += loss_fn(logits, masks) * len(images)
        seen += len(images)
        accumulator.update(logits, masks)
    return total.item() / max(seen, 1), accumulator.summary(targets)


def _history_row(epoch: int, train_loss: float, val_loss: float, scores: dict,
                 targets: tuple[str, ...], lr: float, epoch_time: float,
                 images_per_s: float) -> dict[str, Any]:
    row: dict[str, Any] = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss}
    for target in targets:
        for metric in ("dice_imagewise", "iou_imagewise", "dice_dataset", "iou_dataset"):
            row[f"val_{metric}_{target}"] = scores[target][metric]
    # The validation score that picks best.pt: mean over targets of the pooled (dataset) Dice,
    # which stays defined when many images have empty infection truth.
    row["val_score"] = sum(scores[t]["dice_dataset"] or 0.0 for t in targets) / len(targets)
    row.update(lr=lr, epoch_time_s=epoch_time, train_images_per_s=images_per_s)
    return row


def _summary_line(row: dict[str, Any], epochs: int, targets: tuple[str, ...]) -> str:
    scores = "  ".join(
        f"{t} Dice {_fmt(row[f'val_dice_imagewise_{t}'])} IoU {_fmt(row[f'val_iou_imagewise_{t}'])}"
        for t in targets
    )
    return (f"epoch {row['epoch']:>3}/{epochs}  train loss {row['train_loss']:.4f}  "
            f"val loss {row['val_loss']:.4f}  {scores}  lr {row['lr']:.2e}  "
            f"{row['epoch_time_s']:.1f}s  {row['train_images_per_s']:.1f} img/s"
            + ("  *best" if row["best"] else ""))


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def _save_epoch(out: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                scheduler: torch.optim.lr_scheduler.LRScheduler, cfg: TrainConfig,
                history: list[dict[str, Any]], is_best: bool) -> None:
    """Write last.pt (and best.pt) atomically, then the history files."""
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": len(history),
        "history": history,
        "rng": _rng_state(),
        "config": cfg.to_dict(),
    }
    checkpoint.save(state, out / "last.pt")
    if is_best:
        checkpoint.save({k: state[k] for k in ("model", "epoch", "config")}, out / "best.pt")
    write_text(out / "history.csv", pd.DataFrame(history).to_csv(index=False))


def _write_run_json(out: Path, cfg: TrainConfig, data_root: str | Path, device: torch.device,
                    n_train: int, n_val: int) -> None:
    info = {
        "config": cfg.to_dict(),
        "data_root": display_path(data_root),
        "data_source": source_kind(data_root),
        "data_label": source_label(data_root),
        "augmentation": dataclasses.asdict(AugmentSpec()) if cfg.augment else None,
        "n_train_images": n_train,
        "n_val_images": n_val,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "torch": torch.__version__,
    }
    write_text(out / "run.json", json.dumps(info, indent=2))
