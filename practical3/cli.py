"""The ``practical3`` command line: one subcommand per pipeline stage.

Only the chosen subcommand's arguments are built, and each handler imports its module when it
runs, so ``practical3 --help`` is instant and no Kaggle client or torch is imported unless the
command needs it. Choices come from the registries that own them (profiles, models, losses,
parts, splits). Each command is one section below: its arguments beside its handler, and one
line in ``COMMANDS``. A ``UserError`` ends in one message and exit status 1; anything else is
a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from practical3.base.errors import UserError

Parser = argparse.ArgumentParser


# --- options several commands share -----------------------------------------------------------

def _data_argument(p: Parser, required: bool = True) -> None:
    p.add_argument("--data", type=Path, required=required,
                   help="root of a copy in COVID-QU-Ex's layout")
    p.add_argument("--data-label", help="what the data are, for every output (e.g. 'chest "
                   "films of hospital X, 2024'); default: recognised, or the copy's README")


def _quiet_argument(p: Parser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _place_argument(p: Parser) -> None:
    from practical3.base.paths import COMMITTED_PLACES

    p.add_argument("--place", choices=COMMITTED_PLACES,
                   help="a committed report: real (report/report.md), twin (report/twin/) or "
                        "gpu (report/gpu/); default: the one whose protocol this run is, else "
                        "runs/reports/ (docs/places.md)")



# Help for the settings that need more than their name; each setting's type is TrainConfig's.
SETTING_HELP = {
    "device": "auto (default), cpu, cuda or cuda:N",
    "precision": "mixed precision: auto (default: bf16 on GPUs of compute capability 8.0+, fp16 "
                 "with a gradient scaler on older ones, fp32 on a CPU)",
    "compile": "torch.compile the model",
    "augment": "small random rotations, shifts, zooms, brightness and contrast of Train images",
    "max_train_images": "a seeded subset of at most this many Train images",
    "max_val_images": "a seeded subset of at most this many Val images",
}


def _settings_arguments(p: Parser) -> None:
    """A profile, and an option for each setting that overrides it (``settings.overridable``:
    TrainConfig's fields, so the options follow the config)."""
    from practical3.data.layout import PARTS
    from practical3.models import MODELS
    from practical3.training.device import PRECISIONS
    from practical3.training.losses import LOSSES
    from practical3.training.profiles import PROFILES
    from practical3.training.settings import overridable

    choices = {"part": list(PARTS), "model": list(MODELS), "loss": list(LOSSES),
               "precision": list(PRECISIONS)}
    p.add_argument("--profile", choices=list(PROFILES), default="smoke")
    for name, kind in overridable().items():
        flag, help_text = f"--{name.replace('_', '-')}", SETTING_HELP.get(name)
        if kind is bool:
            p.add_argument(flag, action=argparse.BooleanOptionalAction, help=help_text)
        else:
            p.add_argument(flag, type=kind, choices=choices.get(name), help=help_text)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line (None: the profile's)."""
    from practical3.training.settings import overridable

    return {name: getattr(args, name) for name in overridable()}


# --- synth ------------------------------------------------------------------------------------

def _synth_arguments(p: Parser) -> None:
    from practical3.data.layout import PARTS

    p.add_argument("--dest", type=Path, help="folder (default data/synthetic in the project)")
    p.add_argument("--per-class", type=int, default=24, help="Train images per class")
    p.add_argument("--size", type=int, default=256, help="image side in pixels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--parts", nargs="+", choices=list(PARTS), default=list(PARTS))


def _synth(args: argparse.Namespace) -> None:
    from practical3.base.paths import data_dir
    from practical3.data.synth import synthesize

    root = synthesize(args.dest or data_dir() / "synthetic", per_class=args.per_class,
                      size=args.size, seed=args.seed, parts=args.parts)
    print(f"synthetic COVID-QU-Ex twin ready in {root}")


# --- download ---------------------------------------------------------------------------------

def _download_arguments(p: Parser) -> None:
    from practical3.data.download import HANDLES

    p.add_argument("--dest", type=Path, help="folder (default data/raw in the project)")
    p.add_argument("--client", choices=list(HANDLES), default="kagglehub")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds before giving up")


def _download(args: argparse.Namespace) -> None:
    from practical3.base.paths import data_dir
    from practical3.data.download import download

    root = download(args.dest or data_dir() / "raw", client=args.client, timeout=args.timeout)
    print(f"COVID-QU-Ex ready in {root}")


# --- index ------------------------------------------------------------------------------------

def _index_arguments(p: Parser) -> None:
    _data_argument(p)
    p.add_argument("--no-validate", action="store_true", help="skip decoding every file")


def _index(args: argparse.Namespace) -> None:
    from practical3.data.index import build_index, count_table, validate
    from practical3.data.sources import describe

    index = build_index(args.data)
    if not args.no_validate:
        validate(index, progress=True)
    print(describe(args.data, label=args.data_label).stamp)
    print(count_table(index).to_string())
    print(f"{len(index)} images, every one paired with its masks"
          + ("" if args.no_validate else " and validated"))
    for kind, count in index.attrs["skipped"].items():
        print(f"skipped {count} item(s) that are not data: {kind}")


# --- train ------------------------------------------------------------------------------------

def _train_arguments(p: Parser) -> None:
    _data_argument(p)
    p.add_argument("--out", type=Path, required=True, help="run folder")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue the run in --out")
    again.add_argument("--reuse", action="store_true", help="reuse the run in --out when it is "
                       "this run (same settings and data), finish it if interrupted, else train it")
    p.add_argument("--gpus", type=int, default=1, help="data-parallel workers, one per GPU, "
                   "sharing each --batch-size batch (with --device cpu: CPU processes); "
                   "docs/distributed.md")
    _quiet_argument(p)
    _settings_arguments(p)


def _train(args: argparse.Namespace) -> None:
    from practical3.training import distributed
    from practical3.training import loop as train

    if args.gpus < 1:
        raise UserError(f"--gpus {args.gpus}: give at least 1 (the number of GPUs to train on)")
    world = distributed.from_environment()
    if args.gpus > 1 and world.size == 1:  # this process launches the workers (torchrun's agent)
        from practical3.training.launch import launch

        return launch(args.gpus, args.argv[1:])
    overrides = _overrides(args)
    if args.resume:
        fixed = [f"--{n.replace('_', '-')}" for n, v in overrides.items()
                 if v is not None and n != "epochs"]
        if fixed:
            raise UserError(f"{', '.join(fixed)} cannot change a run being resumed: its saved "
                            "settings apply (see its run.json); start a new run to change them")
        history = train.resume(args.out, args.data, epochs=args.epochs, progress=not args.quiet,
                               data_label=args.data_label)
    else:
        from practical3.training.profiles import profile

        cfg = profile(args.profile).replace(**overrides)
        run = train.ensure_trained if args.reuse else train.train
        history = run(cfg, args.data, args.out, progress=not args.quiet,
                      data_label=args.data_label)
    if world.is_main:
        print(f"trained {len(history)} epochs into {args.out} (best.pt, last.pt, history.csv)")


# --- evaluate ---------------------------------------------------------------------------------

def _evaluate_arguments(p: Parser) -> None:
    from practical3.data.layout import SPLITS

    _data_argument(p)
    p.add_argument("--checkpoint", type=Path, required=True, help="best.pt or last.pt of a run")
    p.add_argument("--out", type=Path, required=True, help="folder for the results")
    p.add_argument("--split", choices=SPLITS, default="Test")
    p.add_argument("--device", default="auto")
    _quiet_argument(p)


def _evaluate(args: argparse.Namespace) -> None:
    from practical3.base.text import percent
    from practical3.evaluation.evaluate import evaluate
    from practical3.evaluation.results import METRICS_FILE

    results = evaluate(args.checkpoint, args.data, args.out, split=args.split, device=args.device,
                       progress=not args.quiet, data_label=args.data_label)
    for target, by_class in results["metrics"].items():
        overall = by_class["all"]
        dice, iou = (percent(overall[f"{m}_imagewise"]) for m in ("dice", "iou"))
        print(f"{target:>9}: Dice {dice}, IoU {iou} (imagewise over the "
              f"{overall['n_images_scored']}/{overall['n_images']} images where defined)")
    data = results["data"]
    print(f"scored at native size ({data['scored_size']} px; trained at {data['image_size']} px)"
          f"; post-processing: {results['postprocessing']['chosen']}; "
          f"wrote {args.out / METRICS_FILE}")


# --- predict ----------------------------------------------------------------------------------

def _predict_arguments(p: Parser) -> None:
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE",
                   help="chest X-ray files: PNG, JPEG or DICOM (DICOM needs the dicom extra)")
    p.add_argument("--checkpoint", type=Path, required=True, help="best.pt or last.pt of a run")
    p.add_argument("--out", type=Path, required=True,
                   help="folder for the masks, the overlays and predictions.csv")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")


def _predict(args: argparse.Namespace) -> int:
    from practical3.base.text import percent
    from practical3.predict import CSV_FILE, predict

    predictions = predict(args.images, args.checkpoint, args.out, device=args.device)
    for row in predictions.table.itertuples():
        severity = percent(row.severity_percent / 100)
        print(f"{row.file}: {row.width}x{row.height}, severity {severity} of the lung infected")
    for line in predictions.skipped:
        print(f"skipped {line}", file=sys.stderr)
    print(f"wrote masks, overlays and {CSV_FILE} for {len(predictions.table)} image(s) "
          f"into {args.out}")
    return 1 if predictions.skipped else 0


# --- compare ----------------------------------------------------------------------------------

def _compare_arguments(p: Parser) -> None:
    _data_argument(p, required=False)
    p.add_argument("--out", type=Path, required=True,
                   help="comparison folder (comparison.json, and runs.json: every run's results)")
    p.add_argument("--vary", nargs="+", default=[], metavar="SETTING=V1,V2",
                   help="the grid, e.g. model=unet,unetpp image_size=64,128")
    p.add_argument("--also", action="append", default=[], metavar="'SETTING=V SETTING=V'",
                   help="one more row after the grid's, e.g. 'model=unetpp_ds image_size=64'")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--split", choices=["Val", "Test"], default="Val",
                   help="where each run is scored: Val (default), to choose between settings; "
                        "Test only to describe settings already chosen")
    p.add_argument("--table", action="store_true",
                   help="print the comparison in --out as a Markdown table and stop")
    p.add_argument("--only", nargs="+", default=[], metavar="SETTING=V",
                   help="print only the rows with these values, e.g. model=unet")
    _quiet_argument(p)
    _settings_arguments(p)


def _compare(args: argparse.Namespace) -> int:
    from practical3 import compare
    from practical3.evaluation import comparison
    from practical3.training.profiles import profile

    base = profile(args.profile).replace(**_overrides(args))
    if not args.table:
        if args.data is None:
            raise UserError("compare needs --data (or --table to print an earlier comparison)")
        grid = compare.parse_vary(args.vary, base)
        if args.split == "Test":
            print(f"warning: {comparison.ON_TEST}", file=sys.stderr)
        compare.compare(args.data, base, grid, args.seeds, args.out,
                        also=compare.parse_also(args.also, grid, base), progress=not args.quiet,
                        label=args.data_label, split=args.split)
    problems = comparison.consistency(args.out)
    for problem in problems:
        print(problem, file=sys.stderr)
    only = compare.parse_vary(args.only, base, "--only")
    print(comparison.markdown_table(comparison.read(args.out),
                                    {name: values[0] for name, values in only.items()}))
    return 1 if problems else 0


# --- draw -------------------------------------------------------------------------------------

RESULTS_HELP = "results folder (default report/results)"


def _draw_arguments(p: Parser) -> None:
    p.add_argument("--results", type=Path, help=RESULTS_HELP)
    p.add_argument("--out", type=Path, help="figures folder (default figures/)")


def _draw(args: argparse.Namespace) -> None:
    from practical3.evaluation.results import load_parts
    from practical3.plots.evaluation import draw_all

    for results in load_parts(args.results).values():
        for path in draw_all(results.folder, out_dir=args.out):
            print(f"wrote {path}")


# --- report -----------------------------------------------------------------------------------

def _report_arguments(p: Parser) -> None:
    p.add_argument("--results", type=Path, help=RESULTS_HELP)
    p.add_argument("--report", type=Path, help="the report (default report/report.md)")
    p.add_argument("--figures", type=Path, help="its figures folder (default figures/)")
    _place_argument(p)
    p.add_argument("--check", action="store_true",
                   help="exit 1 naming every number, figure or statement that disagrees; "
                        "with no place or folder given, every committed report")


def _report(args: argparse.Namespace) -> int:
    """Write or check one report (``--place``, or ``--results``/``--report``/``--figures``),
    or with none of them every committed report that has results."""
    from practical3 import report
    from practical3.base.paths import COMMITTED_PLACES, ReportPlace, report_place

    if args.results or args.report or args.figures:
        real = report_place(args.place or "real")
        places = [ReportPlace("given", args.report or real.report, args.results or real.results,
                              args.figures or real.figures)]
    else:
        names = [args.place] if args.place else COMMITTED_PLACES
        places = [p for p in map(report_place, names) if args.place or p.results.is_dir()]
        if not places:
            raise UserError("no committed report has results here (report/results, "
                            "report/twin/results, report/gpu/results): run `make figures`")
    failed = 0
    for place in places:
        if not args.check:
            print(f"wrote {report.write(place.results, place.report, figures=place.figures)}")
            continue
        problems = report.check(place.results, place.report, figures=place.figures)
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"{place.report}: {len(problems)} problem(s)" if problems else
              f"{place.report}: every number matches {place.results}, every figure is present")
        failed += bool(problems)
    return 1 if failed else 0


# --- pipeline ---------------------------------------------------------------------------------

def _pipeline_arguments(p: Parser) -> None:
    from practical3.data.layout import PARTS
    from practical3.training.profiles import PROFILES

    p.add_argument("--profile", choices=["auto", *PROFILES], default="auto")
    _data_argument(p, required=False)
    p.add_argument("--parts", nargs="+", choices=list(PARTS),
                   help="parts to train (default: those the copy holds; the synthetic twin's "
                        "Infection part)")
    _place_argument(p)
    _quiet_argument(p)


def _pipeline(args: argparse.Namespace) -> None:
    from practical3.pipeline import run

    report = run(args.profile, args.data, parts=args.parts, place=args.place,
                 data_label=args.data_label, progress=not args.quiet)
    print(f"wrote {report}")


# --- reproduce --------------------------------------------------------------------------------

def _reproduce_arguments(p: Parser) -> None:
    p.add_argument("--data", type=Path,
                   help="a copy of COVID-QU-Ex, to reproduce the real (and GPU) report too")
    p.add_argument("--out", type=Path, help="scratch folder (default runs/reproduce/)")


def _reproduce(args: argparse.Namespace) -> int:
    from practical3 import reproduce

    outcomes = reproduce.reproduce(args.data, args.out)
    print(reproduce.markdown(outcomes))
    print(f"tables: {reproduce.REPORT_FILE} and {reproduce.TABLE_FILE} in "
          f"{args.out or reproduce.default_out_dir()}")
    return 0 if reproduce.passed(outcomes) else 1


# --- spread -----------------------------------------------------------------------------------

def _spread_arguments(p: Parser) -> None:
    from practical3.base.paths import COMMITTED_PLACES

    p.add_argument("--place", choices=COMMITTED_PLACES, required=True,
                   help="the committed report whose protocol is trained with each seed")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--data", type=Path, help="the copy a real report trained on")
    p.add_argument("--runs", type=Path, help="runs folder (default runs/): finished runs of "
                   "the same id are reused")
    p.add_argument("--machines", action="store_true",
                   help="also retrain the committed seed on each simulated machine (other "
                   "threads and instruction sets); their spread becomes the tolerance")
    _quiet_argument(p)


def _spread(args: argparse.Namespace) -> None:
    from practical3.base.paths import report_place
    from practical3.spread import MACHINES, measure

    machines = list(MACHINES) if args.machines else []
    path = measure(report_place(args.place), args.seeds, args.data, args.runs,
                   progress=not args.quiet, machines=machines)
    over = f" and machines {machines}" if machines else ""
    print(f"wrote {path}: each number's values over seeds {args.seeds}{over}, SD, tolerance")


# --- release ----------------------------------------------------------------------------------

def _release_arguments(p: Parser) -> None:
    p.add_argument("out", type=Path, help="a new folder for the copy (no git history)")
    p.add_argument("--repo-url", help="where the students clone the course from (the setup "
                   "cell's URL on Colab and Kaggle); never this repository")
    p.add_argument("--solutions", action="store_true",
                   help="the instructor's copy: every answer cell filled with its answer")


def _release(args: argparse.Namespace) -> None:
    from practical3.grading.release import release

    folder = release(args.out, args.repo_url, args.solutions)
    kind = "instructor's copy (answers filled in)" if args.solutions else "students' copy"
    print(f"wrote the {kind} of the course into {folder}")
    if not args.repo_url:
        print("no --repo-url: on Colab and Kaggle its setup cell clones nothing until you "
              "give the URL you will push it to", file=sys.stderr)


# --- grade ------------------------------------------------------------------------------------

def _grade_arguments(p: Parser) -> None:
    from practical3.grading.grade import GRADING_PROFILE
    from practical3.grading.sandbox import Limits
    from practical3.training.profiles import PROFILES

    p.add_argument("submissions", type=Path,
                   help="one folder per student (its name is the student's id) holding their "
                        "notebooks, loose or in a .zip")
    p.add_argument("--out", type=Path, required=True,
                   help="folder for gradebook.csv and <student>/feedback.md")
    p.add_argument("--timeout", type=float, default=Limits.timeout_s,
                   help=f"seconds per notebook (default {Limits.timeout_s:.0f})")
    p.add_argument("--memory-gb", type=float, default=Limits.memory_bytes / 2**30,
                   help=f"address space per notebook run, GiB (default "
                        f"{Limits.memory_bytes / 2**30:.0f})")
    p.add_argument("--profile", choices=list(PROFILES), default=GRADING_PROFILE,
                   help=f"the grading profile (default {GRADING_PROFILE}: every exercise can "
                        "be answered)")
    _quiet_argument(p)


def _grade(args: argparse.Namespace) -> None:
    from practical3.grading.grade import GRADEBOOK, grade
    from practical3.grading.sandbox import Limits

    limits = Limits(timeout_s=args.timeout, memory_bytes=int(args.memory_gb * 2**30))
    marks = grade(args.submissions, args.out, args.profile, limits, progress=not args.quiet)
    students = len({m.student for m in marks})
    print(f"graded {students} students: {args.out / GRADEBOOK}")


# --- the commands -----------------------------------------------------------------------------

class Command(NamedTuple):
    """One subcommand: its help line, what adds its arguments, what runs it."""

    help: str
    arguments: Callable[[Parser], None]
    handler: Callable[[argparse.Namespace], int | None]


COMMANDS: dict[str, Command] = {
    "synth": Command("write a synthetic twin of COVID-QU-Ex (archive layout)", _synth_arguments,
                     _synth),
    "download": Command("download COVID-QU-Ex from Kaggle (version 7)", _download_arguments,
                        _download),
    "index": Command("find, pair, validate and count a COVID-QU-Ex copy", _index_arguments,
                     _index),
    "train": Command("train a U-Net; writes history, last.pt and best.pt", _train_arguments,
                     _train),
    "evaluate": Command("score a checkpoint: metrics.json and per_image.csv",
                        _evaluate_arguments, _evaluate),
    "predict": Command("segment your own chest X-rays: masks, overlays, severity",
                       _predict_arguments, _predict),
    "compare": Command("settings side by side over seeds: train, evaluate, tabulate",
                       _compare_arguments, _compare),
    "draw": Command("draw every results figure of a results folder (default into figures/)",
                    _draw_arguments, _draw),
    "report": Command("regenerate report/report.md, or --check it", _report_arguments, _report),
    "pipeline": Command("everything `make figures` does: data, training, evaluation, figures, "
                        "report", _pipeline_arguments, _pipeline),
    "reproduce": Command("regenerate every committed report from scratch and compare its "
                         "numbers", _reproduce_arguments, _reproduce),
    "release": Command("write the students' copy of the course (or --solutions the "
                       "instructor's)", _release_arguments, _release),
    "grade": Command("grade a class's notebooks: gradebook.csv and feedback per student",
                     _grade_arguments, _grade),
    "spread": Command("train a committed report's protocol with several seeds: each number's "
                      "spread and reproduction tolerance", _spread_arguments, _spread),
}


def build_parser(command: str | None = None) -> Parser:
    """The parser, with the arguments of ``command`` only (the others list just their help)."""
    parser = Parser(prog="practical3", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_arguments, handler) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        if name == command:
            add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; a UserError prints one message and returns 1."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    args.argv = argv  # what a launcher hands its workers
    if hasattr(signal, "SIGXFSZ"):  # past a file-size limit, say "disk full" instead of dying
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        status = args.handler(args)
    except UserError as err:
        print(f"practical3 {args.command}: error: {err}", file=sys.stderr)
        return 1
    return status or 0
