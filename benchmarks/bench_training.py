"""Training and evaluation speed: the usual-notebook baseline against this project's path.

Both run side by side in one process, on the same synthetic data at the same settings:
  (a) baseline: PIL decodes every PNG in a DataLoader each epoch, fp32 (TF32 convolutions where
      cuDNN allows them), NCHW (``baseline.py``);
  (b) project:  the decoded uint8 split held on the device, batches gathered and augmented
      there, mixed precision as ``practical3 train`` picks it, channels_last and cuDNN
      autotuning on a GPU (``--compile`` adds torch.compile).

How each figure is measured:
- training images/s: ``--steps`` steps after ``--warmup`` untimed ones (autotuning and
  compilation happen there), the device synchronised at both ends; the Train split holds more
  images than the measured steps draw, so a DataLoader never restarts mid-measurement;
- evaluation images/s: one full pass over Val after one untimed pass of the same shapes;
- data share: the seconds to produce as many batches on their own (synchronised) over the
  seconds of the training steps, for both paths alike;
- TFLOP/s against the device's dense peak at the precision each path runs;
- the 30-epoch projection: per epoch the Infection part's 3,728 training and 932 validation
  images plus one ``last.pt`` and one ``best.pt`` written as training writes them.

    python benchmarks/bench_training.py            # GPU: 256 px, base 64; CPU: reduced, < 2 min
    python benchmarks/bench_training.py --json benchmarks/results/NAME.json

The last line reads ``speedup vs baseline: <ratio>x``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import resource
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from baseline import PngSource, SegmentationDataset, baseline_step
from torch.utils.data import DataLoader

from practical3.base.atomic import write_text
from practical3.data import layout
from practical3.data.augment import AugmentSpec
from practical3.data.batches import batches
from practical3.data.cache import load_decoded
from practical3.data.index import build_index, select_split
from practical3.data.synth import synthesize
from practical3.models import build_model
from practical3.models.inspection import forward_flops
from practical3.training import checkpoint
from practical3.training.device import (
    Precision,
    choose_precision,
    device_name,
    resolve_device,
    to_device,
)
from practical3.training.loop import train_step
from practical3.training.losses import build_loss
from practical3.training.profiles import profile

# Infection part of COVID-QU-Ex: the report's protocol trains on Train and validates on Val.
PROTOCOL_TRAIN, PROTOCOL_VAL, PROTOCOL_EPOCHS = 3728, 932, 30
# Dense tensor-core (or FP32) peaks in TFLOP/s from the vendors' data sheets, by device-name
# fragment and precision; None where the GPU has no such unit (a T4 has no bf16 or TF32).
PEAK_TFLOPS = {
    "H200": {"bf16": 989.0, "fp16": 989.0, "tf32": 494.0, "fp32": 67.0},
    "H100 PCIe": {"bf16": 756.0, "fp16": 756.0, "tf32": 378.0, "fp32": 51.0},
    "H100": {"bf16": 989.0, "fp16": 989.0, "tf32": 494.0, "fp32": 67.0},
    "A100": {"bf16": 312.0, "fp16": 312.0, "tf32": 156.0, "fp32": 19.5},
    "L4": {"bf16": 121.0, "fp16": 121.0, "tf32": 60.0, "fp32": 30.3},
    "T4": {"bf16": None, "fp16": 65.0, "tf32": None, "fp32": 8.1},
}
EVAL_BATCH = 64


@dataclass
class Measured:
    name: str
    precision: str
    train_images_per_s: float
    eval_images_per_s: float
    data_share: float
    peak_memory_gb: float | None
    tflops: float
    peak_tflops: float | None
    warmup_s: float
    setup_s: float = 0.0

    @property
    def share_of_peak(self) -> float | None:
        return self.tflops / self.peak_tflops if self.peak_tflops else None

    def epoch_s(self, checkpoint_s: float) -> float:
        """One epoch of the protocol: training, validation, and writing last.pt and best.pt."""
        return (PROTOCOL_TRAIN / self.train_images_per_s + PROTOCOL_VAL / self.eval_images_per_s
                + checkpoint_s)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cycle(loader: Iterable) -> Iterator:
    while True:
        yield from loader


def time_batches(loader: Iterable, device: torch.device, count: int) -> float:
    """Seconds to produce ``count`` batches on their own, synchronised at the end."""
    batches_iter = cycle(loader)
    next(batches_iter)  # workers started, first batch out of the way
    sync(device)
    start = time.perf_counter()
    for _ in range(count):
        images, masks = next(batches_iter)
        images.to(device, non_blocking=True), masks.to(device, non_blocking=True)
    sync(device)
    return time.perf_counter() - start


def time_training(model: torch.nn.Module, loader: Iterable, device: torch.device, warmup: int,
                  steps: int, precision: Precision | None) -> tuple[float, float, float]:
    """Images/s over ``steps`` steps after ``warmup`` steps, the seconds of those steps, and
    the warm-up's seconds. ``precision`` None is the baseline's fp32 step."""
    loss_fn = build_loss("bce_dice")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = precision.scaler(device) if precision else None

    def step(images: torch.Tensor, masks: torch.Tensor) -> None:
        if precision is None:
            baseline_step(model, images, masks, loss_fn, optimizer, device)
        else:
            train_step(model, images, masks, loss_fn, optimizer, device, precision, scaler)

    model.train()
    batches_iter = cycle(loader)
    start = time.perf_counter()
    for _ in range(warmup):
        step(*next(batches_iter))
    sync(device)
    warmup_s, seen, start = time.perf_counter() - start, 0, time.perf_counter()
    for _ in range(steps):
        images, masks = next(batches_iter)
        step(images, masks)
        seen += len(images)
    sync(device)
    elapsed = time.perf_counter() - start
    return seen / elapsed, elapsed, warmup_s


@torch.inference_mode()
def time_eval(model: torch.nn.Module, loader: Iterable, device: torch.device,
              precision: Precision | None) -> float:
    """Images/s of thresholded predictions over one pass of ``loader``, after one untimed pass
    (cuDNN autotuning and compilation for each batch shape happen there)."""
    model.eval()

    def one_pass() -> int:
        seen = 0
        for images, _ in loader:
            with precision.autocast(device) if precision else nullcontext():
                batch = to_device(images, device) if precision else images.to(device)
                (model(batch) > 0).sum()
            seen += len(images)
        return seen

    one_pass()
    sync(device)
    start = time.perf_counter()
    seen = one_pass()
    sync(device)
    return seen / (time.perf_counter() - start)


def peak_memory(device: torch.device) -> float | None:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 1e9
    return None


def peak_of(device: torch.device, precision: str) -> float | None:
    """The device's dense peak TFLOP/s at ``precision`` (None off a known GPU)."""
    if device.type != "cuda":
        return None
    peaks = next((p for key, p in PEAK_TFLOPS.items() if key in device_name(device)), None)
    return peaks.get(precision) if peaks else None


def baseline_precision(device: torch.device) -> str:
    """What the baseline's fp32 convolutions run at: TF32 where cuDNN allows it (Ampere on)."""
    if device.type == "cuda" and torch.backends.cudnn.allow_tf32 \
            and torch.cuda.get_device_capability(device) >= (8, 0):
        return "tf32"
    return "fp32"


def measure(name: str, make_model: Callable[[], torch.nn.Module], train_loader: Iterable,
            eval_loader: Iterable, device: torch.device, args: argparse.Namespace,
            precision: Precision | None, setup_s: float = 0.0) -> Measured:
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = precision is not None
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model = make_model()
    train_ips, train_s, warmup_s = time_training(model, train_loader, device, args.warmup,
                                                 args.steps, precision)
    data_share = time_batches(train_loader, device, args.steps) / train_s
    eval_ips = time_eval(model, eval_loader, device, precision)
    flops = 3 * forward_flops(build_model("unet", 1, 2, args.base_channels, 4), args.image_size)
    used = precision.name if precision else baseline_precision(device)
    return Measured(name, used, train_ips, eval_ips, data_share, peak_memory(device),
                    flops * train_ips / 1e12, peak_of(device, used), warmup_s, setup_s)


def checkpoint_seconds(base_channels: int) -> float:
    """Seconds to write one last.pt (weights and AdamW state) and one best.pt (weights)."""
    model = build_model("unet", 1, 2, base_channels, 4)
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.zeros(1, 1, 32, 32)).sum().backward()
    optimizer.step()  # AdamW's state exists after a first step
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        checkpoint.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()},
                        Path(tmp) / "last.pt")
        checkpoint.save({"model": model.state_dict()}, Path(tmp) / "best.pt")
        return time.perf_counter() - start


def report(results: list[Measured], checkpoint_s: float, args: argparse.Namespace) -> None:
    print(f"\nsettings: {args.image_size}x{args.image_size} px, base {args.base_channels}, "
          f"batch {args.batch_size}, {args.steps} timed steps after {args.warmup} warm-up")
    print(f"{'path':<24}{'prec.':>6}{'train img/s':>12}{'eval img/s':>11}{'data':>7}"
          f"{'epoch s':>9}{'30 ep. min':>11}{'peak GB':>8}{'TFLOP/s':>9}{'of peak':>8}")
    for r in results:
        epoch_s = r.epoch_s(checkpoint_s)
        memory = f"{r.peak_memory_gb:.2f}" if r.peak_memory_gb is not None else "n/a"
        share = f"{r.share_of_peak:.1%}" if r.share_of_peak is not None else "n/a"
        print(f"{r.name:<24}{r.precision:>6}{r.train_images_per_s:>12.1f}"
              f"{r.eval_images_per_s:>11.1f}{r.data_share:>7.1%}{epoch_s:>9.1f}"
              f"{PROTOCOL_EPOCHS * epoch_s / 60:>11.1f}{memory:>8}{r.tflops:>9.2f}{share:>8}")
        print(f"{'':<24}(warm-up steps {r.warmup_s:.1f} s"
              + (f", one-time decode and set-up {r.setup_s:.1f} s)" if r.setup_s else ")"))
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # Linux reports KiB
    print(f"epoch = {PROTOCOL_TRAIN} training + {PROTOCOL_VAL} validation images (Infection "
          f"part) + last.pt and best.pt ({checkpoint_s:.2f} s); process peak RSS {rss_gb:.2f} GB")


def cpu_data_split(root: Path) -> None:
    """The project path's data share of a training step at the smoke and laptop settings."""
    print("\nCPU data path share of a training step (project path, decoded cache):")
    index = build_index(root, parts=["infection"])
    device = torch.device("cpu")
    for name in ("smoke", "laptop"):
        cfg = profile(name)
        source = load_decoded(select_split(index, "infection", "Train"), cfg.targets,
                              cfg.image_size)
        loader = batches(source, cfg.batch_size, device, train=True, augment=AugmentSpec())
        model = build_model("unet", 1, 2, cfg.base_channels, cfg.depth)
        ips, train_s, _ = time_training(model, loader, device, 1, 4, Precision("fp32"))
        share = time_batches(loader, device, 4) / train_s
        print(f"  {name:<7} {cfg.image_size} px, base {cfg.base_channels}, batch {cfg.batch_size}:"
              f" data {share:.1%} of the step, compute {1 - share:.1%}  ({ips:.1f} img/s)")


def commit() -> str | None:
    """The commit measured, when this runs in a git checkout."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main() -> None:
    device = resolve_device("auto")
    gpu = device.type == "cuda"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=256 if gpu else 128)
    parser.add_argument("--base-channels", type=int, default=64 if gpu else 16)
    parser.add_argument("--batch-size", type=int, default=32 if gpu else 8)
    parser.add_argument("--steps", type=int, default=40 if gpu else 8)
    parser.add_argument("--warmup", type=int, default=10 if gpu else 2)
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1),
                        help="DataLoader workers of the baseline, as a notebook would set")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    args = parser.parse_args()
    # Enough Train images that the measured steps never wrap around a DataLoader epoch.
    per_class = math.ceil((args.warmup + args.steps + 2) * args.batch_size / 3)
    machine = device_name(device)
    print(f"device: {machine}, torch {torch.__version__}, {per_class} Train images a class")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PRACTICAL3_CACHE"] = str(Path(tmp) / "cache")
        root = synthesize(Path(tmp) / "synthetic", per_class=per_class, size=args.image_size,
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

        png_train = PngSource(train_rows, targets, args.image_size)
        png_val = PngSource(val_rows, targets, args.image_size)
        baseline = measure(
            "(a) usual notebook", model_factory(False),
            DataLoader(SegmentationDataset(png_train, AugmentSpec()), args.batch_size,
                       shuffle=True, drop_last=True, num_workers=args.workers,
                       pin_memory=gpu, persistent_workers=args.workers > 0),
            DataLoader(SegmentationDataset(png_val), EVAL_BATCH, num_workers=args.workers),
            device, args, precision=None)

        start = time.perf_counter()
        cached_train = load_decoded(train_rows, targets, args.image_size)
        cached_val = load_decoded(val_rows, targets, args.image_size)
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
                                   device, args, choose_precision("auto", device),
                                   setup_s=setup + time.perf_counter() - start))
        checkpoint_s = checkpoint_seconds(args.base_channels)
        report(results, checkpoint_s, args)
        if not gpu:
            cpu_data_split(root)
    speedup = results[1].train_images_per_s / baseline.train_images_per_s
    if args.json:
        write_text(args.json, json.dumps({
            "device": machine, "cuda": torch.version.cuda, "torch": torch.__version__,
            "python": platform.python_version(), "commit": commit(),
            "date": datetime.date.today().isoformat(), "settings": vars(args) | {
                "json": str(args.json), "train_images": len(train_rows),
                "val_images": len(val_rows)},
            "paths": [asdict(r) | {"share_of_peak": r.share_of_peak,
                                   "epoch_s": r.epoch_s(checkpoint_s),
                                   "projected_30_epochs_min":
                                       PROTOCOL_EPOCHS * r.epoch_s(checkpoint_s) / 60}
                      for r in results],
            "checkpoint_s": checkpoint_s, "speedup_vs_baseline": speedup}, indent=2) + "\n")
    print(f"speedup vs baseline: {speedup:.2f}x")


if __name__ == "__main__":
    main()
