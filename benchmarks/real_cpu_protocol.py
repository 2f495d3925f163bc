"""The CPU protocol for real COVID-QU-Ex, chosen by measurement: candidates screened on Val in
runs of 20 minutes or less, then the winner (the ``laptop`` profile) trained at its full budget
by ``make figures`` and scored on Test.

    python benchmarks/real_cpu_protocol.py screen --data ../shared/data/covidqu-infection D E
    python benchmarks/real_cpu_protocol.py table

Two screens so far (seed 0, 2 CPU cores): A-C in fp32 (2026-11-28,
the 96 px winner A became ``laptop``), D and E in bf16 autocast with channels_last (2026-12-03:
what the doubled speed buys, spent on resolution and on a loss that weighs small lesions).
``screen`` trains each named candidate into ``runs/screen/<name>``, scores its ``best.pt`` on
Val at native size and keeps the results in ``results/real-cpu-screen/<name>`` (metrics.json,
per_image.csv, history.csv, run.json). ``table`` prints docs/experiments.md's table from those
files and from the committed real report's results (the winner's Test scores). The selection rule:
the imagewise infection Dice over all Val images, where a healthy image given any infection
scores 0 (``selection_score``; the chosen candidate is the one with the highest).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from practical3.base.paths import report_place
from practical3.base.text import fmt, percent
from practical3.evaluation.evaluate import evaluate
from practical3.evaluation.results import Results, gather_run, load
from practical3.training.config import TrainConfig
from practical3.training.loop import train
from practical3.training.profiles import profile
from practical3.training.runs import identify

HERE = Path(__file__).resolve().parent
SCREEN_DIR = HERE / "results" / "real-cpu-screen"
# Every candidate: batch 16, lr 3e-3, augmentation, at most 3,000 Train and 400 Val images;
# each sized to about 10-20 CPU minutes on 2 cores.
COMMON = {"batch_size": 16, "max_train_images": 3000, "max_val_images": 400, "seed": 0}
CANDIDATES: dict[str, dict[str, Any]] = {
    # 2026-11-28, fp32 (what ``auto`` chose on a CPU then)
    "A": {"device": "cpu", "image_size": 96, "base_channels": 16, "epochs": 10,
          "precision": "fp32"},
    "B": {"device": "cpu", "image_size": 128, "base_channels": 16, "epochs": 6,
          "precision": "fp32"},
    "C": {"device": "cpu", "image_size": 128, "base_channels": 24, "epochs": 3,
          "precision": "fp32"},
    # 2026-12-03, precision auto (bf16 autocast on this CPU, run.json says): 128 px keeps 1.8x
    # the pixels of a small lesion; "auto" as the laptop profile has it, so the winner's run
    # is the laptop run of seed 0 (same settings, same run id)
    "D": {"image_size": 128, "base_channels": 16, "epochs": 20, "precision": "auto"},
    "E": {"image_size": 128, "base_channels": 16, "epochs": 20, "precision": "auto",
          "loss": "bce_image_dice"},
}


def candidate(name: str) -> TrainConfig:
    """The settings of candidate ``name`` (on the ``laptop`` profile's other settings)."""
    return profile("laptop").replace(**COMMON, **CANDIDATES[name])


def _train_and_score(cfg: TrainConfig, data: Path, run_dir: Path, results: Path) -> None:
    """Train ``cfg`` into ``run_dir`` (a finished run is reused), score its ``best.pt`` on Val
    at native size into ``results``."""
    train(cfg, data, run_dir, progress=False)
    evaluate(run_dir / "best.pt", data, results, split="Val", device="cpu", progress=False)
    gather_run(run_dir, results)


def screen(data: Path, names: list[str]) -> None:
    """Train and score the named candidates on Val, seed 0."""
    for name in names:
        _train_and_score(candidate(name), data, Path("runs/screen") / name, SCREEN_DIR / name)


def seeds(data: Path, name: str, seed_list: list[int]) -> None:
    """More seeds of candidate ``name``, trained where the ``laptop`` profile's runs live
    (``runs/laptop-infection-<run id>``: the training spread of the report reuses them) and
    scored on Val into ``results/real-cpu-screen/<name>-seed<N>``."""
    for seed in seed_list:
        cfg = candidate(name).replace(seed=seed)
        run_dir = Path("runs") / f"{cfg.profile}-{cfg.part}-{identify(cfg, data).run_id}"
        _train_and_score(cfg, data, run_dir, SCREEN_DIR / f"{name}-seed{seed}")


# fp32 against bf16 at the same settings on the real copy: a cheap protocol (96 px, base 16,
# 1,000 Train images, 10 epochs, about 1-2 minutes a run here), two seeds of each.
PARITY = {"image_size": 96, "base_channels": 16, "epochs": 10, "max_train_images": 1000}
PARITY_DIR = HERE / "results" / "real-cpu-parity"


def parity(data: Path, seed_list: list[int]) -> None:
    """Train and score the parity protocol at fp32 and at bf16 for each seed, on Val."""
    for seed in seed_list:
        for precision in ("fp32", "bf16"):
            cfg = candidate("D").replace(**PARITY, precision=precision, seed=seed)
            name = f"{precision}-seed{seed}"
            _train_and_score(cfg, data, Path("runs/parity") / name, PARITY_DIR / name)


def selection_score(results: Results) -> float:
    """The screen's rule: the imagewise infection Dice over all images of every class, where a
    healthy image given any infection scores 0 (images empty in truth and prediction left out)."""
    return results.metrics["metrics"]["infection"]["all"]["dice_imagewise"]


def _scores(results: Results) -> list[str]:
    """The selection score, lung Dice, COVID-19 infection Dice (imagewise and pooled), and the
    share of Non-COVID and Normal images given any infection."""
    lung, infection = results.metrics["metrics"]["lung"], results.metrics["metrics"]["infection"]
    return [percent(selection_score(results)), percent(lung["all"]["dice_imagewise"]),
            percent(infection["COVID-19"]["dice_imagewise"]),
            percent(infection["COVID-19"]["dice_dataset"]),
            percent(infection["Non-COVID"]["healthy_fp_rate"]),
            percent(infection["Normal"]["healthy_fp_rate"])]


def _settings(results: Results) -> list[str]:
    """Precision used (run.json of runs before 2026-12-03 name it ``precision``), size, width,
    loss, epochs, Train images and training minutes."""
    cfg, history, run = results.run["config"], results.history, results.run
    return [run.get("precision_used", run["precision"]), str(cfg["image_size"]),
            str(cfg["base_channels"]), cfg["loss"], str(cfg["epochs"]),
            f"{results.run['n_train_images']:,}", fmt(history["epoch_time_s"].sum() / 60, ".1f")]


def table() -> str:
    """docs/experiments.md's table: every candidate on Val, then the winner's full run on Test."""
    head = ["run", "split", "precision", "image px", "base", "loss", "epochs", "Train images",
            "training min", "selection %", "lung Dice %", "COVID-19 infection Dice %",
            "pooled %", "Non-COVID given infection %", "Normal given infection %"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in [n for n in CANDIDATES if (SCREEN_DIR / n / "metrics.json").is_file()]:
        results = load(SCREEN_DIR / name)
        lines.append("| " + " | ".join([f"candidate {name}", "Val", *_settings(results),
                                        *_scores(results)]) + " |")
    final = load(report_place("real").results / "infection")
    lines.append("| " + " | ".join([f"winner, full run ({final.run_id})", "Test",
                                    *_settings(final), *_scores(final)]) + " |")
    return "\n".join(lines)


def parity_table() -> str:
    """fp32 against bf16 at the parity protocol on Val, one row per run."""
    head = ["run", "precision", "seed", "training min", "selection %", "lung Dice %",
            "COVID-19 infection Dice %", "pooled %", "Non-COVID given infection %",
            "Normal given infection %"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for folder in sorted(PARITY_DIR.iterdir()):
        results = load(folder)
        settings = _settings(results)
        lines.append("| " + " | ".join([folder.name, settings[0],
                                        str(results.run["config"]["seed"]), settings[-1],
                                        *_scores(results)]) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    screen_parser = sub.add_parser("screen")
    screen_parser.add_argument("--data", type=Path, required=True)
    screen_parser.add_argument("names", nargs="+", choices=list(CANDIDATES))
    seeds_parser = sub.add_parser("seeds")
    seeds_parser.add_argument("--data", type=Path, required=True)
    seeds_parser.add_argument("name", choices=list(CANDIDATES))
    seeds_parser.add_argument("seeds", nargs="+", type=int)
    parity_parser = sub.add_parser("parity")
    parity_parser.add_argument("--data", type=Path, required=True)
    parity_parser.add_argument("seeds", nargs="+", type=int)
    sub.add_parser("table")
    sub.add_parser("parity-table")
    args = parser.parse_args()
    if args.command == "screen":
        screen(args.data, args.names)
    elif args.command == "seeds":
        seeds(args.data, args.name, args.seeds)
    elif args.command == "parity":
        parity(args.data, args.seeds)
    elif args.command == "parity-table":
        print(parity_table())
    else:
        print(table())


if __name__ == "__main__":
    main()
