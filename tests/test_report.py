"""The report: rendered from the results alone, and a check that names every disagreement."""

from __future__ import annotations

import json
import re
import shutil

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from practical3 import report
from practical3.base.errors import TemplateError
from practical3.base.paths import COMMITTED_PLACES, FIGURES_ENV, report_place
from practical3.compare import compare
from practical3.evaluation.results import consistency, load
from practical3.plots.common import save_figure
from practical3.plots.evaluation import draw_all, figure_names
from practical3.plots.model import figure_inputs
from practical3.report import check, render
from practical3.report.context import SYNTHETIC_STATEMENT
from practical3.report.formats import FORMATS, markdown_text, with_interval
from practical3.scoring.uncertainty import ZERO_BY_CONSTRUCTION
from practical3.training.profiles import profile


@pytest.fixture(scope="module")
def results(tiny_results):
    return tiny_results


@pytest.fixture(scope="module")
def drawn(results, tmp_path_factory):
    """The figures of the tiny results, drawn once."""
    out = tmp_path_factory.mktemp("figures")
    draw_all(results, out_dir=out)
    return out


@pytest.fixture
def project(results, drawn, tmp_path, monkeypatch):
    """A repository in miniature: results of the infection model, its figures (the figures
    folder, ``$PRACTICAL3_FIGURES``) and a fresh report. Returns (results folder, report)."""
    folder = tmp_path / "report" / "results"
    shutil.copytree(results, folder / "infection")
    shutil.copytree(drawn, tmp_path / "figures")
    monkeypatch.setenv(FIGURES_ENV, str(tmp_path / "figures"))
    return folder, report.write(folder, tmp_path / "report" / "report.md")


def _metrics(folder):
    return json.loads((folder / "infection" / "metrics.json").read_text())


def test_render_is_deterministic_and_names_no_absolute_path(results, tmp_path):
    moved = shutil.copytree(results, tmp_path / "elsewhere")
    text = render(results)
    assert render(moved) == text
    assert str(results.parent) not in text and str(tmp_path) not in text


def test_render_fills_every_placeholder_from_the_results(results):
    text = render(results)
    lung = json.loads((results / "metrics.json").read_text())["metrics"]["lung"]["all"]
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
    (folder / "infection" / "metrics.json").write_text(json.dumps(metrics))
    problems = check(folder, path)
    assert any("metrics.json: lung Normal dice_imagewise" in p for p in problems), problems


def test_check_catches_a_dice_below_its_iou_planted_in_per_image_csv(project):
    folder, path = project
    table = pd.read_csv(folder / "infection" / "per_image.csv")
    table.loc[0, "lung_iou"] = table.loc[0, "lung_dice"] + 0.1
    table.to_csv(folder / "infection" / "per_image.csv", index=False)
    problems = check(folder, path)
    assert (f"{folder}/infection/per_image.csv: {table.loc[0, 'image']} ({table.loc[0, 'cls']}) "
            f"lung_dice {table.loc[0, 'lung_dice']} < lung_iou {table.loc[0, 'lung_iou']}"
            in problems)


def figure(path, name):
    return path.parent.parent / "figures" / f"{name}_infection.png"


def test_check_catches_a_missing_figure(project):
    folder, path = project
    figure(path, "04_severity").unlink()
    assert check(folder, path) == ["linked figure ../figures/04_severity_infection.png is "
                                   "missing; draw it again with `practical3 draw` (or "
                                   "`make figures`)"]


def test_check_catches_an_empty_figure(project):
    folder, path = project
    figure(path, "04_severity").write_bytes(b"")
    [problem] = check(folder, path)
    assert "04_severity_infection.png is empty" in problem


def test_check_catches_a_file_that_is_not_a_png(project):
    folder, path = project
    figure(path, "04_severity").write_text("a figure, honestly")
    [problem] = check(folder, path)
    assert "04_severity_infection.png is not a PNG" in problem


def test_check_catches_one_figure_copied_over_another(project):
    folder, path = project
    shutil.copyfile(figure(path, "04_dice_distributions"), figure(path, "04_severity"))
    [problem] = check(folder, path)
    assert "04_severity_infection.png holds figure '04_dice_distributions_infection'" in problem


def test_check_catches_a_figure_drawn_from_other_results(project, tmp_path):
    folder, path = project
    other = shutil.copytree(folder / "infection", tmp_path / "other")
    table = pd.read_csv(other / "per_image.csv")
    table.loc[0, "pred_area_lung"] += 1
    table.to_csv(other / "per_image.csv", index=False)
    draw_all(other, out_dir=path.parent.parent / "figures", model_and_data=False)
    problems = check(folder, path)
    stale = [p for p in problems if "was drawn from other results" in p]
    assert len(stale) == 4 and all(str(folder / "infection") in p for p in stale)


def test_a_figure_of_the_same_run_says_what_differs_not_the_run_twice(project, tmp_path):
    folder, path = project
    run_id = _metrics(folder)["run_id"]
    per_image = folder / "infection" / "per_image.csv"
    per_image.write_text(per_image.read_text() + "\n")  # same run, other bytes: a changed file
    stale = [p for p in check(folder, path) if "was drawn from other results" in p]
    assert stale and all("of the same run: a results file in " in p and run_id not in p
                         for p in stale)


def test_check_recomputes_a_figures_pixels_so_copied_provenance_fails(project):
    folder, path = project
    genuine = figure(path, "04_severity")
    with Image.open(genuine) as image:
        text = dict(image.text)
    info = PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    Image.new("RGBA", (64, 64), "white").save(genuine, pnginfo=info)  # another image, same text
    [problem] = check(folder, path)
    assert problem.startswith("linked figure ../figures/04_severity_infection.png: its pixels "
                              "are not the ones its provenance records")


def test_text_from_the_copy_cannot_add_markdown_to_the_report(project):
    folder, path = project
    metrics = _metrics(folder)
    metrics["data"] |= {"label": "Data: x | y [click](http://e.vil) <img src=e onerror=f()>",
                        "note": "Prose.\n# Injected heading\n\n<script>alert(1)</script>"}
    (folder / "infection" / "metrics.json").write_text(json.dumps(metrics))
    report.write(folder, path)
    text = path.read_text()
    assert "Injected" in text and not re.search(r"^#+ Injected", text, re.MULTILINE)
    assert "<img" not in text and "<script>" not in text and "[click](" not in text
    assert "Data: x \\| y" in text  # a pipe that cannot end a table cell
    assert not [p for p in check(folder, path) if "does not state the data source" in p]


def test_markdown_text_keeps_ordinary_text_and_emphasis():
    text = "3,728 real chest X-rays of **COVID-QU-Ex** (Kaggle `anasmohammedtahir/covidqu`)"
    assert markdown_text(text) == text
    assert markdown_text("1. one") == "1\\. one" and markdown_text("# x") == "\\# x"


def test_check_catches_results_files_of_different_runs(project):
    folder, path = project
    history = pd.read_csv(folder / "infection" / "history.csv")
    history["run_id"] = "0123456789ab"
    history.to_csv(folder / "infection" / "history.csv", index=False)
    problems = check(folder, path)
    assert any("history.csv (epoch 1) is from run 0123456789ab" in p for p in problems)


def test_check_names_a_per_image_table_of_another_run(project):
    # a kill between evaluate's writes once left per_image.csv of one run beside metrics.json
    folder, path = project
    table = pd.read_csv(folder / "infection" / "per_image.csv", dtype={"run_id": str})
    table["run_id"] = "0123456789ab"
    table.to_csv(folder / "infection" / "per_image.csv", index=False)
    problems = check(folder, path)
    assert any(p.startswith(f"{folder / 'infection'}: per_image.csv ({len(table)} rows) is from "
                            "run 0123456789ab, metrics.json from run ") for p in problems)


@pytest.mark.parametrize("run_id", ["476866231e50", "000000000123"])
def test_a_run_id_that_reads_as_a_number_stays_an_id(results, tmp_path, run_id):
    folder = shutil.copytree(results, tmp_path / "results")
    for name in ("metrics.json", "run.json"):
        data = json.loads((folder / name).read_text())
        data["run_id"] = run_id
        if "checkpoint" in data:
            data["checkpoint"]["run_id"] = run_id
        (folder / name).write_text(json.dumps(data))
    for name in ("history.csv", "per_image.csv"):
        table = pd.read_csv(folder / name).assign(run_id=run_id)
        table.to_csv(folder / name, index=False)
    loaded = load(folder)
    assert list(loaded.history["run_id"].unique()) == [run_id]
    assert consistency(loaded) == []


def test_check_catches_an_evaluated_epoch_that_is_not_the_best(project):
    folder, path = project
    history = pd.read_csv(folder / "infection" / "history.csv")
    history = pd.concat([history, history.assign(epoch=2, val_score=history["val_score"] + 1)])
    history.to_csv(folder / "infection" / "history.csv", index=False)
    problems = check(folder, path)
    assert any("evaluates epoch 1, but the run's best epoch (best.pt) is 2" in p
               for p in problems)


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
    (folder / "infection" / "history.csv").unlink()
    [problem] = check(folder, path)
    assert "missing history.csv" in problem and "practical3 train" in problem


def test_the_template_types_no_result_by_hand():
    prose = report.default_template().read_text().split("\n## References", 1)[0]
    text = re.sub(r"\{\{.*?\}\}", "", prose, flags=re.DOTALL)
    assert re.findall(r"\d+\.\d+|\d+\s*%", text) == []


def test_the_report_links_every_figure_of_its_model(results):
    links = re.findall(r"!\[[^\]]*\]\(\.\./figures/([^)]+)\.png\)", render(results))
    assert sorted(links) == sorted(figure_names("infection"))


@pytest.mark.parametrize(("placeholder", "message"), [
    ("{{ lung.metrics.lung.all.dice }}", "no 'dice' in the results"),
    ("{{ lung.metrics.lung.all.dice_imagewise }}", "needs a formatter"),
    ("{{ lung.metrics.lung.all.dice_imagewise | percent }}", "unknown format 'percent'"),
    ("{{ table:nothing }}", "no such table"),
    ("{{ table:nothing:lung }}", "no such model table"),
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


@pytest.mark.parametrize("name", COMMITTED_PLACES)
def test_each_committed_report_agrees_with_its_committed_results(name):
    """What a grader runs: `practical3 report --check` on the repository as submitted."""
    place = report_place(name)
    if not place.results.is_dir():
        pytest.skip(f"no {name} report is committed")
    assert report.check(place.results, place.report, figures=place.figures) == []


def test_the_real_and_twin_reports_are_committed():
    assert report_place("real").report.is_file() and report_place("twin").report.is_file()


def test_a_comparison_on_the_same_real_data_is_a_checked_table(project, data):
    folder, path = project
    compare(data, profile("smoke").replace(epochs=1), {"model": ["unet", "unetpp"]}, [0],
            folder / "comparison")
    assert "Architectures compared" not in render(folder)  # synthetic data: left out
    metrics = _metrics(folder)
    metrics["data"]["kind"] = "real"  # as if the same copy were real X-rays
    (folder / "infection" / "metrics.json").write_text(json.dumps(metrics))
    text = render(folder)
    assert "### Architectures compared" in text and "| unetpp |" in text
    path.write_text(text)
    assert not any("comparison.json" in p for p in check(folder, path))
    comparison = json.loads((folder / "comparison" / "comparison.json").read_text())
    comparison["rows"][0]["lung_dice_imagewise"]["mean"] = 0.5
    (folder / "comparison" / "comparison.json").write_text(json.dumps(comparison))
    assert any("comparison.json: row {'model': 'unet'} lung_dice_imagewise" in p
               for p in check(folder, path))


# --- every figure in the folder is the report's ------------------------------------------------

def _unlinked(path, name: str, run_id: str = "", inputs: str = "") -> None:
    """A figure beside the report's, unlinked, with the given provenance."""
    fig = plt.figure()
    save_figure(fig, name, "label", path.parent.parent / "figures", run_id=run_id,
                inputs_sha256=inputs)
    plt.close(fig)


def test_figures_of_the_reports_data_and_model_pass_unlinked(project):
    folder, path = project
    metrics = _metrics(folder)
    fingerprint = metrics["data"]["copy_fingerprint"]
    _unlinked(path, "01_counts", inputs=fingerprint)
    _unlinked(path, "02_feature_maps",
              inputs=figure_inputs(fingerprint, metrics["checkpoint"]["config"]))
    assert check(folder, path) == []


def test_check_catches_an_unlinked_figure_of_other_data(project):
    folder, path = project
    _unlinked(path, "01_counts", inputs="f" * 64)  # a pipeline killed after redrawing EDA
    [problem] = check(folder, path)
    assert problem.startswith(f"{path.parent.parent / 'figures' / '01_counts.png'}: drawn from "
                              "other data than this report's")


def test_check_catches_an_untrained_model_figure_of_other_settings(project):
    folder, path = project
    metrics = _metrics(folder)
    other = {**metrics["checkpoint"]["config"], "base_channels": 64}
    _unlinked(path, "02_feature_maps",
              inputs=figure_inputs(metrics["data"]["copy_fingerprint"], other))
    [problem] = check(folder, path)
    assert "02_feature_maps.png: drawn from other data than this report's" in problem


def test_check_catches_an_unlinked_figure_of_another_run(project):
    folder, path = project
    _unlinked(path, "03_learning_curves_lung", run_id="0123456789ab", inputs="a" * 64)
    [problem] = check(folder, path)
    assert "03_learning_curves_lung.png: drawn from other results (run 0123456789ab)" in problem


def test_check_catches_a_png_that_practical3_did_not_draw(project):
    folder, path = project
    shutil.copyfile(figure(path, "04_severity"), path.parent.parent / "figures" / "x.png")
    plt.imsave(path.parent.parent / "figures" / "x.png", [[0, 1]])
    [problem] = check(folder, path)
    assert "x.png: not a figure practical3 drew (no provenance)" in problem


# --- the report says only what its numbers support (issue 26) ------------------------------

def flat(text: str) -> str:
    """The text with its line breaks and indents as single spaces: sentences span lines."""
    return " ".join(text.split())


def _with_healthy_counts(folder, non_covid: tuple[int, int], normal: tuple[int, int]) -> None:
    metrics = _metrics(folder)
    for cls, (k, n) in (("Non-COVID", non_covid), ("Normal", normal)):
        metrics["metrics"]["infection"][cls].update(
            {"healthy_fp_rate": k / n, "n_images_empty_truth": n})
    (folder / "infection" / "metrics.json").write_text(json.dumps(metrics))


def test_more_false_infection_on_non_covid_is_a_finding_only_when_fishers_test_says_so(project):
    folder, _ = project
    _with_healthy_counts(folder, (7, 93), (2, 93))  # the audit's rates: Fisher p = 0.17
    text = flat(render(folder))
    assert "more false infection than Normal ones" not in text
    assert ("No evidence here that Non-COVID images get more of it than Normal ones "
            "(Fisher's exact test, p = 0.17)") in text
    assert "learnt" not in text  # no cause given as a fact
    _with_healthy_counts(folder, (30, 93), (2, 93))
    text = flat(render(folder))
    assert "Non-COVID images get more false infection than Normal ones (Fisher's exact test, p"\
        in text
    assert "One possible reason, not tested here" in text


def _with_covid_lesions(folder, dice_of_area, missed: int = 3) -> None:
    """30 COVID-19 test images, areas 100 to 3,000 px, the Dice ``dice_of_area(area)``; the
    ``missed`` smallest get no predicted infection."""
    table = pd.read_csv(folder / "infection" / "per_image.csv")
    covid = table[table["cls"] == "COVID-19"].iloc[[0] * 30].reset_index(drop=True)
    covid["image"] = [f"lesion_{i}.png" for i in range(30)]
    covid["true_area_infection"] = range(100, 3100, 100)
    areas = range(100 * missed + 100, 3100, 100)
    covid["pred_area_infection"] = [0] * missed + list(areas)
    covid["infection_dice"] = [0.0] * missed + list(map(dice_of_area, areas))
    covid["infection_iou"] = covid["infection_dice"] / (2 - covid["infection_dice"])
    pd.concat([table[table["cls"] != "COVID-19"], covid]).to_csv(
        folder / "infection" / "per_image.csv", index=False)


def test_dice_rising_with_lesion_size_is_a_finding_with_its_test_and_its_misses(project):
    folder, _ = project
    _with_covid_lesions(folder, lambda area: area / 4000)
    text = flat(render(folder))
    assert ("the Dice of an image rises with the size of its lesion (Spearman's rank "
            "correlation") in text
    assert "because a few pixels of border error" not in text
    assert "In the smallest third, 3 of 10 images get no predicted infection at all" in text
    assert "| 100 to 1,000 | 10 |" in text and "missed entirely (no infection predicted)" in text
    rng = pd.Series(range(30)).sample(frac=1, random_state=0).to_numpy()
    _with_covid_lesions(folder, lambda area: 0.5 + 0.01 * rng[area // 100 - 1], missed=0)
    text = flat(render(folder))
    assert "rises with the size" not in text
    assert "no evidence here that the Dice of an image depends on the size" in text


def test_a_tiny_test_split_states_no_finding(results):
    text = flat(render(results))
    assert "more false infection than Normal ones" not in text
    assert "rises with the size of its lesion" not in text
    assert "no test possible" in text or "No evidence here" in text


def test_the_abstract_and_conclusion_cover_lungs_infection_and_severity(results):
    text = render(results)
    abstract = flat(text.split("## Abstract", 1)[1].split("\n## ", 1)[0])
    conclusion = flat(text.split("## Conclusion", 1)[1].split("\n## ", 1)[0])
    for part in (abstract, conclusion):
        assert "lung" in part and "infection" in part and "severity" in part
        assert "missed entirely" in part or "misses the infection entirely" in part
    assert "Pooled over the pixels of the COVID-19 images" in abstract  # pooled second


def test_the_severity_table_shows_agreement_not_only_association(results):
    text = render(results)
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    for name in ("bias: mean of predicted - true", "limits of agreement: lower",
                 "limits of agreement: upper", "is the bias 0?",
                 "Pearson r (association, not agreement)"):
        assert any(row.startswith(f"| {name}") for row in rows), name


def test_rates_carry_exact_intervals_and_a_rate_nobody_can_have_is_not_applicable(results):
    metrics = json.loads((results / "metrics.json").read_text())["metrics"]
    infection = metrics["infection"]["all"]
    assert infection["healthy_fp_rate_ci95_method"] == "Clopper-Pearson"
    text = render(results)
    lung_rows = [line for line in text.splitlines()
                 if re.match(r"\| lung \| (COVID-19|Non-COVID|Normal|all classes) \|", line)]
    assert lung_rows and all(row.split(" | ")[-1] == "not applicable |" for row in lung_rows)
    assert "healthy FP rate [exact 95 % CI]" in text and "Clopper" in text


def test_post_processing_gains_are_dice_points_in_a_named_column():
    from practical3.report.tables import MODEL_TABLES

    model = {"metrics": {"lung": {}, "infection": {}}, "postprocessing": {"selection": {
        "trials": [{"steps": "none", "score": 0.805, "kept": True},
                   {"steps": "keep_two_lungs", "score": 0.8056, "gain": 4.5e-4,
                    "gain_standard_error": 2.9e-4, "kept": False},
                   {"steps": "fill_lung_holes", "score": 0.805, "gain": -1e-7,
                    "gain_standard_error": 1e-7, "kept": False}]}}}
    table = MODEL_TABLES["selection"](model)
    assert "mean of the lung and infection imagewise Dice on Val" in table
    assert "| keep_two_lungs | 0.806 | +0.04 | 0.03 | dropped |" in table
    assert "-0.00" not in table and "| +0.00 |" in table


def test_the_reference_sets_the_paper_beside_each_averaging_rule(results):
    from practical3.evaluation.results import load_parts
    from practical3.report.context import context
    from practical3.report.tables import TABLES

    ctx = context(load_parts(results))
    ctx["covidqu"] = True  # as on real COVID-QU-Ex
    table = TABLES["reference"](ctx)
    for rule in ("COVID-19 images only: per image", "COVID-19 images only: pooled pixels",
                 "all images: pooled pixels", "averaging not stated"):
        assert rule in table, rule


def test_a_measured_seed_spread_is_shown_beside_the_headline_numbers(project):
    folder, _ = project
    metrics = _metrics(folder)
    value = metrics["metrics"]["lung"]["all"]["dice_imagewise"]
    spread = {"measured": {"seeds": [0, 1, 2], "machine": "a test machine"},
              "parts": {"infection": {"run_ids": {"0": metrics["run_id"]}, "numbers": {
                  "lung all dice_imagewise": {"values": [value, 0.5, 0.6], "mean": 0.6,
                                              "sd": 0.1}}}}}
    assert "Not measured for this run" in render(folder)
    (folder.parent / "training_spread.json").write_text(json.dumps(spread))
    text = render(folder)
    assert "| lung Dice, imagewise, all images |" in text
    assert "mean ± SD over seeds 0, 1, 2" in text and "60.00 % ± 10.00 %" in text
    limitations = flat(text.split("## Limitations", 1)[1])
    assert "spread over seeds 0, 1 and 2 covers the training's randomness" in limitations
    spread["parts"]["infection"]["run_ids"] = {"0": "another-run"}
    (folder.parent / "training_spread.json").write_text(json.dumps(spread))
    assert "Not measured for this run" in render(folder)  # a spread of other runs is not shown


def test_near_duplicates_are_counted_listed_and_scored_without(project):
    folder, _ = project
    metrics = _metrics(folder)
    assert metrics["near_duplicates"]["split"] == "Test"
    image = pd.read_csv(folder / "infection" / "per_image.csv")["image"].iloc[0]
    metrics["near_duplicates"]["pairs"] = [{"image": image, "cls": "COVID-19", "match": "x.png",
                                            "match_split": "Train", "correlation": 0.995}]
    (folder / "infection" / "metrics.json").write_text(json.dumps(metrics))
    text = flat(render(folder))
    assert "1 of the" in text and "images have a near-duplicate there" in text
    assert f"| {image} | COVID-19 | x.png | Train | 0.995 |" in render(folder)
    assert "Without them, the lungs' imagewise Dice is" in text
    assert "1 Test images have a near-duplicate film in Train or Val" in text


# --- intervals only where they mean something ----------------------------------------------

def test_a_score_of_too_few_images_prints_n_too_small(results):
    text = render(results)
    assert "(n too small)" in text and "*n too small*: fewer than 10 images" in text
    assert not re.search(r"\[(\d+\.\d+), \1\]", text)  # no zero-width interval anywhere


def test_a_score_that_is_zero_by_construction_prints_what_it_is():
    scores = {"dice_imagewise": 0.0, "dice_imagewise_ci95": None,
              "dice_imagewise_ci95_note": ZERO_BY_CONSTRUCTION}
    assert with_interval(scores, "dice_imagewise") == "0 by construction"
    assert with_interval({"d": 0.5, "d_ci95": [0.4, 0.6]}, "d") == "50.00 % [40.00, 60.00]"
