"""The course notebooks as a student meets them: one setup cell in all four, objectives at the
top and a summary at the end, short cells without functions (but the ones an exercise asks the
student to write), exercises whose answer cells call their check, committed blank, and a
questionnaire. (nbval runs them; test_project checks they hold no outputs.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from practical3.course.exercises import EXERCISES
from practical3.course.functions import TASKS

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
IDS = [n.name for n in NOTEBOOKS]
MAX_LINES = 20  # a code cell's lines, blank and comment lines left out
HEADING = re.compile(r"^### Exercise (\d+\.\d+): (.+)$", re.MULTILINE)


def cells(notebook: Path, kind: str | None = None) -> list[str]:
    found = json.loads(notebook.read_text())["cells"]
    return ["".join(c["source"]) for c in found if kind in (None, c["cell_type"])]


def kinds(notebook: Path) -> list[str]:
    return [c["cell_type"] for c in json.loads(notebook.read_text())["cells"]]


def test_the_setup_cell_is_the_same_in_every_notebook():
    setups = {cells(n, "code")[0] for n in NOTEBOOKS}
    assert len(setups) == 1, "the notebooks' first code cells differ: copy one to all four"
    (setup,) = setups
    assert setup.startswith("# Setup") and len(setup.splitlines()) <= 18


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_objectives_at_the_top_and_a_summary_at_the_end(notebook):
    text = cells(notebook, "markdown")
    assert "**What you will learn**" in text[0] and re.search(r"(?i)\btime\b", text[0])
    summary = [i for i, t in enumerate(text) if "## Summary" in t]
    first_exercise = [i for i, t in enumerate(text) if HEADING.search(t)][0]
    assert summary and summary[0] <= first_exercise


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_code_cells_are_short_and_define_only_what_an_exercise_asks(notebook):
    """No function or class is defined in a notebook, except in an answer cell of a
    write-the-function exercise, where the student writes it."""
    for source in cells(notebook, "code"):
        lines = [line for line in source.splitlines()
                 if line.strip() and not line.strip().startswith("#")]
        assert len(lines) <= MAX_LINES, f"{notebook.name}: a cell of {len(lines)} lines"
        defines = [line for line in lines if line.startswith(("def ", "class "))]
        asked = re.search(r'check_exercise\("(\d\.\d)"', source)
        assert not defines or (asked and asked.group(1) in TASKS), (notebook.name, defines)
        assert not any(line.startswith((" def ", "  def ")) for line in lines)


def test_at_least_four_exercises_ask_for_a_function_each_checked_in_its_cell():
    written = [s for n in NOTEBOOKS for s in cells(n, "code")
               if "check_exercise" in s and re.search(r"^(def|class) \w+", s, re.MULTILINE)]
    assert len(written) == len(TASKS) >= 4


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_each_notebook_ends_with_a_questionnaire(notebook):
    """(Its answers, in the instructor's copy only, are held to it by test_release.)"""
    import nbformat

    from practical3.grading.release import questions

    position, asked = questions(nbformat.read(notebook, as_version=4))
    assert position == len(cells(notebook)) - 1 and len(asked) >= 4


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_every_exercise_has_a_blank_answer_cell_that_checks_it(notebook):
    found = json.loads(notebook.read_text())["cells"]
    number = int(notebook.name[:2])
    keys = []
    for i, cell in enumerate(found):
        match = HEADING.search("".join(cell["source"])) if cell["cell_type"] == "markdown" else None
        if not match:
            continue
        key, title = match.groups()
        keys.append(key)
        assert key in EXERCISES and EXERCISES[key].title == title.strip(), key
        answer = "".join(found[i + 1]["source"])
        assert found[i + 1]["cell_type"] == "code" and "answer = None" in answer, key
        assert re.search(rf'check_exercise\("{re.escape(key)}", answer\b', answer), key
    assert 3 <= len(keys) <= 5
    assert keys == [f"{number}.{m}" for m in range(1, len(keys) + 1)]


def test_every_exercise_of_the_package_is_in_a_notebook():
    text = "\n".join(t for n in NOTEBOOKS for t in cells(n, "markdown"))
    assert sorted(HEADING.findall(text)) == sorted((k, e.title) for k, e in EXERCISES.items())


def test_notebooks_write_figures_to_runs_never_to_figures():
    for notebook in NOTEBOOKS:
        for source in cells(notebook, "code"):
            for line in source.splitlines():
                if "save_figure(" in line and "import" not in line:
                    assert "session.figures_dir" in line, f"{notebook.name}: {line}"
                if "draw_all(" in line and "import" not in line:
                    assert "out_dir=run_dir" in line, f"{notebook.name}: {line}"


def test_notebook_02_shows_the_package_source_of_the_blocks():
    code = "\n".join(cells(NOTEBOOKS[1], "code"))
    for shown in ("show_source(DoubleConv)", "show_source(Down)", "show_source(Up)",
                  "show_source(UNet.forward)"):
        assert shown in code


def test_notebook_03_has_its_own_visible_training_loop():
    code = "\n".join(cells(NOTEBOOKS[2], "code"))
    assert "DataLoader(" in code and "SegmentationDataset(" in code
    assert "loss.backward()" in code and "optimizer.step()" in code
    assert "ensure_trained(" in code
