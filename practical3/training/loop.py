"""Training: one run of a ``TrainConfig``, with per-epoch history, atomic checkpoints and resume.

A run folder holds ``run.json`` (settings, data source, run id), ``history.csv`` (one row per
epoch, written as the epoch ends), ``last.pt`` (everything needed to resume, after every epoch)
and ``best.pt`` (the epoch with the best validation score). An interrupted run continues from
``last.pt`` and reproduces the uninterrupted run's numbers on the same machine. A run keeps the
schedule it was planned with: resuming finishes it; a longer run is a new run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn
from tqdm import tqdm

from practical3 import models
from practical3.base.atomic import remove_stale_scratch, write_text
from practical3.base.errors import DivergedError, RunError
from practical3.base.lock import exclusive
from practical3.base.paths import cache_folder, writable_folder
from practical3.base.text import fmt
from practical3.data import sources
from practical3.data.augment import AugmentSpec
from practical3.data.batches import batches
from practical3.data.cache import load_decoded
from practical3.data.index import select_split
from practical3.scoring.metrics import SCORES, CountsAccumulator, score_key, summarize_counts
from practical3.training import checkpoint, distributed
from practical3.training.config import TrainConfig, validate
from practical3.training.device import (
    FP32,
    Precision,
    device_name,
    resolve_device,
    to_device,
)
from practical3.training.distributed import SINGLE, World
from practical3.training.losses import build_loss
from practical3.training.runs import BEST, HISTORY_FILE, LAST, RUN_FILE, identify, saved_config

LOG_EVERY = 10  # steps between progress-bar updates (each one waits for the device)


def train(cfg: TrainConfig, data_root: str | Path, run_dir: str | Path,
          progress: bool = True, data_label: str | None = None) -> pd.DataFrame:
    """Train ``cfg`` on ``data_root`` into a new run folder; returns the epoch history.
    ``data_label`` names the data in run.json (``sources.describe``)."""
    run_dir = Path(run_dir)
    _check_settings(cfg)
    with _writing(run_dir) as world:
        if (run_dir / LAST).exists():
            raise RunError(f"{run_dir} already holds a run ({LAST}): pass --resume to continue "
                           "it, or choose another --out")
        return _run(cfg, data_root, run_dir, None, progress, data_label, world)


def resume(run_dir: str | Path, data_root: str | Path, epochs: int | None = None,
           progress: bool = True, data_label: str | None = None) -> pd.DataFrame:
    """Finish the run in ``run_dir`` from its ``last.pt``, with the settings saved there.

    ``epochs`` may only restate the planned number: extending a run would either train at
    the end of its schedule (learning rate 0) or bend the schedule mid-way, so it is refused
    with the command that starts a longer run instead.
    """
    run_dir = Path(run_dir)
    if not (run_dir / LAST).is_file():
        raise RunError(_nothing_to_resume(run_dir, data_root))
    with _writing(run_dir) as world:
        state = checkpoint.load_resumable(run_dir / LAST)
        cfg = saved_config(state)
        if epochs is not None and epochs != cfg.epochs:
            done = "finished" if state["epoch"] >= cfg.epochs else f"at epoch {state['epoch']}"
            raise RunError(
                f"{run_dir} is a run planned for {cfg.epochs} epochs ({done}); its learning rate "
                f"follows one cosine schedule over them, so --epochs {epochs} cannot change it. "
                f"Start a longer run in a new folder with the same settings (see its "
                f"{RUN_FILE}): practical3 train --data {data_root} --out NEW_RUN_DIR --profile "
                f"{cfg.profile} --epochs {epochs}")
        _check_settings(cfg)
        return _run(cfg, data_root, run_dir, state, progress, data_label, world)


def ensure_trained(cfg: TrainConfig, data_root: str | Path, run_dir: str | Path,
                   progress: bool = True, data_label: str | None = None,
                   gpus: int = 1) -> pd.DataFrame:
    """Train ``cfg`` into ``run_dir``, resume it if interrupted, or reuse it if finished.

    Only a run of the same id (same config, same data) is resumed or reused; a folder holding
    another run is an error, never overwritten. ``gpus`` > 1 trains in that many data-parallel
    workers, started in a subprocess (``launch.ensure_trained_by_workers``; ``Session.gpus``).
    """
    run_dir = Path(run_dir)
    _check_settings(cfg)
    if gpus > 1 and distributed.from_environment().size == 1:
        from practical3.training.launch import ensure_trained_by_workers

        return ensure_trained_by_workers(cfg, data_root, run_dir, gpus, progress, data_label)
    with _writing(run_dir) as world:
        if not (run_dir / LAST).exists():
            return _run(cfg, data_root, run_dir, None, progress, data_label, world)
        state = checkpoint.load_resumable(run_dir / LAST)
        identity = identify(cfg, data_root).run_id
        if state["run_id"] != identity:
            raise RunError(f"{run_dir} holds run {state['run_id']}, not run {identity} (other "
                           f"settings or other data; see its {RUN_FILE}): delete the folder or "
                           "choose another run folder")
        if state["epoch"] >= cfg.epochs:
            if world.is_main:
                _repair(run_dir, state)
            return pd.DataFrame(state["history"])
        return _run(cfg, data_root, run_dir, state, progress, data_label, world)


def _check_settings(cfg: TrainConfig) -> None:
    """Every setting in its range, the device present, the cache folder usable: checked
    before a run touches its folder, so a bad value leaves nothing behind."""
    validate(cfg)
    resolve_device(cfg.device)
    distributed.check_batch_size(cfg.batch_size, distributed.from_environment())
    cache_folder()


@contextmanager
def _writing(run_dir: Path) -> Iterator[World]:
    """Join the data-parallel workers, if any (``distributed.joined``); rank 0 holds
    ``run_dir`` as its one writer (a second is refused at once, naming the holder) and clears
    the scratch files of writers that were killed."""
    world = distributed.from_environment()
    with distributed.joined(world), ExitStack() as held:
        if world.is_main:
            held.enter_context(exclusive(writable_folder(run_dir, "--out"), "training run"))
            remove_stale_scratch(run_dir)
        yield world


def _nothing_to_resume(run_dir: Path, data_root: str | Path) -> str:
    """Why ``run_dir`` cannot be resumed, and what to do instead."""
    if not any((run_dir / name).exists() for name in (BEST, RUN_FILE)):
        return (f"{run_dir / LAST}: no such checkpoint; train first with `practical3 train "
                f"--data {data_root} --out {run_dir}` (it writes {LAST} after each epoch)")
    return (f"{run_dir} holds no {LAST}: its run stopped before its first epoch was saved, so "
            f"there is nothing to resume; start it again without --resume: practical3 train "
            f"--data {data_root} --out {run_dir} (with its settings, see {RUN_FILE})")


def _repair(run_dir: Path, state: dict[str, Any]) -> None:
    """Bring ``best.pt`` and ``history.csv`` in line with ``last.pt`` after a kill.

    ``best.pt`` must hold the best epoch of the history. It may be ahead of ``last.pt``
    (killed between the two writes: redoing the epoch rewrites it) or missing or behind
    (deleted, or written by a version that saved ``last.pt`` first): it is rebuilt when the
    best epoch is ``last.pt``'s own, and otherwise the run is refused, since its best weights
    are gone.
    """
    history = state["history"]
    best_epochs = [row["epoch"] for row in history if row["best"]]
    if best_epochs:
        wanted = best_epochs[-1]
        held = _epoch_of_best(run_dir, state["run_id"])
        if held is None or held < wanted:
            if wanted != state["epoch"]:
                raise RunError(
                    f"{run_dir / BEST} lost the weights of the run's best epoch ({wanted}; "
                    f"{LAST} holds epoch {state['epoch']}), so the run cannot give its best "
                    f"model: train it again into an empty folder (delete {run_dir} or choose "
                    "another --out)")
            checkpoint.save({k: state[k] for k in checkpoint.BEST_KEYS if k in state},
                            run_dir / BEST)
    text = pd.DataFrame(history).to_csv(index=False)
    file = run_dir / HISTORY_FILE
    if not file.is_file() or file.read_text(encoding="utf-8") != text:
        write_text(file, text)


def _epoch_of_best(run_dir: Path, identity: str) -> int | None:
    """The epoch ``best.pt`` holds for run ``identity``; None when absent, unreadable or of
    another run."""
    try:
        best = checkpoint.load(run_dir / BEST)
    except RunError:
        return None
    return best["epoch"] if best["run_id"] == identity else None


def _run(cfg: TrainConfig, data_root: str | Path, run_dir: Path, state: dict[str, Any] | None,
         progress: bool, data_label: str | None = None, world: World = SINGLE) -> pd.DataFrame:
    """The training loop, from scratch (``state`` None) or from a ``last.pt`` state; with
    several workers each trains on its share and only rank 0 writes and prints."""
    device = distributed.worker_device(resolve_device(cfg.device), world)
    progress = progress and world.is_main
    index, fingerprint, precision, identity = identify(cfg, data_root)
    if progress:
        tqdm.write(f"precision {precision.name}: {precision.reason}")
    if state is not None and state.get("run_id") != identity:
        raise RunError(f"the data in {data_root} differ from those run {state.get('run_id')} in "
                       f"{run_dir} started on: resume it on the same data, or start a new run")
    torch.manual_seed(cfg.seed)
    with distributed.main_first(world):  # rank 0 builds the decoded cache, the others read it
        train_data, val_data = (
            load_decoded(select_split(index, cfg.part, split, limit=limit, seed=cfg.seed),
                         cfg.targets, cfg.image_size, progress=progress)
            for split, limit in (("Train", cfg.max_train_images), ("Val", cfg.max_val_images)))

    model = cfg.build_model().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs)
    scaler = precision.scaler(device)
    history: list[dict[str, Any]] = []
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler is not None:
            scaler.load_state_dict(state["scaler"])
        history = state["history"]
        if world.is_main:
            _repair(run_dir, state)
        _set_rng_state(state["rng"], device, world)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    model = model.to(memory_format=torch.channels_last)  # as to_device gives the batches
    trained = distributed.wrap(model, device, world)  # DDP averages the workers' gradients
    step_model = torch.compile(trained) if cfg.compile else trained
    # DDP's forward needs every worker in step, and validation deals them unequal turns
    eval_model = step_model if world.size == 1 else model
    loss_fn = build_loss(cfg.loss)
    augment = AugmentSpec() if cfg.augment else None
    worker = (world.rank, world.size)
    train_batches = batches(train_data, cfg.batch_size, device, train=True, augment=augment,
                            worker=worker)
    val_batches = batches(val_data, cfg.batch_size * 2, device, train=False, worker=worker)
    trained_on = training_data(data_root, fingerprint, len(train_data), len(val_data),
                               data_label)
    if world.is_main:
        _write_run_json(run_dir, cfg, identity, trained_on, device, precision, world.size)

    best = max((row["val_score"] for row in history), default=-math.inf)
    for epoch in range(len(history) + 1, cfg.epochs + 1):
        start = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        epoch_loss = _train_epoch(step_model, train_batches, loss_fn, optimizer, scaler, device,
                                  precision, f"epoch {epoch}/{cfg.epochs}", progress, world)
        train_time = time.perf_counter() - start
        distributed.share_buffers(model, world)
        val_loss, scores = evaluate_batches(eval_model, val_batches, loss_fn, device,
                                            cfg.targets, precision, world)
        scheduler.step()
        row = _history_row(epoch, epoch_loss, val_loss, scores, cfg.targets, lr,
                           time.perf_counter() - start, epoch_loss.seen / train_time)
        row["best"] = row["val_score"] > best
        row["run_id"] = identity
        best = max(best, row["val_score"])
        history.append(row)
        if world.is_main:
            _save_epoch(run_dir, model, optimizer, scheduler, scaler, cfg, identity, trained_on,
                        history, row["best"])
        if progress:
            tqdm.write(_summary_line(row, cfg.epochs, cfg.targets))
    return pd.DataFrame(history)


@dataclasses.dataclass
class EpochLoss:
    """Mean training loss per image over the steps that counted, and the steps skipped."""

    mean: float
    seen: int
    skipped_steps: int


def _train_epoch(model: nn.Module, data: Iterable[tuple[Tensor, Tensor]], loss_fn: nn.Module,
                 optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None,
                 device: torch.device, precision: Precision, desc: str,
                 progress: bool, world: World = SINGLE) -> EpochLoss:
    """One pass over the training batches (this worker's share of each; the mean is over
    every worker's images).

    With a gradient scaler (fp16), a step whose loss is not finite is one the scaler skips
    (it lowers its scale and tries again next step): it is left out of the mean and counted,
    and only an epoch in which every step was skipped is a divergence. Without a scaler any
    non-finite loss is one.
    """
    model.train()
    total = torch.zeros((), device=device)
    seen = torch.zeros((), device=device)
    skipped = torch.zeros((), device=device, dtype=torch.int64)
    bar = tqdm(data, desc=desc, leave=False, disable=not progress, unit="batch")
    for step, (images, masks) in enumerate(bar, start=1):
        loss = train_step(model, images, masks, loss_fn, optimizer, device, precision, scaler)
        finite = torch.isfinite(loss) if scaler is not None else torch.ones((), dtype=torch.bool)
        total += torch.where(finite, loss, 0.0) * len(images)
        seen += finite.to(seen.dtype) * len(images)
        skipped += (~finite).to(skipped.dtype)
        if step % LOG_EVERY == 0 or step == len(bar):
            counted = seen.item()
            running = total.item() / counted if counted else math.inf
            _check_finite(running, desc)
            bar.set_postfix(loss=f"{running:.4f}")
    total, seen = distributed.summed(torch.stack([total, seen]), world).tolist()
    return EpochLoss(total / max(seen, 1), int(seen), int(skipped.item()))


def train_step(model: nn.Module, images: Tensor, masks: Tensor, loss_fn: nn.Module,
               optimizer: torch.optim.Optimizer, device: torch.device,
               precision: Precision = FP32,
               scaler: torch.amp.GradScaler | None = None) -> Tensor:
    """One optimisation step on one batch; returns the detached loss (no device sync).

    With a scaler the loss is scaled before backward, and the optimiser step is skipped when
    the scaled gradients overflow (the scaler then lowers its scale).
    """
    images, masks = to_device(images, device), to_device(masks, device)
    with precision.autocast(device):
        loss = models.supervised_loss(loss_fn, model(images), masks)
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    return loss.detach()


def _check_finite(loss: float, where: str) -> None:
    if not math.isfinite(loss):
        raise DivergedError(f"training loss became {loss} in {where}: stopped; the last good "
                            "checkpoint (last.pt of the previous epoch) is kept. Lower --lr or "
                            "check the data, then --resume")


@torch.inference_mode()
def evaluate_batches(model: nn.Module, data: Iterable[tuple[Tensor, Tensor]], loss_fn: nn.Module,
                     device: torch.device, targets: tuple[str, ...],
                     precision: Precision = FP32, world: World = SINGLE) -> tuple[float, dict]:
    """Mean loss per image and the metric summary (``metrics.summarize_counts``) of ``data``,
    at the training size (validation during training; final evaluation is at native size).
    With several workers ``data`` is this worker's share: the per-image counts and the losses
    of every worker are gathered before any score, so the scores are the whole split's."""
    model.eval()
    accumulator = CountsAccumulator()
    total = torch.zeros((), device=device)
    seen = 0
    for images, masks in data:
        images, masks = to_device(images, device), to_device(masks, device)
        with precision.autocast(device):
            logits = model(images).float()
        total += loss_fn(logits, masks) * len(images)
        seen += len(images)
        accumulator.update(logits, masks)
    counts = accumulator.counts if seen else torch.zeros((0, len(targets), 4), dtype=torch.int64)
    total, seen = distributed.summed(torch.stack([total.cpu(), torch.tensor(float(seen))]),
                                     world).tolist()
    return total / max(seen, 1), summarize_counts(distributed.gathered_rows(counts, world),
                                                  targets)


def _history_row(epoch: int, loss: EpochLoss, val_loss: float, scores: dict,
                 targets: tuple[str, ...], lr: float, epoch_time: float,
                 images_per_s: float) -> dict[str, Any]:
    row: dict[str, Any] = {"epoch": epoch, "train_loss": loss.mean, "val_loss": val_loss}
    for target in targets:
        for score in SCORES:
            row[f"val_{score_key(target, score)}"] = scores[target][score]
    # The validation score that picks best.pt: mean over targets of the pooled (dataset) Dice,
    # which stays defined when many images have empty infection truth.
    row["val_score"] = sum(scores[t]["dice_dataset"] or 0.0 for t in targets) / len(targets)
    row.update(lr=lr, skipped_steps=loss.skipped_steps, epoch_time_s=epoch_time,
               train_images_per_s=images_per_s)
    return row


def _summary_line(row: dict[str, Any], epochs: int, targets: tuple[str, ...]) -> str:
    scores = "  ".join(
        f"{t} Dice {fmt(row['val_' + score_key(t, 'dice_imagewise')], '.3f')} "
        f"IoU {fmt(row['val_' + score_key(t, 'iou_imagewise')], '.3f')}"
        for t in targets
    )
    return (f"epoch {row['epoch']:>3}/{epochs}  train loss {row['train_loss']:.4f}  "
            f"val loss {row['val_loss']:.4f}  {scores}  lr {row['lr']:.2e}  "
            f"{row['epoch_time_s']:.1f}s  {row['train_images_per_s']:.1f} img/s"
            + ("  *best" if row["best"] else ""))


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device, world: World = SINGLE) -> None:
    """Restore the saved generators of the devices this machine has (a run saved on two GPUs
    resumes on one). Every data-parallel worker's GPU takes rank 0's (its GPU 0's): they draw
    in step."""
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        for index, saved in enumerate(state["cuda"][:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(saved.cpu(), index)
        if world.size > 1 and device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda"][0].cpu(), device)


def _save_epoch(run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                scheduler: torch.optim.lr_scheduler.LRScheduler,
                scaler: torch.amp.GradScaler | None, cfg: TrainConfig, identity: str,
                trained_on: dict[str, Any], history: list[dict[str, Any]],
                is_best: bool) -> None:
    """Write best.pt (when this epoch is the best), then last.pt, then the history file,
    each atomically: a kill between two writes leaves a last.pt no newer than best.pt, so
    resuming redoes the epoch and never loses the best model."""
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else None,
        "epoch": len(history),
        "history": history,
        "rng": _rng_state(),
        "config": cfg.to_dict(),
        "run_id": identity,
        "training_data": trained_on,
    }
    if is_best:
        checkpoint.save({k: state[k] for k in checkpoint.BEST_KEYS}, run_dir / BEST)
    checkpoint.save(state, run_dir / LAST)
    write_text(run_dir / HISTORY_FILE, pd.DataFrame(history).to_csv(index=False))


def training_data(data_root: str | Path, fingerprint: str, n_train: int, n_val: int,
                  label: str | None = None) -> dict[str, Any]:
    """What a model learnt from, as run.json and every checkpoint record it: the copy's
    source (kind, dataset, label, credit; ``label`` names a real copy), where it was, its
    fingerprint and the image counts."""
    return {**sources.record(data_root, label), "fingerprint": fingerprint,
            "n_train_images": n_train, "n_val_images": n_val}


def _write_run_json(run_dir: Path, cfg: TrainConfig, identity: str, trained_on: dict[str, Any],
                    device: torch.device, precision: Precision, world_size: int = 1) -> None:
    info = {
        "run_id": identity,
        "config": cfg.to_dict(),
        "data": trained_on,
        "schedule": {"kind": "cosine", "epochs": cfg.epochs, "lr": cfg.lr},
        "augmentation": dataclasses.asdict(AugmentSpec()) if cfg.augment else None,
        "n_train_images": trained_on["n_train_images"],
        "n_val_images": trained_on["n_val_images"],
        "device": str(device),
        "device_name": device_name(device),
        "precision": cfg.precision,
        "precision_used": precision.name,
        "precision_reason": precision.reason,
        "world_size": world_size,  # data-parallel workers (distributed.World)
        "torch": torch.__version__,
    }
    write_text(run_dir / RUN_FILE, json.dumps(info, indent=2))
