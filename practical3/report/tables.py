"""The report's generated Markdown tables.

``{{ table:NAME }}`` passes the whole context; ``{{ table:NAME:MODEL }}`` passes one model's
context (``infection`` or ``lung``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from practical3.data import layout
from practical3.evaluation.comparison import markdown_table
from practical3.report.formats import FORMATS, ZERO_TEXT, markdown_text, with_interval
from practical3.scoring.metrics import SCORES
from practical3.scoring.uncertainty import MIN_IMAGES, TOO_FEW


def _table(header: list[str], rows: list[list[str]], align: str) -> str:
    """A Markdown table; ``align`` has one of l/r per column."""
    rule = ["---:" if a == "r" else ":---" for a in align]
    lines = [header, rule, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def _segmentation(model: dict[str, Any]) -> str:
    count = FORMATS["int"]
    rows = []
    for target, by_class in model["metrics"].items():
        for cls, s in by_class.items():
            rows.append([target, "all classes" if cls == "all" else cls,
                         f"{count(s['n_images_scored'])} / {count(s['n_images'])}",
                         *[with_interval(s, score) for score in SCORES],
                         with_interval(s, "healthy_fp_rate")])
    table = _table(["target", "class", "scored / images", "Dice (imagewise)", "IoU (imagewise)",
                    "Dice (dataset)", "IoU (dataset)", "healthy FP rate"], rows, "llrrrrrr")
    return table + _notes(" ".join(cell for row in rows for cell in row))


def _notes(cells: str) -> str:
    """The footnotes the cells of a table call for: what "n too small" and "0 by
    construction" mean."""
    notes = []
    if TOO_FEW in cells:
        notes.append(f"*{TOO_FEW}*: fewer than {MIN_IMAGES} images make the score, too few for "
                     "a meaningful interval, so none is given.")
    if ZERO_TEXT in cells:
        notes.append(f"*{ZERO_TEXT}*: no image of the class has the target, so every scored "
                     "image is a false positive and scores 0; the healthy FP rate is the "
                     "meaningful number.")
    return "".join(f"\n\n{note}" for note in notes)


def _boundary(model: dict[str, Any]) -> str:
    num, count = FORMATS["num"], FORMATS["int"]
    rows = [[cls if cls != "all" else "all classes", with_interval(b, "hd95_mean", "num"),
             num(b["hd95_median"]), count(b["n_images_hd95"]), count(b["n_images_hd95_miss"])]
            for cls, b in model["boundary"]["lung"].items()]
    table = _table(["class", "lung HD95, mean (px) [95 % CI]", "median (px)", "images",
                    "total misses (scored at the diagonal)"], rows, "lrrrr")
    return table + _notes(" ".join(cell for row in rows for cell in row))


def _data(model: dict[str, Any]) -> str:
    count = FORMATS["int"]
    per_class = model["data"]["images_per_class"]
    rows = [[cls, count(per_class.get(cls, 0))] for cls in layout.CLASSES]
    rows.append(["all", count(model["data"]["n_images"])])
    return _table(["class", f"{model['data']['split']} images"], rows, "lr")


def _training(model: dict[str, Any]) -> str:
    cfg, run, fmt = model["config"], model["run"], FORMATS
    rows = [
        ["run id", f"`{model['run_id']}`"],
        ["profile", cfg["profile"]],
        ["model", f"{cfg['model']}, depth {cfg['depth']}, {cfg['base_channels']} base channels, "
                  f"{fmt['int'](model['model']['parameters'])} parameters"],
        ["input size", f"{cfg['image_size']} x {cfg['image_size']} px, one channel"],
        ["loss", cfg["loss"]],
        ["optimiser", f"AdamW, learning rate {fmt['g'](cfg['lr'])}, weight decay "
                      f"{fmt['g'](cfg['weight_decay'])}, one cosine schedule over "
                      f"{run['schedule']['epochs']} epochs"],
        ["epochs, batch size", f"{cfg['epochs']}, {cfg['batch_size']}"],
        ["augmentation", fmt["onoff"](cfg["augment"])],
        ["seed", str(cfg["seed"])],
        ["training / validation images", f"{fmt['int'](run['n_train_images'])} / "
                                         f"{fmt['int'](run['n_val_images'])}"],
        ["device, precision", f"{run['device']} ({markdown_text(run['device_name'])}), "
                              f"{run['precision_used']} (setting: {run['precision']}), "
                              f"torch {run['torch']}"],
        ["checkpoint evaluated", f"epoch {model['checkpoint']['epoch']} of "
                                 f"{model['training']['epochs_run']} (best validation score "
                                 f"{fmt['num'](model['training']['best_val_score'])})"],
        ["training time", fmt["min"](model["training"]["time_s"])],
    ]
    return _table(["setting", "value"], rows, "ll")


def _selection(model: dict[str, Any]) -> str:
    selection, num = model["postprocessing"]["selection"], FORMATS["num"]
    rows = [[t["steps"], num(t["score"]), num(t.get("gain")), num(t.get("gain_standard_error")),
             "kept" if t["kept"] else "dropped"]
            for t in selection.get("trials", [])]
    return _table(["steps tried (cumulative)", "mean imagewise Dice on Val", "gain",
                   "noise (standard error of the gain)", "decision"], rows,
                  "lrrrl") if rows else f"No selection: {selection['rule']}."


def _ablation(model: dict[str, Any]) -> str:
    pct, chosen = FORMATS["pct"], model["postprocessing"]["chosen"]
    targets = list(model["metrics"])
    healthy = "infection" in targets
    rows = [[f"**{v['steps']}** (chosen)" if v["steps"] == chosen else v["steps"],
             *[pct(v[f"{t}_dice_imagewise"]) for t in targets],
             *[pct(v[f"{t}_dice_dataset"]) for t in targets],
             *([pct(v["infection_healthy_fp_rate"])] if healthy else [])]
            for v in model["ablation"]["variants"]]
    header = ["post-processing", *[f"{t} Dice (imagewise)" for t in targets],
              *[f"{t} Dice (dataset)" for t in targets],
              *(["healthy FP rate"] if healthy else [])]
    return _table(header, rows, "l" + "r" * (len(header) - 1))


def _severity(model: dict[str, Any]) -> str:
    s, fmt = model["severity"], FORMATS
    rows = [["COVID-19 images scored", fmt["int"](s["n_images"])],
            ["Pearson r (predicted vs true)", with_interval(s, "pearson_r", "num")],
            ["mean absolute error", with_interval(s, "mae_percentage_points", "pp")],
            ["mean true infected share", fmt["pct_value"](s["mean_true_percent"])],
            ["mean predicted infected share", fmt["pct_value"](s["mean_predicted_percent"])]]
    return (_table(["severity (% of lung infected)", "value [95 % CI]"], rows, "lr")
            + _notes(" ".join(cell for row in rows for cell in row)))


def _lesion_sizes(model: dict[str, Any]) -> str:
    rows = [[f"{FORMATS['int'](r['low'])} to {FORMATS['int'](r['high'])}",
             FORMATS["int"](r["n_images"]), FORMATS["pct"](r["dice"])]
            for r in model["discussion"]["lesion_sizes"]]
    return _table(["true infected area (native px)", "COVID-19 images", "infection Dice "
                   "(imagewise)"], rows, "lrr") if rows else "Too few COVID-19 test images."


def _lung_sizes(model: dict[str, Any]) -> str:
    rows = [[f"{FORMATS['int'](r['low'])} to {FORMATS['int'](r['high'])}",
             FORMATS["int"](r["n_images"]), FORMATS["pct"](r["dice"])]
            for r in model["discussion"]["lung_sizes"]]
    return _table(["true lung area (native px)", "images", "lung Dice (imagewise)"], rows,
                  "lrr") if rows else "Too few test images."


def _coursework(ctx: dict[str, Any]) -> str:
    num = FORMATS["num"]
    rows = [[r["target"], num(r["dice"]), num(r["iou"]), f"{num(r['low'])} to {num(r['high'])}",
             "possible" if r["possible"] else "**impossible**"] for r in ctx["coursework"]]
    return _table(["target", "printed Dice", "printed IoU", "mean Dice this IoU allows",
                   "verdict"], rows, "lrrrl")


def _reference(ctx: dict[str, Any]) -> str:
    """The cited values; beside this run's only when this run is on real COVID-QU-Ex."""
    pct, ref = FORMATS["pct"], ctx["reference"]
    header = ["target", "metric", f"Tahir et al. 2021 (cited): {ref['protocol']}"]
    rows = []
    for target in ("lung", "infection"):
        model = ctx[target]
        for metric, name in (("dice", "Dice"), ("iou", "IoU")):
            row = [target, name, pct(ref[target][metric])]
            if ctx["covidqu"] and model:
                row += [pct(model["metrics"][target]["all"][f"{metric}_imagewise"]),
                        pct(model["metrics"][target]["all"][f"{metric}_dataset"])]
            rows.append(row)
    if ctx["covidqu"]:
        model = ctx["infection"] or ctx["lung"]
        this = (f"this run: {model['data']['split']} split of this copy, a U-Net of base "
                f"{model['config']['base_channels']} trained at {model['config']['image_size']}"
                f" px, scored at native size")
        header += [f"{this} (imagewise)", "(dataset)"]
    return _table(header, rows, "ll" + "r" * (len(header) - 2))


MODEL_TABLES: dict[str, Callable[[dict[str, Any]], str]] = {
    "data": _data,
    "training": _training,
    "segmentation": _segmentation,
    "boundary": _boundary,
    "selection": _selection,
    "ablation": _ablation,
    "severity": _severity,
    "lesion_sizes": _lesion_sizes,
    "lung_sizes": _lung_sizes,
}
TABLES: dict[str, Callable[[dict[str, Any]], str]] = {
    "coursework": _coursework,
    "reference": _reference,
    "comparison": lambda ctx: markdown_table(ctx["comparison"]),
}
