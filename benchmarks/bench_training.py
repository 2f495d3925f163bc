"""Training and evaluation speed: the usual-notebook baseline against this project's path.

Both run side by side in one process, on the same synthetic data at the same settings:
  (a) baseline: PIL decodes every PNG in a DataLoader each epoch, fp32, NCHW;
  (b) project:  decoded uint8 cache; on a GPU the split lives on the device and batches are
      gathered and augmented there, bf16 autocast, channels_last, cudnn autotuning
      (``--compile`` adds torch.compile, whose compile time is reported apart).
On a CPU it also splits a training step of the project path into data and compute time at the
smoke and laptop settings. The last line reads ``speedup vs baseline: <ratio>x``.

    python benchmarks/bench_training.py            # GPU: 256 px, base 64; CPU: reduced, < 2 min
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from practical3 import layout
from practical3.augment import AugmentSpec
from practical3.config import profile
from practical3.dataset import SegmentationDataset, open_source, select_split
from practical3.device import autocast, resolve_device, to_device
from practical3.index import build_index
from practical3.loaders import batches
from practical3.losses import build_loss
from practical3.model import build_model, forward_flops
from practical3.synth import synthesize
from practical3.train import train_step

# Infection part of COVID-QU-Ex: the report's protocol trains on Train and validates on Val.
PROTOCOL_TRAIN, PROTOCOL_VAL, PROTOCOL_EPOCHS = 3728, 932, 30
# Dense bf16 tensor-core peaks (TFLOP/s) from the vendors' data sheets, by device-name fragment.
BF16_PEAK_TFLOPS = {"H200": 989.0, "H100 PCIe": 756.0, "H100": 989.0, "A100": 312.0,
                    "L4": 121.0, "T4": 65.0}
EVAL_BATCH = 64


@dataclass
class Measured:
    name: str
    train_ips: float
    eval_ips: float
    data_fraction: float
    peak_memory_gb: float | None
    tflops: float
    warmup_s: float
    setup_s: float = 0.0


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cycle(loader: Iterable) -> Iterator:
    while True:
        yield from loader


def time_training(model: torch.nn.Module, loader: Iterable, device: torch.device, warmup: int,
                  steps: int, fast: bool = True) -> tuple[float, float, float]:
    """Images/s over ``steps`` steps after ``warmup`` steps, the share of that time spent
    waiting for data, and the warm-up's seconds (autotuning, compilation, worker start)."""
    loss_fn = build_loss("bce_dice")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    start = time.perf_counter()
    batches_iter = cycle(loader)
    for _ in range(warmup):
        images, masks = next(batches_iter)
        train_step(model, images, masks, loss_fn, optimizer, device, fast)
    sync(device)
    warmup_s = time.perf_counter() - start
    waited, seen, start = 0.0, 0, time.perf_counter()
    for _ in range(steps):
        before = time.perf_counter()
        images, masks = next(batches_iter)
        waited += time.perf_counter() - before
        train_step(model, images, masks, loss_fn, optimizer, device, fast)
        seen += len(images)
    sync(device)
    elapsed = time.perf_counter() - start
    return seen / elapsed, waited / elapsed, warmup_s


@torch.inference_mode()
def time_eval(model: torch.nn.Module, loader: Iterable, device: torch.device,
              fast: bool) -> float:
    """Images/s of thresholded predictions over one pass of ``loader``."""
    model.eval()
    seen, start = 0, time.perf_counter()
    for images, _ in loader:
        with autocast(device, fast):
            images = to_device(images, device, fast)
            (model(images) > 0).sum()
        seen += len(images)
    sync(device)
    return seen / (time.perf_counter() - start)


def peak_memory(device: torch.device) -> float | None:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 1e9
    return None


def measure(name: str, make_model: Callable[[], torch.nn.Module], train_loader: Iterable,
            eval_loader: Iterable, device: torch.device, args: argparse.Namespace,
            fast: bool, setup_s: float = 0.0) -> Measured:
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = fast
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model = make_model()
    train_ips, data_fraction, warmup_s = time_training(model, train_loader, device, args.warmup,
                                                       args.steps, fast)
    eval_ips = time_eval(model, eval_loader, device, fast)
    flops = 3 * forward_flops(build_model("unet", 1, 2, args.base_channels, 4), args.image_size)
    return Measured(name, train_ips, eval_ips, data_fraction, peak_memory(device),
                    flops * train_ips / 1e12, warmup_s, setup_s)


def bf16_peak(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in BF16_PEAK_TFLOPS.items() if key in name), None)


def report(results: list[Measured], device: torch.device, args: argparse.Namespace) -> None:
    peak = bf16_peak(device)
    print(f"\nsettings: {args.image_size}x{args.image_size} px, base {args.base_channels}, "
          f"batch {args.batch_size}, {args.steps} timed steps after {args.warmup} warm-up")
    print(f"{'path':<22}{'train img/s':>12}{'eval img/s':>12}{'data wait':>10}"
          f"{'epoch s':>9}{'30 ep. min':>11}{'peak GB':>9}{'TFLOP/s':>9}{'of bf16':>8}")
    for r in results:
        epoch_s = PROTOCOL_TRAIN / r.train_ips + PROTOCOL_VAL / r.eval_ips
        memory = f"{r.peak_memory_gb:.2f}" if r.peak_memory_gb is not None else "n/a"
        share = f"{r.tflops / peak:.1%}" if peak else "n/a"
        print(f"{r.name:<22}{r.train_ips:>12.1f}{r.eval_ips:>12.1f}{r.data_fraction:>10.1%}"
              f"{epoch_s:>9.1f}{PROTOCOL_EPOCHS * epoch_s / 60:>11.1f}{memory:>9}"
              f"{r.tflops:>9.2f}{share:>8}")
        print(f"{'':<22}(warm-up steps {r.warmup_s:.1f} s"
              + (f", one-time decode and set-up {r.setup_s:.1f} s)" if r.setup_s else ")"))
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # Linux reports KiB
    print(f"epoch = {PROTOCOL_TRAIN} training + {PROTOCOL_VAL} validation images (Infection "
          f"part); process peak RSS {rss_gb:.2f} GB")


def cpu_data_split(root: Path) -> None:
    """The project path's data share of a training step at the smoke and laptop settings."""
    print("\nCPU data path share of a training step (project path, decoded cache):")
    index = build_index(root, parts=["infection"])
    device = torch.device("cpu")
    for name in ("smoke", "laptop"):
        cfg = profile(name)
        rows = select_split(index, "infection", "Train")
        source = open_source(rows, "infection", cfg.image_size)
        loader = batches(source, cfg.batch_size, device, train=True, augment=AugmentSpec())
        model = build_model("unet", 1, 2, cfg.base_channels, cfg.depth)
        ips, share, _ = time_training(model, loader, device, warmup=1, steps=4)
        print(f"  {name:<7} {cfg.image_size} px, base {cfg.base_channels}, batch {cfg.batch_size}:"
              f" data {share:.1%} of the step, compute {1 - share:.1%}  ({ips:.1f} img/s)")


def main() -> None:
    device = resolve_device("auto")
    gpu = device.type == "cuda"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=256 if gpu else 128)
    parser.add_argument("--base-channels", type=int, default=64 if gpu else 16)
    parser.add_argument("--batch-size", type=int, default=32 if gpu else 8)
    parser.add_argument("--steps", type=int, default=40 if gpu else 8)
    parser.add_argument("--warmup", type=int, default=10 if gpu else 2)
    parser.add_argument("--per-class", type=int, default=120 if gpu else 16)
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1),
                        help="DataLoader workers of the baseline, as a notebook would set")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    args = parser.parse_args()

    print(f"device: {torch.cuda.get_device_name(device) if gpu else 'CPU'} "
          f"({os.cpu_count()} cores), torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PRACTICAL3_CACHE"] = str(Path(tmp) / "cache")
        root = synthesize(Path(tmp) / "synthetic", per_class=args.per_class, size=args.image_size,
                          parts=("infection",))
        index = build_index(root, parts=["infection"])
        train_rows = select_split(index, "infection", "Train")
        val_rows = select_split(index, "infection", "Val")
        targets = layout.TARGETS["infection"]

        def model_factory(channels_last: bool, compiled: bool = False
                          ) -> Callable[[], torch.nn.Module]:
            def make() -> torch.nn.Module:
                model = build_model("unet", 1, len(targets), args.base_channels, 4).to(device)
                if channels_last:
                    model = model.to(memory_format=torch.channels_last)
                return torch.compile(model) if compiled else model
            return make

        png_train = open_source(train_rows, "infection", args.image_size, cached=False)
        png_val = open_source(val_rows, "infection", args.image_size, cached=False)
        baseline = measure(
            "(a) usual notebook", model_factory(False),
            DataLoader(SegmentationDataset(png_train, AugmentSpec()), args.batch_size,
                       shuffle=True, drop_last=True, num_workers=args.workers,
                       pin_memory=gpu, persistent_workers=args.workers > 0),
            DataLoader(SegmentationDataset(png_val), EVAL_BATCH, num_workers=args.workers),
            device, args, fast=False)

        start = time.perf_counter()
        cached_train = open_source(train_rows, "infection", args.image_size)
        cached_val = open_source(val_rows, "infection", args.image_size)
        setup = time.perf_counter() - start
        paths = [("(b) project", False)] + ([("(b) project + compile", True)] if args.compile
                                            else [])
        results = [baseline]
        for name, compiled in paths:
            start = time.perf_counter()
            train_loader = batches(cached_train, args.batch_size, device, train=True,
                                   augment=AugmentSpec())
            eval_loader = batches(cached_val, EVAL_BATCH, device, train=False)
            results.append(measure(name, model_factory(gpu, compiled), train_loader, eval_loader,
                                   device, args, fast=True,
                                   setup_s=setup + time.perf_counter() - start))
        report(results, device, args)
        if not gpu:
            cpu_data_split(root)
    print(f"speedup vs baseline: {results[1].train_ips / baseline.train_ips:.2f}x")


if __name__ == "__main__":
    main()
