"""Project hygiene: one dependency list, notebooks committed without outputs, a cheap import."""

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names of PyPI packages, where they differ
CONDA_NAMES = {"torch": "pytorch"}
CONDA_ONLY = {"python", "pip"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_names_the_packages_of_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [
        r for extra in project["optional-dependencies"].values() for r in extra
    ]
    pypi = {CONDA_NAMES.get(_name(r), _name(r)) for r in requirements}
    dependencies = (ROOT / "environment.yml").read_text().split("dependencies:", 1)[1]
    lines = dependencies.splitlines()
    conda = {_name(line[4:]) for line in lines if re.match(r"^  - [A-Za-z][^:]*$", line)}
    assert conda - CONDA_ONLY == pypi
    assert "      - -e ." in lines


NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.name for n in NOTEBOOKS])
def test_notebooks_are_committed_without_outputs(notebook: Path):
    cells = json.loads(notebook.read_text())["cells"]
    for number, cell in enumerate(cells):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, (
                f"{notebook.name} cell {number} holds outputs: clear them "
                "(Kernel > Restart & Clear Output, or `jupyter nbconvert --clear-output`)")


def test_notebooks_are_numbered_and_start_with_a_title():
    assert [n.name[:3] for n in NOTEBOOKS] == [f"{i:02d}_" for i in range(1, len(NOTEBOOKS) + 1)]
    for notebook in NOTEBOOKS:
        first = json.loads(notebook.read_text())["cells"][0]
        assert first["cell_type"] == "markdown" and "".join(first["source"]).startswith("# ")


def test_importing_the_package_loads_no_kaggle_client_and_no_torch():
    code = ("import sys, practical3, practical3.cli, practical3.download; "
            "bad = {'kaggle', 'kagglehub', 'torch'} & set(sys.modules); assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_readme_quick_start_is_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "make figures" in quick_start and "make test" in quick_start
