"""Images/s that the data path delivers, with and without the decoded cache, side by side.

On the same synthetic Train split at the same size, one process measures:
  - ``SegmentationDataset`` over ``PngSource``: every epoch decodes (and resizes) each PNG;
  - ``SegmentationDataset`` over the decoded cache (built once, timed apart);
  - ``DeviceBatches``: the cache on the training device, batches gathered and augmented at once
    (what ``practical3 train`` uses).
Each path runs a single process (no DataLoader workers), with training augmentation on unless
``--no-augment``.

    python benchmarks/bench_dataset.py [--size 256] [--per-class 100] [--epochs 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import torch
from baseline import CachedSource, PngSource, SegmentationDataset
from torch.utils.data import DataLoader

from practical3.data import layout
from practical3.data.augment import AugmentSpec
from practical3.data.batches import DeviceBatches
from practical3.data.cache import load_decoded
from practical3.data.index import build_index, select_split
from practical3.data.synth import synthesize

BATCH = 16


def images_per_second(loader: Iterable, epochs: int) -> float:
    """Images delivered per second over ``epochs`` full passes of ``loader``."""
    seen, start = 0, time.perf_counter()
    for _ in range(epochs):
        for images, _ in loader:
            seen += len(images)
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="image side (256: the dataset's)")
    parser.add_argument("--per-class", type=int, default=100, help="Train images per class")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--no-augment", action="store_true", help="measure delivery alone")
    args = parser.parse_args()
    spec = None if args.no_augment else AugmentSpec()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PRACTICAL3_CACHE"] = str(Path(tmp) / "cache")
        root = synthesize(Path(tmp) / "synthetic", per_class=args.per_class, size=args.size,
                          parts=("infection",))
        rows = select_split(build_index(root, parts=["infection"]), "infection", "Train")
        targets = layout.TARGETS["infection"]
        png = PngSource(rows, targets, args.size)
        start = time.perf_counter()
        cached = load_decoded(rows, targets, args.size)
        build_s = time.perf_counter() - start
        paths = {
            "Dataset, PNG decoded each epoch": DataLoader(SegmentationDataset(png, spec), BATCH,
                                                          shuffle=True),
            "Dataset, decoded cache": DataLoader(SegmentationDataset(CachedSource(cached), spec),
                                                 BATCH, shuffle=True),
            "DeviceBatches (training path)": DeviceBatches(cached, BATCH, torch.device("cpu"),
                                                           spec, shuffle=True, drop_last=False),
        }
        print(f"{len(rows)} Train images, {args.size}x{args.size} px, batch {BATCH}, "
              f"augmentation {'off' if spec is None else 'on'}, {args.epochs} epochs each, "
              f"{os.cpu_count()} CPU cores")
        print(f"building the decoded cache once: {build_s:.2f} s "
              f"({len(rows) / build_s:.0f} images/s, PNG decoding in threads)")
        rates = {name: images_per_second(loader, args.epochs) for name, loader in paths.items()}
        baseline = rates["Dataset, PNG decoded each epoch"]
        for name, rate in rates.items():
            print(f"  {name:<34}{rate:>9.0f} images/s  ({rate / baseline:.1f}x)")


if __name__ == "__main__":
    main()
