"""The rendered copies of the notebooks (``docs/notebooks/``): run on real COVID-QU-Ex, linked
from the README and from each working notebook's first cell, holding the working notebooks'
own code with every cell run; and the command that renders them, run here on the twin."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from practical3.course.render import RENDERED_DIR, render, render_one
from practical3.training.profiles import profile

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
IDS = [n.name for n in NOTEBOOKS]
REAL = "real COVID-QU-Ex"


def code(notebook: nbformat.NotebookNode) -> list[str]:
    return [c.source for c in notebook.cells if c.cell_type == "code"]


def test_the_readme_links_the_rendered_copy_of_every_notebook():
    readme = (ROOT / "README.md").read_text()
    assert all(f"]({RENDERED_DIR.as_posix()}/{n.name})" in readme for n in NOTEBOOKS)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_each_notebook_links_its_rendered_copy_from_its_first_cell(notebook):
    first = nbformat.read(notebook, as_version=4).cells[0].source
    assert f"](../{RENDERED_DIR.as_posix()}/{notebook.name})" in first and REAL in first


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_each_rendered_copy_ran_the_notebooks_own_code_on_real_data(notebook):
    copy = nbformat.read(ROOT / RENDERED_DIR / notebook.name, as_version=4)
    heading = copy.cells[0].source
    assert f"run on {REAL}" in heading and "at the `laptop` profile" in heading
    assert code(copy) == code(nbformat.read(notebook, as_version=4)), (
        f"{notebook.name} changed since it was rendered: make notebooks-real DATA=...")
    ran = [c for c in copy.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in ran)
    outputs = [o for c in ran for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if o.output_type == "stream" and "\r" in o.text.rstrip()]


def test_render_writes_an_executed_copy_with_one_line_per_epoch(tmp_path):
    seconds = render(tmp_path, profile="smoke", names=["03"])
    assert list(seconds) == ["03_training.ipynb"]
    copy = nbformat.read(tmp_path / "03_training.ipynb", as_version=4)
    assert "run on SYNTHETIC phantoms" in copy.cells[0].source
    assert "](../../docs/notebooks/03_training.ipynb)" in copy.cells[1].source
    (training,) = [c for c in copy.cells if "ensure_trained(cfg" in c.source]
    printed = "".join(o.text for o in training.outputs if o.output_type == "stream")
    epochs = [line for line in printed.splitlines() if line.startswith("epoch ")]
    assert len(epochs) == profile("smoke").epochs
    others = [line for line in printed.splitlines() if line.strip() and line not in epochs]
    assert len(others) <= 2, others  # the precision used and the run folder


def test_render_gives_its_settings_to_the_kernel_not_to_this_process(tmp_path, monkeypatch):
    monkeypatch.delenv("PRACTICAL3_PROFILE", raising=False)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os\nprint(os.environ.get('PRACTICAL3_PROFILE'))")])
    nbformat.write(notebook, tmp_path / "99_env.ipynb")
    render_one(tmp_path / "99_env.ipynb", tmp_path / "out", "Data: a test", "smoke",
               settings={"PRACTICAL3_PROFILE": "smoke"})
    executed = nbformat.read(tmp_path / "out" / "99_env.ipynb", 4)
    assert executed.cells[1].outputs[0]["text"].strip() == "smoke"
    assert "PRACTICAL3_PROFILE" not in os.environ
