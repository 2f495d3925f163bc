"""The ``practical3`` command line: one subcommand per pipeline stage.

Each handler imports its module lazily, so ``practical3 --help`` is instant and no Kaggle
client is imported unless a download really runs. Bad input ends in one clear message and a
non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path


def _synth(args: argparse.Namespace) -> None:
    from practical3.synth import synthesize

    root = synthesize(args.dest, per_class=args.per_class, size=args.size, seed=args.seed,
                      parts=args.parts)
    print(f"synthetic COVID-QU-Ex twin ready in {root}")


def _download(args: argparse.Namespace) -> None:
    from practical3.download import download

    root = download(args.dest, client=args.client, timeout=args.timeout)
    print(f"COVID-QU-Ex ready in {root}")


def _index(args: argparse.Namespace) -> None:
    from practical3.index import build_index, count_table, validate
    from practical3.sources import source_label

    index = build_index(args.data)
    if not args.no_validate:
        validate(index, progress=True)
    print(source_label(args.data))
    print(count_table(index).to_string())
    print(f"{len(index)} images, every one paired with its masks"
          + ("" if args.no_validate else " and validated"))


def _train(args: argparse.Namespace) -> None:
    from practical3.config import profile
    from practical3.train import train

    overrides = {name: getattr(args, name) for name in TRAIN_OVERRIDES}
    if args.resume:
        from practical3 import checkpoint
        from practical3.config import TrainConfig

        fixed = [f"--{n.replace('_', '-')}" for n, v in overrides.items()
                 if v is not None and n != "epochs"]
        if fixed:
            raise ValueError(f"{', '.join(fixed)} cannot change a run being resumed: its saved "
                             "settings apply (only --epochs may extend it)")
        saved = checkpoint.load(args.out / "last.pt")["config"]
        cfg = TrainConfig.from_dict(saved).replace(epochs=args.epochs)
    else:
        cfg = profile(args.profile).replace(**overrides)
    history = train(cfg, args.data, args.out, resume=args.resume, progress=not args.quiet)
    print(f"trained {len(history)} epochs into {args.out} (best.pt, last.pt, history.csv)")


def _evaluate(args: argparse.Namespace) -> None:
    from practical3.evaluate import METRICS_FILE, evaluate

    results = evaluate(args.checkpoint, args.data, args.out, split=args.split, device=args.device,
                       progress=not args.quiet)
    for target, by_class in results["metrics"].items():
        overall = by_class["all"]
        dice, iou = (_percent(overall[f"{m}_imagewise"]) for m in ("dice", "iou"))
        print(f"{target:>9}: Dice {dice}, IoU {iou} (imagewise over the "
              f"{overall['n_images_scored']}/{overall['n_images']} images where defined)")
    print(f"post-processing: {results['postprocessing']['chosen']}; "
          f"wrote {args.out / METRICS_FILE}")


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f} %"


def _figures(args: argparse.Namespace) -> None:
    from practical3.figures import draw_all
    from practical3.results import RESULTS_DIR

    for path in draw_all(args.results or RESULTS_DIR, args.out):
        print(f"wrote {path}")


def _report(args: argparse.Namespace) -> int:
    from practical3 import report
    from practical3.results import RESULTS_DIR

    results, path = args.results or RESULTS_DIR, args.report or report.REPORT
    if not args.check:
        print(f"wrote {report.write(results, path)}")
        return 0
    problems = report.check(results, path)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{path}: {len(problems)} problem(s)" if problems
          else f"{path}: every number matches {results}, every figure is present")
    return 1 if problems else 0


def _pipeline(args: argparse.Namespace) -> None:
    from practical3.pipeline import run

    print(f"wrote {run(args.profile, args.data, progress=not args.quiet)}")


def _add_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="write a synthetic twin of COVID-QU-Ex (archive layout)")
    p.add_argument("--dest", type=Path, default=Path("data/synthetic"))
    p.add_argument("--per-class", type=int, default=24, help="Train images per class")
    p.add_argument("--size", type=int, default=256, help="image side in pixels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--parts", nargs="+", choices=("infection", "lung"),
                   default=["infection", "lung"])
    p.set_defaults(handler=_synth)


def _add_download(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("download", help="download COVID-QU-Ex from Kaggle (version 7)")
    p.add_argument("--dest", type=Path, default=Path("data/raw"))
    p.add_argument("--client", choices=("kagglehub", "kaggle"), default="kagglehub")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds before giving up")
    p.set_defaults(handler=_download)


def _add_index(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("index", help="find, pair, validate and count a COVID-QU-Ex copy")
    p.add_argument("--data", type=Path, required=True, help="root of a COVID-QU-Ex copy")
    p.add_argument("--no-validate", action="store_true", help="skip decoding every file")
    p.set_defaults(handler=_index)


TRAIN_OVERRIDES = ("epochs", "image_size", "base_channels", "batch_size", "loss", "model", "part",
                   "device", "seed", "lr", "max_train_images", "max_val_images", "compile")


def _add_train(sub: argparse._SubParsersAction) -> None:
    from practical3.config import PROFILES

    p = sub.add_parser("train", help="train a U-Net; writes history, last.pt and best.pt")
    p.add_argument("--data", type=Path, required=True, help="root of a COVID-QU-Ex copy")
    p.add_argument("--out", type=Path, required=True, help="run folder")
    p.add_argument("--profile", choices=list(PROFILES), default="smoke")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--epochs", type=int)
    p.add_argument("--image-size", type=int)
    p.add_argument("--base-channels", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--loss", choices=("bce", "dice", "bce_dice", "focal"))
    p.add_argument("--model", choices=("unet", "attention_unet"))
    p.add_argument("--part", choices=("infection", "lung"))
    p.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--seed", type=int)
    p.add_argument("--max-train-images", type=int)
    p.add_argument("--max-val-images", type=int)
    p.add_argument("--compile", action="store_true", default=None, help="torch.compile the model")
    p.set_defaults(handler=_train)


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score a checkpoint: metrics.json and per_image.csv")
    p.add_argument("--data", type=Path, required=True, help="root of a COVID-QU-Ex copy")
    p.add_argument("--checkpoint", type=Path, required=True, help="best.pt or last.pt of a run")
    p.add_argument("--out", type=Path, required=True, help="folder for the results")
    p.add_argument("--split", choices=("Train", "Val", "Test"), default="Test")
    p.add_argument("--device", default="auto")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=_evaluate)


RESULTS_HELP = "results folder (default report/results)"


def _add_figures(sub: argparse._SubParsersAction) -> None:
    from practical3.config import FIGURES_DIR

    p = sub.add_parser("figures", help="draw every results figure into figures/")
    p.add_argument("--results", type=Path, help=RESULTS_HELP)
    p.add_argument("--out", type=Path, default=FIGURES_DIR)
    p.set_defaults(handler=_figures)


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="regenerate report/report.md, or --check it")
    p.add_argument("--results", type=Path, help=RESULTS_HELP)
    p.add_argument("--report", type=Path, help="the report (default report/report.md)")
    p.add_argument("--check", action="store_true",
                   help="exit 1 naming every number, figure or statement that disagrees")
    p.set_defaults(handler=_report)


def _add_pipeline(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pipeline", help="everything `make figures` does")
    p.add_argument("--profile", choices=("auto", "smoke", "demo", "laptop", "full"),
                   default="auto")
    p.add_argument("--data", type=Path, help="a COVID-QU-Ex copy (default: real if present, "
                   "else the synthetic twin)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=_pipeline)


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_synth, _add_download, _add_index, _add_train, _add_evaluate,
    _add_figures, _add_report, _add_pipeline,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="practical3", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; expected failures print one message and return 1."""
    args = build_parser().parse_args(argv)
    try:
        status = args.handler(args)
    except Exception as err:
        if not isinstance(err, _expected_errors()):
            raise
        print(f"practical3 {args.command}: error: {err}", file=sys.stderr)
        return 1
    return status or 0


# Errors whose message already says what is wrong and how to fix it, by defining module. A
# module that was never imported cannot have raised its error, so none is imported here.
EXPECTED_ERRORS = {"practical3.index": "DataError", "practical3.download": "DownloadError",
                   "practical3.train": "DivergedError"}


def _expected_errors() -> tuple[type[BaseException], ...]:
    loaded = [getattr(sys.modules[module], name) for module, name in EXPECTED_ERRORS.items()
              if module in sys.modules]
    return (FileExistsError, FileNotFoundError, ValueError, *loaded)
