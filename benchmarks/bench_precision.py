"""Training speed at fp32 against bf16 autocast, with and without channels_last, in one run.

One training step of a profile's U-Net (default ``laptop``: its size, width and batch) with
AdamW, through the project's own ``train_step``. The four variants take turns step by step
(interleaved rounds after untimed warm-up steps), so a noisy machine slows them alike; each
figure is the median over the rounds. Prints img/s per variant and the ratio of each to fp32
NCHW, and what ``precision: auto`` resolves to on this machine and why.

    python benchmarks/bench_precision.py                    # laptop settings, 1 thread
    python benchmarks/bench_precision.py --threads 2 --rounds 12
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from practical3.training.device import Precision, choose_precision, device_name
from practical3.training.loop import train_step
from practical3.training.losses import build_loss
from practical3.training.profiles import profile

VARIANTS = [("fp32", False), ("bf16", False), ("fp32", True), ("bf16", True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="laptop")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=8, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per variant")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = profile(args.profile)
    cpu = torch.device("cpu")
    auto = choose_precision("auto", cpu)
    print(f"{device_name(cpu)}, {args.threads} thread(s), torch {torch.__version__}; profile "
          f"{cfg.profile}: {cfg.image_size} px, base {cfg.base_channels}, batch {cfg.batch_size}")
    print(f"precision auto -> {auto.name} ({auto.reason})")

    torch.manual_seed(0)
    images = torch.rand(cfg.batch_size, 1, cfg.image_size, cfg.image_size)
    masks = (torch.rand(cfg.batch_size, len(cfg.targets), cfg.image_size,
                        cfg.image_size) > 0.5).float()
    loss_fn = build_loss(cfg.loss)
    steps = {}
    for name, channels_last in VARIANTS:
        model = cfg.build_model()
        batch = images
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
            batch = images.contiguous(memory_format=torch.channels_last)
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
        steps[name, channels_last] = (model, optimizer, batch)

    times: dict[tuple[str, bool], list[float]] = {v: [] for v in VARIANTS}
    for step in range(args.warmup + args.rounds):
        for variant in VARIANTS:
            model, optimizer, batch = steps[variant]
            start = time.perf_counter()
            train_step(model, batch, masks, loss_fn, optimizer, cpu, Precision(variant[0]))
            if step >= args.warmup:
                times[variant].append(time.perf_counter() - start)

    reference = statistics.median(times["fp32", False])
    print(f"\n| precision | memory format | s/step (median of {args.rounds}) | img/s | vs fp32 |")
    print("| --- | --- | ---: | ---: | ---: |")
    for (name, channels_last), measured in times.items():
        median = statistics.median(measured)
        layout = "channels_last" if channels_last else "NCHW"
        print(f"| {name} | {layout} | {median:.3f} | {cfg.batch_size / median:.1f} | "
              f"{reference / median:.2f}x |")


if __name__ == "__main__":
    main()
