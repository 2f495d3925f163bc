"""The written report: ``report/template.md`` filled from a results folder, and its check.

The template is prose with placeholders, so no result is ever typed by hand:

- ``{{ metrics.lung.all.dice_imagewise | pct }}``: a dotted path into the results (the keys of
  ``metrics.json`` plus ``run``, ``config``, ``training``, ``model``, ``augment``,
  ``reference``), with a formatter from ``FORMATS``; floats must name one.
- ``{{ table:segmentation }}``: a generated Markdown table (``TABLES``).
- ``{{ if PATH }} ... {{ else }} ... {{ endif }}``: text kept when PATH is truthy (not nested).

``check`` re-renders the report and lists every way the written file disagrees with the results.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from practical3 import layout
from practical3.atomic import write_text
from practical3.config import PROJECT_ROOT
from practical3.losses import LOSSES
from practical3.model import MODELS, build_model, count_parameters
from practical3.results import RESULTS_DIR, Results, load

TEMPLATE = PROJECT_ROOT / "report" / "template.md"
REPORT = PROJECT_ROOT / "report" / "report.md"
SYNTHETIC_STATEMENT = ("These results come from synthetic phantoms, not chest X-rays: they "
                       "test the code and say nothing about how the model does on real X-rays.")
# Cited, not measured: Tahir et al., Computers in Biology and Medicine 139 (2021) 105002, U-Net.
REFERENCE = {
    "citation": "Tahir et al., Computers in Biology and Medicine 139 (2021) 105002",
    "lung": {"dice": 0.9799, "iou": 0.9611},
    "infection": {"dice": 0.8821, "iou": 0.8305},
}
TOLERANCE = 1e-9  # Dice >= IoU holds exactly; allow float rounding only

_BLOCK = re.compile(r"\{\{ if ([\w.\-]+) \}\}(.*?)(?:\{\{ else \}\}(.*?))?\{\{ endif \}\}",
                    re.DOTALL)
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
_FIGURE_LINK = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


class TemplateError(ValueError):
    """A placeholder the results cannot fill; the message names it and the template."""


def _na(format_value: Callable[[Any], str]) -> Callable[[Any], str]:
    """None (an undefined score in metrics.json) prints as n/a, whatever the format."""
    return lambda value: "n/a" if value is None else format_value(value)


FORMATS: dict[str, Callable[[Any], str]] = {
    "pct": _na(lambda v: f"{100 * v:.2f} %"),      # a fraction as a percentage
    "num": _na(lambda v: f"{v:.3f}"),              # a ratio or correlation
    "pp": _na(lambda v: f"{v:.2f} pp"),            # percentage points
    "pct_value": _na(lambda v: f"{v:.2f} %"),      # a value already in percent
    "int": _na(lambda v: f"{int(v):,}"),
    "g": _na(lambda v: f"{v:g}"),                  # learning rate, weight decay
    "min": _na(lambda v: f"{v / 60:.1f} min"),     # seconds as minutes
    "onoff": lambda v: "on" if v else "off",
}


def _plain(value: Any) -> str:
    if isinstance(value, float):
        raise TemplateError(f"the float {value} needs a formatter ({', '.join(FORMATS)})")
    return "n/a" if value is None else str(value)


def context(results: Results) -> dict[str, Any]:
    """What placeholders may name: ``metrics.json`` keys and facts derived from the run."""
    metrics = results.metrics
    cfg = metrics["checkpoint"]["config"]
    history = results.history
    model = build_model(cfg["model"], 1, len(metrics["metrics"]), cfg["base_channels"],
                        cfg["depth"])
    return {
        **metrics,
        "run": results.run,
        "config": cfg,
        "synthetic": metrics["data"]["source"] == "synthetic",
        "synthetic_statement": SYNTHETIC_STATEMENT,
        "training": {
            "epochs_run": len(history),
            "best_val_score": float(history["val_score"].max()),
            "time_s": float(history["epoch_time_s"].sum()),
            "final_train_loss": float(history["train_loss"].iloc[-1]),
            "final_val_loss": float(history["val_loss"].iloc[-1]),
        },
        "model": {
            "parameters": count_parameters(model),
            "bottleneck_channels": cfg["base_channels"] * 2 ** cfg["depth"],
            "summary": _first_line(MODELS[cfg["model"]].__doc__),
            "loss_summary": _first_line(LOSSES[cfg["loss"]].__doc__),
        },
        "augment": results.run["augmentation"] or {},
        "reference": REFERENCE,
    }


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0]


def _lookup(ctx: dict[str, Any], path: str) -> Any:
    value: Any = ctx
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            known = ", ".join(value) if isinstance(value, dict) else "nothing below a value"
            raise TemplateError(f"{{{{ {path} }}}}: no {key!r} in the results (known: {known})")
        value = value[key]
    return value


def _fill(expression: str, ctx: dict[str, Any]) -> str:
    if expression.startswith("table:"):
        name = expression.removeprefix("table:")
        if name not in TABLES:
            raise TemplateError(f"{{{{ {expression} }}}}: no such table; use one of "
                                f"{', '.join(TABLES)}")
        return TABLES[name](ctx)
    path, _, fmt = (part.strip() for part in expression.partition("|"))
    if fmt and fmt not in FORMATS:
        raise TemplateError(f"{{{{ {expression} }}}}: unknown format {fmt!r}; use one of "
                            f"{', '.join(FORMATS)}")
    value = _lookup(ctx, path)
    return FORMATS[fmt](value) if fmt else _plain(value)


def render(results_dir: str | Path = RESULTS_DIR, template: str | Path = TEMPLATE) -> str:
    """The report's Markdown for the results in ``results_dir``: same results, same text."""
    results = load(results_dir)
    if results.metrics["data"]["part"] != "infection":
        raise ValueError(f"{results_dir}: results are for the {results.metrics['data']['part']!r}"
                         " part; the report covers the infection part's lung + infection model "
                         "(train with --part infection)")
    ctx = context(results)
    text = Path(template).read_text(encoding="utf-8")
    try:
        text = _BLOCK.sub(lambda m: m[2] if _lookup(ctx, m[1]) else (m[3] or ""), text)
        return _PLACEHOLDER.sub(lambda m: _fill(m[1], ctx), text)
    except TemplateError as err:
        raise TemplateError(f"{template}: {err}") from None


def write(results_dir: str | Path = RESULTS_DIR, out: str | Path = REPORT,
          template: str | Path = TEMPLATE) -> Path:
    """Render the report and write it atomically to ``out``."""
    return write_text(out, render(results_dir, template))


def check(results_dir: str | Path = RESULTS_DIR, report_path: str | Path = REPORT,
          template: str | Path = TEMPLATE) -> list[str]:
    """Every problem with ``report_path``: text that differs from a fresh render of the
    results, a linked figure that is missing, a Dice below its IoU anywhere in the results,
    and a data source that is not stated. An empty list means the report is sound."""
    report_path = Path(report_path)
    try:
        results = load(results_dir)
    except FileNotFoundError as err:
        return [str(err)]
    problems = dice_below_iou(results)
    if not report_path.is_file():
        return [*problems, f"{report_path}: no report; write it with `practical3 report`"]
    text = report_path.read_text(encoding="utf-8")
    problems += _differences(text, render(results_dir, template), report_path)
    for link in dict.fromkeys(_FIGURE_LINK.findall(text)):
        if not (report_path.parent / link).is_file():
            problems.append(f"{report_path}: linked figure {link} is missing; draw it with "
                            "`practical3 figures`")
    label = results.metrics["data"]["label"]
    if label not in text:
        problems.append(f"{report_path}: does not state the data source ({label!r})")
    if results.metrics["data"]["source"] == "synthetic" and SYNTHETIC_STATEMENT not in text:
        problems.append(f"{report_path}: the results are synthetic but the report does not "
                        f"say so ({SYNTHETIC_STATEMENT!r})")
    return problems


def dice_below_iou(results: Results) -> list[str]:
    """Every place in the results where a Dice is below its IoU (impossible per image)."""
    problems = []
    where = results.folder
    for target, by_class in results.metrics["metrics"].items():
        for cls, scores in by_class.items():
            for kind in ("imagewise", "dataset"):
                dice, iou = scores[f"dice_{kind}"], scores[f"iou_{kind}"]
                if _below(dice, iou):
                    problems.append(f"{where}/metrics.json: {target} {cls} dice_{kind} {dice} "
                                    f"< iou_{kind} {iou}")
    for variant in results.metrics["ablation"]["variants"]:
        for target in results.targets:
            dice, iou = variant[f"{target}_dice_imagewise"], variant[f"{target}_iou_imagewise"]
            if _below(dice, iou):
                problems.append(f"{where}/metrics.json: ablation {variant['steps']!r} {target} "
                                f"dice_imagewise {dice} < iou_imagewise {iou}")
    table = results.per_image
    for target in results.targets:
        below = table[f"dice_{target}"] < table[f"iou_{target}"] - TOLERANCE
        for _, row in table[below].iterrows():
            problems.append(f"{where}/per_image.csv: {row['image']} ({row['cls']}) dice_{target} "
                            f"{row[f'dice_{target}']} < iou_{target} {row[f'iou_{target}']}")
        for kind in ("imagewise", "dataset"):
            dice, iou = (results.history[f"val_{m}_{kind}_{target}"] for m in ("dice", "iou"))
            for epoch in results.history["epoch"][dice < iou - TOLERANCE]:
                problems.append(f"{where}/history.csv: epoch {epoch} val_dice_{kind}_{target} "
                                f"< val_iou_{kind}_{target}")
    return problems


def _below(dice: float | None, iou: float | None) -> bool:
    return dice is not None and iou is not None and dice < iou - TOLERANCE


def _differences(written: str, fresh: str, path: Path) -> list[str]:
    """One problem per block of lines where the written report departs from a fresh render."""
    old, new = written.splitlines(), fresh.splitlines()
    problems = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            continue
        if op == "replace" and a1 - a0 == b1 - b0:
            problems += [_line_problem(path, a0 + i + 1, old[a0 + i], new[b0 + i])
                         for i in range(a1 - a0)]
        else:
            problems.append(f"{path}: lines {a0 + 1}-{a1} differ from the results "
                            f"(report has {a1 - a0} line(s), a fresh render {b1 - b0}): "
                            f"{' / '.join(old[a0:a1])[:200]!r} should be "
                            f"{' / '.join(new[b0:b1])[:200]!r}")
    return problems


def _line_problem(path: Path, number: int, old: str, new: str) -> str:
    """Name the numbers that differ on one line, or the line itself when no number does."""
    old_numbers, new_numbers = _NUMBER.findall(old), _NUMBER.findall(new)
    changed = [f"{a} (results: {b})" for a, b in zip(old_numbers, new_numbers, strict=False)
               if a != b]
    if changed and len(old_numbers) == len(new_numbers):
        return f"{path}:{number}: number(s) differ from the results: {', '.join(changed)}"
    return f"{path}:{number}: reads {old!r}; the results give {new!r}"


# --- tables ---------------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]], align: str) -> str:
    """A Markdown table; ``align`` has one of l/r per column."""
    rule = ["---:" if a == "r" else ":---" for a in align]
    lines = [header, rule, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def _segmentation(ctx: dict[str, Any]) -> str:
    pct, count = FORMATS["pct"], FORMATS["int"]
    rows = []
    for target, by_class in ctx["metrics"].items():
        for cls, s in by_class.items():
            rows.append([target, "all classes" if cls == "all" else cls,
                         f"{count(s['n_images_scored'])} / {count(s['n_images'])}",
                         pct(s["dice_imagewise"]), pct(s["iou_imagewise"]),
                         pct(s["dice_dataset"]), pct(s["iou_dataset"]),
                         pct(s["healthy_fp_rate"])])
    return _table(["target", "class", "scored / images", "Dice (imagewise)", "IoU (imagewise)",
                   "Dice (dataset)", "IoU (dataset)", "healthy FP rate"], rows, "llrrrrrr")


def _data(ctx: dict[str, Any]) -> str:
    count = FORMATS["int"]
    per_class = ctx["data"]["images_per_class"]
    rows = [[cls, count(per_class.get(cls, 0))] for cls in layout.CLASSES]
    rows.append(["all", count(ctx["data"]["n_images"])])
    return _table(["class", f"{ctx['data']['split']} images"], rows, "lr")


def _training(ctx: dict[str, Any]) -> str:
    cfg, run, fmt = ctx["config"], ctx["run"], FORMATS
    rows = [
        ["profile", cfg["profile"]],
        ["model", f"{cfg['model']}, depth {cfg['depth']}, {cfg['base_channels']} base channels, "
                  f"{fmt['int'](ctx['model']['parameters'])} parameters"],
        ["input size", f"{cfg['image_size']} x {cfg['image_size']} px, one channel"],
        ["loss", cfg["loss"]],
        ["optimiser", f"AdamW, learning rate {fmt['g'](cfg['lr'])}, weight decay "
                      f"{fmt['g'](cfg['weight_decay'])}, cosine schedule"],
        ["epochs, batch size", f"{cfg['epochs']}, {cfg['batch_size']}"],
        ["augmentation", fmt["onoff"](cfg["augment"])],
        ["seed", str(cfg["seed"])],
        ["training / validation images", f"{fmt['int'](run['n_train_images'])} / "
                                         f"{fmt['int'](run['n_val_images'])}"],
        ["device", f"{run['device']} ({run['device_name']}), torch {run['torch']}"],
        ["checkpoint evaluated", f"epoch {ctx['checkpoint']['epoch']} of "
                                 f"{ctx['training']['epochs_run']} (best validation score "
                                 f"{fmt['num'](ctx['training']['best_val_score'])})"],
        ["training time", fmt["min"](ctx["training"]["time_s"])],
    ]
    return _table(["setting", "value"], rows, "ll")


def _selection(ctx: dict[str, Any]) -> str:
    trials = ctx["postprocessing"]["selection"].get("trials", [])
    rows = [[t["steps"], FORMATS["num"](t["score"]), "kept" if t["kept"] else "dropped"]
            for t in trials]
    return _table(["steps tried (cumulative)", "mean imagewise Dice on Val", "decision"], rows,
                  "lrl") if rows else f"No selection: {ctx['postprocessing']['selection']['rule']}."


def _ablation(ctx: dict[str, Any]) -> str:
    pct, chosen = FORMATS["pct"], ctx["postprocessing"]["chosen"]
    targets = list(ctx["metrics"])
    rows = [[f"**{v['steps']}** (chosen)" if v["steps"] == chosen else v["steps"],
             *[pct(v[f"{t}_dice_imagewise"]) for t in targets],
             *[pct(v[f"{t}_dice_dataset"]) for t in targets],
             pct(v.get("infection_healthy_fp_rate"))] for v in ctx["ablation"]["variants"]]
    header = ["post-processing", *[f"{t} Dice (imagewise)" for t in targets],
              *[f"{t} Dice (dataset)" for t in targets], "healthy FP rate"]
    return _table(header, rows, "l" + "r" * (len(header) - 1))


def _severity(ctx: dict[str, Any]) -> str:
    s, fmt = ctx["severity"], FORMATS
    rows = [["COVID-19 images scored", fmt["int"](s["n_images"])],
            ["Pearson r (predicted vs true)", fmt["num"](s["pearson_r"])],
            ["mean absolute error", fmt["pp"](s["mae_percentage_points"])],
            ["mean true infected share", fmt["pct_value"](s["mean_true_percent"])],
            ["mean predicted infected share", fmt["pct_value"](s["mean_predicted_percent"])]]
    return _table(["severity (% of lung infected)", "value"], rows, "lr")


def _reference(ctx: dict[str, Any]) -> str:
    pct, ref = FORMATS["pct"], ctx["reference"]
    rows = []
    for target in ("lung", "infection"):
        ours = ctx["metrics"][target]["all"]
        for metric, name in (("dice", "Dice"), ("iou", "IoU")):
            rows.append([target, name, pct(ref[target][metric]),
                         pct(ours[f"{metric}_imagewise"]), pct(ours[f"{metric}_dataset"])])
    return _table(["target", "metric", "Tahir et al. 2021 (cited)", "this run (imagewise)",
                   "this run (dataset)"], rows, "llrrr")


TABLES: dict[str, Callable[[dict[str, Any]], str]] = {
    "data": _data,
    "training": _training,
    "segmentation": _segmentation,
    "selection": _selection,
    "ablation": _ablation,
    "severity": _severity,
    "reference": _reference,
}
