"""The README and docs/: a short front door whose links resolve, and every fact they show
(profiles, generated tables, measured numbers, notebook times) held to its one home."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from practical3.training.profiles import PROFILES, profile_table

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MAX_README_LINES = 200
LINK = re.compile(r"\]\(([^)\s]+)\)")

_spec = importlib.util.spec_from_file_location("docs_generator", ROOT / ".ci" / "docs.py")
generator = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generator)


def markdown_texts() -> list[tuple[str, str]]:
    """(where, text) of the README, every docs page and every notebook's Markdown cell."""
    texts = [(str(p.relative_to(ROOT)), p.read_text()) for p in [README, *DOCS]]
    for notebook in NOTEBOOKS:
        for i, cell in enumerate(json.loads(notebook.read_text())["cells"]):
            if cell["cell_type"] == "markdown":
                texts.append((f"{notebook.name} cell {i}", "".join(cell["source"])))
    return texts


def test_the_readme_is_a_front_door_of_at_most_200_lines():
    lines = len(README.read_text().splitlines())
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines: move a section to docs/"


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.name)
def test_every_relative_link_resolves(page):
    broken = [target for target in LINK.findall(page.read_text())
              if not re.match(r"[a-z]+:", target) and not target.startswith("#")
              and not (page.parent / target.split("#")[0]).exists()]
    assert broken == [], f"{page.name}: links to missing files {broken}"


def test_the_readme_links_every_docs_page():
    linked = {Path(target.split("#")[0]).name for target in LINK.findall(README.read_text())
              if target.startswith("docs/")}
    assert {p.name for p in DOCS} <= linked


def test_the_readme_shows_the_packages_profile_table():
    assert profile_table() in README.read_text()


SETTINGS = {"image_size": r"(\d+) ?px", "base_channels": r"base (\d+)",
            "epochs": r"(\d+) epochs", "batch_size": r"batch (\d+)"}


def test_every_line_that_names_one_profile_states_its_settings():
    """A line naming one profile (in backticks) with a size, base, epochs or batch states the
    profile's own values: no copy of a profile's settings can drift from training.profiles."""
    wrong = []
    for where, text in markdown_texts():
        for line in text.splitlines():
            named = [name for name in PROFILES if f"`{name}`" in line]
            if len(named) != 1:
                continue
            cfg = PROFILES[named[0]]
            wrong += [f"{where}: `{named[0]}` with {setting} {value}" for setting, rx in
                      SETTINGS.items() for value in re.findall(rx, line)
                      if int(value) != getattr(cfg, setting)]
    assert wrong == []


def test_the_stale_profile_values_of_a_line_are_caught(monkeypatch):
    monkeypatch.setitem(PROFILES, "demo", PROFILES["demo"].replace(epochs=99))
    with pytest.raises(AssertionError, match="`demo` with epochs 30"):
        test_every_line_that_names_one_profile_states_its_settings()


@pytest.mark.parametrize("path", list(generator.GENERATED), ids=lambda p: p.name)
def test_the_generated_documents_are_what_their_generator_prints(path):
    assert path.read_text() == generator.GENERATED[path](), "run `python .ci/docs.py`"


def test_each_notebooks_time_in_the_course_guide_is_the_measured_one():
    from practical3.course.timings import guide_time

    guide = (ROOT / "docs" / "course.md").read_text()
    for notebook in NOTEBOOKS:
        row = next(line for line in guide.splitlines() if f"| `{notebook.stem}` |" in line)
        assert row.split("|")[-2].strip() == guide_time(notebook.name[:2]), notebook.name


def test_no_notebook_page_types_a_time():
    """Times are printed from the package (course.timings, course.loop), never typed into a
    notebook's Markdown."""
    typed = [(notebook.name, line) for notebook in NOTEBOOKS
             for cell in json.loads(notebook.read_text())["cells"]
             if cell["cell_type"] == "markdown"
             for line in "".join(cell["source"]).splitlines()
             if re.search(r"\b\d+(?:\.\d+)? ?(?:s|seconds|minutes?)\b", line)]
    assert typed == []


def test_the_course_guide_states_the_loops_own_size():
    from practical3.course import loop

    guide = " ".join((ROOT / "docs" / "course.md").read_text().split())
    assert (f"the first {loop.TRAIN_IMAGES} Train images in batches of {loop.BATCH_SIZE}, "
            f"scoring the first {loop.VAL_IMAGES} Val images") in guide
    assert f"past {loop.LOOP_SECONDS:.0f} s" in guide


def test_the_course_guides_feedback_is_what_the_check_prints():
    from practical3.course.exercises import check_exercise

    guide = (ROOT / "docs" / "course.md").read_text()
    for answer in (None, 2448, 2512):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            check_exercise("2.1", answer)
        assert printed.getvalue().strip() in guide


def test_the_cpu_speed_figures_are_the_benchmarks_own():
    measured = json.loads((ROOT / "benchmarks" / "results" / "cpu-2-cores-2026-11-27.json")
                          .read_text())
    baseline, project = measured["paths"]
    page = (ROOT / "docs" / "performance.md").read_text()
    stated = (f"trains at {project['train_images_per_s']:.1f} images/s against "
              f"{baseline['train_images_per_s']:.1f}",
              f"evaluates at {project['eval_images_per_s']:.1f} against "
              f"{baseline['eval_images_per_s']:.1f}",
              f"{project['train_images_per_s'] / baseline['train_images_per_s']:.2f}x",
              f"{project['eval_images_per_s'] / baseline['eval_images_per_s']:.1f}x")
    assert [s for s in stated if s not in " ".join(page.split())] == []


def test_the_cpu_protocol_table_is_what_its_script_prints():
    """The real-data CPU protocol table: every candidate's Val scores and the winner's Test
    scores, printed from the committed results files."""
    printed = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "real_cpu_protocol.py"),
                              "table"], capture_output=True, text=True, check=True).stdout
    assert printed.strip() in (ROOT / "docs" / "experiments.md").read_text()
