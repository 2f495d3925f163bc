"""Project hygiene: one dependency list, pinned; notebooks without outputs; a cheap import."""

import functools
import importlib.util
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# .ci/pin.py writes the pins; its name mapping (conda-forge <-> PyPI) is the one used here
_spec = importlib.util.spec_from_file_location("pin", ROOT / ".ci" / "pin.py")
pin = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pin)


def _name(requirement: str) -> str:
    return pin.normalize(re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0])


def _direct_dependencies() -> set[str]:
    """The PyPI names pyproject.toml asks for, extras included."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for extra in project["optional-dependencies"].values() for r in extra]
    return {_name(r) for r in project["dependencies"] + extras}


def _environment() -> dict[str, str]:
    """The conda packages of environment.yml and their versions ('' where none is given)."""
    packages = (ROOT / "environment.yml").read_text().split("dependencies:", 1)[1]
    return dict(re.findall(r"^  - ([A-Za-z][^:=\s]*)(?:=(\S+))?$", packages, re.MULTILINE))


def _locked() -> dict[str, str]:
    return pin.pins(pin.CONSTRAINTS.read_text())


@functools.cache
def _make_setup() -> str:
    """What `make setup` would run, and make's database of rules (a dry run: nothing runs)."""
    return subprocess.run(["make", "-pnB", "setup"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout


def _pip_installs() -> list[str]:
    return re.findall(r"^\S+/pip install .*$", _make_setup(), re.MULTILINE)


def test_environment_yml_names_the_packages_of_pyproject():
    pypi = {pin.CONDA_NAMES.get(name, name) for name in _direct_dependencies()}
    assert set(_environment()) - pin.CONDA_ONLY == pypi
    assert "\n      - -e .\n" in (ROOT / "environment.yml").read_text()


def test_environment_yml_pins_the_versions_of_the_constraints():
    conda = {name: v for name, v in _environment().items() if name not in pin.CONDA_ONLY}
    pinned = {_name(pin.PYPI_NAMES.get(name, name)): v for name, v in conda.items()}
    locked = _locked()
    assert pinned == {name: locked.get(name) for name in pinned}, "run `make pin`"


def test_every_direct_dependency_is_pinned_in_the_constraints():
    assert _direct_dependencies() - set(_locked()) == set(), "run `make pin`"


def test_make_setup_installs_with_the_constraints():
    installs = _pip_installs()
    assert len(installs) == 2
    assert all(" -c .ci/constraints.txt " in line for line in installs)
    stamp = re.search(r"^\S+/\.installed-stamp: (.*)$", _make_setup(), re.MULTILINE)
    assert ".ci/constraints.txt" in stamp[1].split()


def test_the_torch_pins_of_the_makefile_are_the_locked_versions():
    pins = {_name(name): v for name, v in re.findall(r"(\S+)==(\S+)", " ".join(_pip_installs()))}
    locked = _locked()
    assert set(pins) == {"torch", "torchvision"}
    assert pins == {name: locked[name] for name in pins}, "run `make pin`"


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
    code = ("import sys, practical3, practical3.cli, practical3.data.download; "
            "bad = {'kaggle', 'kagglehub', 'torch'} & set(sys.modules); assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_readme_quick_start_is_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "make figures" in quick_start and "make test" in quick_start
