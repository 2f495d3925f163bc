"""The report's generated Markdown tables.

``{{ table:NAME }}`` passes the whole context; ``{{ table:NAME:MODEL }}`` passes one model's
context (``infection`` or ``lung``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from practical3.data import layout
from practical3.evaluation.comparison import markdown_table
from practical3.report.formats import FORMATS, ZERO_TEXT, markdown_text, p_text, with_interval
from practical3.scoring.metrics import SCORES
from practical3.scoring.significance import NOT_APPLICABLE
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
                    "Dice (dataset)", "IoU (dataset)", "healthy FP rate [exact 95 % CI]"], rows,
                   "llrrrrrr")
    return table + _notes(" ".join(cell for row in rows for cell in row))


def _notes(cells: str) -> str:
    """The footnotes the cells of a table call for: what "n too small" and "0 by
    construction" mean."""
    notes = []
    if TOO_FEW in cells:
        notes.append(f"*{TOO_FEW}*: fewer than {MIN_IMAGES} images make the score, too few for "
                     "a meaningful interval, so none is given.")
    if NOT_APPLICABLE in cells:
        notes.append(f"*{NOT_APPLICABLE}*: every image has the target, so no image can be a "
                     "healthy false positive.")
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
    selection, num, points = model["postprocessing"]["selection"], FORMATS["num"], FORMATS["dp"]
    rows = [[t["steps"], num(t["score"]), points(t.get("gain")),
             FORMATS["points"](t.get("gain_standard_error")), "kept" if t["kept"] else "dropped"]
            for t in selection.get("trials", [])]
    targets = " and ".join(model["metrics"])
    return _table(["steps tried (cumulative)", f"mean of the {targets} imagewise Dice on Val",
                   "gain (Dice points)", "noise: standard error of the gain (Dice points)",
                   "decision"], rows, "lrrrl") if rows else f"No selection: {selection['rule']}."


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
            ["mean true infected share", fmt["pct_value"](s["mean_true_percent"])],
            ["mean predicted infected share", fmt["pct_value"](s["mean_predicted_percent"])]]
    if "bias_pp" in s:
        rows += [["bias: mean of predicted - true", with_interval(s, "bias_pp", "pp")],
                 ["limits of agreement: lower (bias - 1.96 SD)",
                  with_interval(s, "loa_lower_pp", "pp")],
                 ["limits of agreement: upper (bias + 1.96 SD)",
                  with_interval(s, "loa_upper_pp", "pp")],
                 ["SD of the differences", fmt["pp"](s["sd_pp"])],
                 _test_row("is the bias 0?", s["bias_test"]),
                 _test_row("are the differences normal?", s["normality_test"])]
    rows += [["mean absolute error", with_interval(s, "mae_percentage_points", "pp")],
             ["Pearson r (association, not agreement)", with_interval(s, "pearson_r", "num")]]
    return (_table(["severity (% of lung infected)", "value [95 % CI]"], rows, "lr")
            + _notes(" ".join(cell for row in rows for cell in row)))


def _test_row(question: str, test: dict[str, Any] | None) -> list[str]:
    """A table row for a stated test: the question, then the test's name and p-value."""
    if not test or test["p_value"] is None:
        return [question, "no test possible"]
    return [f"{question} ({test['test']})", p_text(test["p_value"])]


def _lesion_sizes(model: dict[str, Any]) -> str:
    rows = [[f"{FORMATS['int'](r['low'])} to {FORMATS['int'](r['high'])}",
             FORMATS["int"](r["n_images"]), FORMATS["pct"](r["dice"]),
             FORMATS["int"](r["n_missed"])]
            for r in model["discussion"]["lesion_sizes"]]
    return _table(["true infected area (native px)", "COVID-19 images", "infection Dice "
                   "(imagewise)", "missed entirely (no infection predicted)"], rows,
                  "lrrr") if rows else "Too few COVID-19 test images."


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
    """The cited values, then, when this run is on real COVID-QU-Ex, this run's Dice and IoU
    under every averaging rule the paper may have used, each named."""
    pct, ref, count = FORMATS["pct"], ctx["reference"], FORMATS["int"]
    rows = [[target, "Tahir et al. 2021 (cited; protocol above, averaging not stated)", "",
             pct(ref[target]["dice"]), pct(ref[target]["iou"])]
            for target in ("lung", "infection")]
    if ctx["covidqu"]:
        for target in ("lung", "infection"):
            rows += [[target, f"this run, {r['images']}: {r['rule']}", count(r["n_images"]),
                      pct(r["dice"]), pct(r["iou"])]
                     for r in ctx[target]["averaging_rules"][target]]
    rows.sort(key=lambda row: row[0] != "lung")
    return _table(["target", "source and averaging rule", "images", "Dice", "IoU"], rows,
                  "llrrr")


def _near_duplicates(ctx: dict[str, Any]) -> str:
    """Each Test image with a near-duplicate in another split: its class, its match, the
    match's split and the thumbnails' correlation."""
    rows = [[markdown_text(p["image"]), p["cls"], markdown_text(p["match"]), p["match_split"],
             FORMATS["num"](p["correlation"])] for p in ctx["near_duplicates"]["pairs"]]
    return _table(["Test image", "class", "near-duplicate", "its split", "correlation"], rows,
                  "llllr") if rows else "None found."


def _spread(ctx: dict[str, Any]) -> str:
    """The headline numbers: this run's, with its interval over test images, beside their
    mean, SD and values over the seeds of the same protocol."""
    spread = ctx["spread"]
    rows = []
    for r in spread["rows"]:
        shown = FORMATS[r["kind"]]
        spread_shown = FORMATS["num1"] if r["kind"] == "int" else shown  # a mean of counts
        rows.append([r["label"], shown(r["this"]),
                     f"{spread_shown(r['mean'])} ± {spread_shown(r['sd'])}",
                     ", ".join(shown(v) for v in r["values"])])
    seeds = ", ".join(map(str, spread["seeds"]))
    return _table(["number", "this run", f"mean ± SD over seeds {seeds}",
                   "each seed's value"], rows, "lrrl")


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
    "spread": _spread,
    "near_duplicates": _near_duplicates,
    "comparison": lambda ctx: markdown_table(ctx["comparison"]),
}
