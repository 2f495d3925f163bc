"""The report: rendered from the results alone, and a check that names every disagreement."""

from __future__ import annotations

import json
import re
import shutil

import pandas as pd
import pytest

from practical3 import report
from practical3.figures import FIGURE_NAMES
from practical3.report import FORMATS, SYNTHETIC_STATEMENT, TemplateError, check, render


@pytest.fixture(scope="module")
def results(tiny_results):
    return tiny_results


@pytest.fixture
def project(results, tmp_path):
    """A repository in miniature: results, a fresh report and the figures it links."""
    folder = shutil.copytree(results, tmp_path / "report" / "results")
    (tmp_path / "figures").mkdir()
    for name in FIGURE_NAMES:
        (tmp_path / "figures" / f"{name}.png").write_bytes(b"")
    return folder, report.write(folder, tmp_path / "report" / "report.md")


def _metrics(folder):
    return json.loads((folder / "metrics.json").read_text())


def test_render_is_deterministic_and_names_no_absolute_path(results, tmp_path):
    moved = shutil.copytree(results, tmp_path / "elsewhere")
    text = render(results)
    assert render(moved) == text
    assert str(results.parent) not in text and str(tmp_path) not in text


def test_render_fills_every_placeholder_from_the_results(results):
    text = render(results)
    lung = _metrics(results)["metrics"]["lung"]["all"]
    assert "{{" not in text and "}}" not in text
    assert FORMATS["pct"](lung["dice_imagewise"]) in text
    assert FORMATS["pct"](lung["iou_imagewise"]) in text


def test_check_passes_on_a_fresh_report(project):
    assert check(*project) == []


def test_check_names_a_number_edited_in_the_report(project):
    folder, path = project
    true_value = FORMATS["pct"](_metrics(folder)["metrics"]["lung"]["all"]["dice_imagewise"])
    text = path.read_text()
    line = text[:text.index(f"Dice of {true_value}")].count("\n") + 1
    path.write_text(text.replace(f"Dice of {true_value}", "Dice of 58.00 %", 1))
    assert check(folder, path) == [f"{path}:{line}: number(s) differ from the results: "
                                   f"58.00 (results: {true_value.removesuffix(' %')})"]


def test_check_catches_a_dice_below_its_iou_planted_in_metrics_json(project):
    folder, path = project
    metrics = _metrics(folder)
    scores = metrics["metrics"]["lung"]["Normal"]
    scores["iou_imagewise"] = scores["dice_imagewise"] + 0.1
    (folder / "metrics.json").write_text(json.dumps(metrics))
    problems = check(folder, path)
    assert any("metrics.json: lung Normal dice_imagewise" in p for p in problems), problems


def test_check_catches_a_dice_below_its_iou_planted_in_per_image_csv(project):
    folder, path = project
    table = pd.read_csv(folder / "per_image.csv")
    table.loc[0, "iou_lung"] = table.loc[0, "dice_lung"] + 0.1
    table.to_csv(folder / "per_image.csv", index=False)
    assert check(folder, path) == [
        f"{folder}/per_image.csv: {table.loc[0, 'image']} ({table.loc[0, 'cls']}) dice_lung "
        f"{table.loc[0, 'dice_lung']} < iou_lung {table.loc[0, 'iou_lung']}"]


def test_check_catches_a_missing_figure(project):
    folder, path = project
    (path.parent.parent / "figures" / "04_severity.png").unlink()
    assert check(folder, path) == [f"{path}: linked figure ../figures/04_severity.png is "
                                   "missing; draw it with `practical3 figures`"]


def test_check_catches_a_removed_data_source_statement(project):
    folder, path = project
    label = _metrics(folder)["data"]["label"]
    path.write_text(path.read_text().replace(label, "Data"))
    problems = check(folder, path)
    assert f"{path}: does not state the data source ({label!r})" in problems


def test_check_catches_a_synthetic_report_that_does_not_say_so(project):
    folder, path = project
    path.write_text(path.read_text().replace(SYNTHETIC_STATEMENT, ""))
    problems = check(folder, path)
    assert any("results are synthetic but the report does not say so" in p for p in problems)


def test_check_names_a_missing_report_and_missing_results(project, tmp_path):
    folder, path = project
    path.unlink()
    assert check(folder, path) == [f"{path}: no report; write it with `practical3 report`"]
    (folder / "history.csv").unlink()
    [problem] = check(folder, path)
    assert "missing history.csv" in problem and "practical3 train" in problem


def test_the_template_types_no_result_by_hand():
    text = re.sub(r"\{\{.*?\}\}", "", report.TEMPLATE.read_text(), flags=re.DOTALL)
    assert re.findall(r"\d+\.\d+|\d+\s*%", text) == []


def test_the_template_links_every_figure():
    links = re.findall(r"!\[[^\]]*\]\(\.\./figures/([^)]+)\.png\)", report.TEMPLATE.read_text())
    assert sorted(links) == sorted(FIGURE_NAMES)


@pytest.mark.parametrize(("placeholder", "message"), [
    ("{{ metrics.lung.all.dice }}", "no 'dice' in the results"),
    ("{{ metrics.lung.all.dice_imagewise }}", "needs a formatter"),
    ("{{ metrics.lung.all.dice_imagewise | percent }}", "unknown format 'percent'"),
    ("{{ table:nothing }}", "no such table"),
])
def test_a_bad_placeholder_is_an_error_naming_it(results, tmp_path, placeholder, message):
    template = tmp_path / "template.md"
    template.write_text(f"Lung: {placeholder}\n")
    with pytest.raises(TemplateError, match=re.escape(message)):
        render(results, template)


def test_conditional_text_follows_the_data_source(results, tmp_path):
    template = tmp_path / "template.md"
    template.write_text("{{ if synthetic }}phantoms{{ else }}X-rays{{ endif }}\n")
    assert render(results, template) == "phantoms\n"


def test_formats_print_undefined_scores_as_na():
    assert FORMATS["pct"](0.5) == "50.00 %"
    assert FORMATS["pct"](None) == FORMATS["num"](None) == "n/a"
    assert FORMATS["int"](5826) == "5,826"


def test_the_committed_report_agrees_with_the_committed_results():
    """What a grader runs: `practical3 report --check` on the repository as submitted."""
    assert report.check() == []
