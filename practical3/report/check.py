"""``report --check``: every way a written report disagrees with its results.

It never re-renders a figure: it compares the text line by line with a fresh render, reads each
linked figure's provenance (name, run, digest of the results it was drawn from) and recomputes
the digest of its pixels (so provenance copied onto another image is caught), checks that the
results files come from one run whose best epoch is the one evaluated, that no Dice is below its
IoU anywhere in the results, and that the data source is stated.

Every figure in the report's figures folder is the report's, linked or not: one drawn from other
results, another copy of the data or another model's settings (a pipeline killed after its
first figures leaves such) is named. A results figure must carry one part's run and results
digest; a data figure the copy fingerprint its results record (``data.copy_fingerprint``), and
the untrained model's figures that fingerprint with a part's settings.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from practical3.base.errors import ResultsError
from practical3.base.paths import figures_dir
from practical3.evaluation.comparison import consistency as comparison_consistency
from practical3.evaluation.results import Results, consistency, digest, load_parts, outdated
from practical3.plots.common import pixels_as_drawn, provenance
from practical3.plots.model import figure_inputs
from practical3.report.context import SYNTHETIC_STATEMENT, shown_data
from practical3.report.render import comparison_of, default_report, figures_link, render
from practical3.scoring.metrics import score_key

TOLERANCE = 1e-9  # Dice >= IoU holds exactly; allow float rounding only
_FIGURE_LINK = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
PIXELS_ALTERED = ("its pixels are not the ones its provenance records (an image edited after "
                  "drawing, provenance copied onto another image, or a figure drawn before "
                  "pixels were recorded)")


def check(results_dir: str | Path | None = None, report_path: str | Path | None = None,
          template: str | Path | None = None, figures: str | Path | None = None) -> list[str]:
    """Every problem with the report at ``report_path``: results files that do not come from
    one run, a Dice below its IoU anywhere in the results, text that differs from a fresh
    render, a linked figure that is missing, empty, not a PNG, another figure under its name
    or drawn from other results, a figure in ``figures`` drawn from anything but this report's
    results and data, and a data source that is not stated. An empty list means the report is
    sound."""
    report = Path(report_path or default_report())
    try:
        parts = load_parts(results_dir)
    except ResultsError as err:
        return [str(err)]
    stale = [problem for results in parts.values() for problem in outdated(results)]
    if stale:
        return stale
    problems = [problem for results in parts.values()
                for problem in (*consistency(results), *dice_below_iou(results))]
    compared = comparison_of(results_dir)
    if compared is not None:
        problems += comparison_consistency(compared)
    if not report.is_file():
        return [*problems, f"{report}: no report; write it with `practical3 report`"]
    text = report.read_text(encoding="utf-8")
    problems += _differences(text, render(results_dir, template, figures_link(report, figures)),
                             report)
    links = list(dict.fromkeys(_FIGURE_LINK.findall(text)))
    for link in links:
        problems += _figure_problems(report.parent / link, link, parts)
    linked = {(report.parent / link).resolve() for link in links}
    problems += _stray_figures(Path(figures or figures_dir()), linked, parts)
    first = shown_data(next(iter(parts.values())).metrics["data"])
    if first["label"] not in text:
        problems.append(f"{report}: does not state the data source ({first['label']!r})")
    if first["kind"] == "synthetic" and SYNTHETIC_STATEMENT not in text:
        problems.append(f"{report}: the results are synthetic but the report does not "
                        f"say so ({SYNTHETIC_STATEMENT!r})")
    return problems


def _figure_problems(path: Path, link: str, parts: dict[str, Results]) -> list[str]:
    """What is wrong with one linked figure; empty when it is the one its results draw."""
    redraw = "draw it again with `practical3 draw` (or `make figures`)"
    if not path.is_file():
        return [f"linked figure {link} is missing; {redraw}"]
    if path.stat().st_size == 0:
        return [f"linked figure {link} is empty; {redraw}"]
    found = provenance(path)
    if found is None:
        return [f"linked figure {link} is not a PNG; {redraw}"]
    problems = []
    if not pixels_as_drawn(path):
        return [f"linked figure {link}: {PIXELS_ALTERED}; {redraw}"]
    if found["figure"] != path.stem:
        problems.append(f"linked figure {link} holds figure {found['figure']!r}, not "
                        f"{path.stem!r}; {redraw}")
    source = next((r for part, r in parts.items() if path.stem.endswith(f"_{part}")), None)
    if source is None:
        return problems
    if found["run"] != source.run_id:
        problems.append(f"linked figure {link} was drawn from other results (run "
                        f"{found['run'] or 'none'}), not from those of run {source.run_id} in "
                        f"{source.folder}; {redraw}")
    elif found["inputs"] != digest(source.folder):
        problems.append(f"linked figure {link} was drawn from other results of the same run: "
                        f"a results file in {source.folder} changed since it was drawn; {redraw}")
    return problems


def _stray_figures(folder: Path, linked: set[Path], parts: dict[str, Results]) -> list[str]:
    """Every figure in ``folder`` (not its subfolders), other than the linked ones, that was
    not drawn from this report's results, its copy of the data, or its models' settings."""
    drawn_from = _report_inputs(parts)
    redraw = ("redraw the report's figures with `practical3 pipeline` (or `make figures`), or "
              "remove it")
    problems = []
    for path in sorted(folder.glob("*.png")):
        if path.resolve() in linked:
            continue
        found = provenance(path)
        if found is None or not found["figure"]:
            problems.append(f"{path}: not a figure practical3 drew (no provenance); {redraw}")
        elif not pixels_as_drawn(path):
            problems.append(f"{path}: {PIXELS_ALTERED}; {redraw}")
        elif found["figure"] != path.stem:
            problems.append(f"{path}: holds figure {found['figure']!r}, not {path.stem!r}; "
                            f"{redraw}")
        elif (found["run"], found["inputs"]) not in drawn_from:
            problems.append(f"{path}: drawn from other "
                            f"{'results (run ' + found['run'] + ')' if found['run'] else 'data'}"
                            f" than this report's; {redraw}")
    return problems


def _report_inputs(parts: dict[str, Results]) -> set[tuple[str, str]]:
    """The (run, inputs) provenance a figure of this report may carry: each part's run and
    results digest; with no run, the copy's fingerprint (the data figures) and that with each
    part's settings (the untrained model's figures)."""
    allowed = {(results.run_id, digest(results.folder)) for results in parts.values()}
    for results in parts.values():
        fingerprint = results.metrics["data"].get("copy_fingerprint")
        if fingerprint:
            allowed |= {("", fingerprint), ("", figure_inputs(
                fingerprint, results.metrics["checkpoint"]["config"]))}
    return allowed


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
        dice, iou = score_key(target, "dice"), score_key(target, "iou")
        for _, row in table[table[dice] < table[iou] - TOLERANCE].iterrows():
            problems.append(f"{where}/per_image.csv: {row['image']} ({row['cls']}) {dice} "
                            f"{row[dice]} < {iou} {row[iou]}")
        for kind in ("imagewise", "dataset"):
            dice, iou = (f"val_{score_key(target, f'{m}_{kind}')}" for m in ("dice", "iou"))
            history = results.history
            for epoch in history["epoch"][history[dice] < history[iou] - TOLERANCE]:
                problems.append(f"{where}/history.csv: epoch {epoch} {dice} < {iou}")
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
