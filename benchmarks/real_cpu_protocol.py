"""The CPU protocol for real COVID-QU-Ex, chosen by measurement: candidates screened on Val in
runs of 20 minutes or less, then the winner (the ``laptop`` profile) trained at its full budget
by ``make figures`` and scored on Test.

    python benchmarks/real_cpu_protocol.py screen --data ../shared/data/covidqu-infection D E
    python benchmarks/real_cpu_protocol.py table

Two screens so far, each of three candidates (seed 0, 2 CPU cores): A-C in fp32 (2026-11-28,
the 96 px winner A became ``laptop``), D-F in bf16 autocast with channels_last (2026-12-03:
what the doubled speed buys, spent on resolution and on a loss that weighs small lesions).
``screen`` trains each named candidate into ``runs/screen/<name>``, scores its ``best.pt`` on
Val at native size and keeps the results in ``results/real-cpu-screen/<name>`` (metrics.json,
per_image.csv, history.csv, run.json). ``table`` prints the README's table from those files and
from the committed real report's results (the winner's Test scores). The selection rule:
the imagewise infection Dice over all Val images, where a healthy image given any infection
scores 0 (``selection_score``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from practical3.base.paths import report_place
from practical3.base.text import fmt, percent
from practical3.evaluation.evaluate import evaluate
from practical3.evaluation.results import Results, gather_run, load
from practical3.training.config import TrainConfig, profile
from practical3.training.loop import train

HERE = Path(__file__).resolve().parent
SCREEN_DIR = HERE / "results" / "real-cpu-screen"
# Every candidate: batch 16, lr 3e-3, augmentation, at most 3,000 Train and 400 Val images;
# each sized to about 10-20 CPU minutes on 2 cores.
COMMON = {"batch_size": 16, "max_train_images": 3000, "max_val_images": 400, "seed": 0,
          "device": "cpu"}
CANDIDATES: dict[str, dict[str, Any]] = {
    # 2026-11-28, fp32 (what ``auto`` chose on a CPU then)
    "A": {"image_size": 96, "base_channels": 16, "epochs": 10, "precision": "fp32"},
    "B": {"image_size": 128, "base_channels": 16, "epochs": 6, "precision": "fp32"},
    "C": {"image_size": 128, "base_channels": 24, "epochs": 3, "precision": "fp32"},
    # 2026-12-03, bf16 autocast: 128 px keeps 1.8x the pixels of a small lesion
    "D": {"image_size": 128, "base_channels": 16, "epochs": 30, "precision": "bf16"},
    "E": {"image_size": 128, "base_channels": 16, "epochs": 30, "precision": "bf16",
          "loss": "bce_image_dice"},
    "F": {"image_size": 160, "base_channels": 16, "epochs": 20, "precision": "bf16"},
}


def candidate(name: str) -> TrainConfig:
    """The settings of candidate ``name`` (on the ``laptop`` profile's other settings)."""
    return profile("laptop").replace(**COMMON, **CANDIDATES[name])


def screen(data: Path, names: list[str]) -> None:
    """Train and score the named candidates on Val (a finished run folder is reused)."""
    for name in names:
        run_dir = Path("runs/screen") / name
        train(candidate(name), data, run_dir, progress=False)
        evaluate(run_dir / "best.pt", data, SCREEN_DIR / name, split="Val", device="cpu",
                 progress=False)
        gather_run(run_dir, SCREEN_DIR / name)


def _scores(results: Results) -> list[str]:
    """Lung Dice, COVID-19 infection Dice (imagewise and pooled), and the share of Non-COVID
    and Normal images given any infection."""
    lung, infection = results.metrics["metrics"]["lung"], results.metrics["metrics"]["infection"]
    return [percent(lung["all"]["dice_imagewise"]),
            percent(infection["COVID-19"]["dice_imagewise"]),
            percent(infection["COVID-19"]["dice_dataset"]),
            percent(infection["Non-COVID"]["healthy_fp_rate"]),
            percent(infection["Normal"]["healthy_fp_rate"])]


def _settings(results: Results) -> list[str]:
    cfg, history = results.run["config"], results.history
    return [str(cfg["image_size"]), str(cfg["base_channels"]), str(cfg["epochs"]),
            f"{results.run['n_train_images']:,}", fmt(history["epoch_time_s"].sum() / 60, ".1f")]


def table() -> str:
    """The README's table: every candidate on Val, then the winner's full run on Test."""
    head = ["run", "split", "image px", "base", "epochs", "Train images", "training min",
            "lung Dice %", "COVID-19 infection Dice %", "pooled %", "Non-COVID given infection %",
            "Normal given infection %"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in CANDIDATES:
        results = load(SCREEN_DIR / name)
        lines.append("| " + " | ".join([f"candidate {name}", "Val", *_settings(results),
                                        *_scores(results)]) + " |")
    final = load(report_place("real").results / "infection")
    lines.append("| " + " | ".join([f"winner, full run ({final.run_id})", "Test",
                                    *_settings(final), *_scores(final)]) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    screen_parser = sub.add_parser("screen")
    screen_parser.add_argument("--data", type=Path, required=True)
    screen_parser.add_argument("names", nargs="+", choices=list(CANDIDATES))
    sub.add_parser("table")
    args = parser.parse_args()
    if args.command == "screen":
        screen(args.data, args.names)
    else:
        print(table())


if __name__ == "__main__":
    main()
