"""Pin the environment: a venv's `pip freeze` becomes .ci/constraints.txt, and environment.yml
takes its versions from that file. `make pin` runs `<throwaway venv>/bin/python .ci/pin.py
--freeze`; without --freeze only environment.yml is rewritten (run it with .venv/bin/python).
"""

import argparse
import platform
import re
import subprocess
import sys
from pathlib import Path

from practical3.base.atomic import write_text

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / ".ci" / "constraints.txt"
ENVIRONMENT = ROOT / "environment.yml"
# conda-forge names of PyPI packages, where they differ; conda-only packages stay as written
CONDA_NAMES = {"torch": "pytorch"}
PYPI_NAMES = {conda: pypi for pypi, conda in CONDA_NAMES.items()}
CONDA_ONLY = {"python", "pip"}
HEADER = """\
# Every package of the venv `make setup` builds, pinned: both of its pip calls use `-c` this file.
# Made by `make pin` (Python {python}, {system} {machine}): pyproject.toml with all its extras
# and the Makefile's TORCH_PINS installed unconstrained in a throwaway venv, whose
# `pip freeze --exclude-editable` .ci/pin.py writes here and copies to environment.yml.
# To update: change pyproject.toml or TORCH_PINS if needed, run `make pin`, review the diff.
"""
# `  - name` or `  - name=version`: a package of environment.yml's conda list
CONDA_ENTRY = re.compile(r"^(  - )([A-Za-z][\w.-]*)(=\S+)?$", re.MULTILINE)


def normalize(name: str) -> str:
    """The PEP 503 form of a package name: `PyYAML` is `pyyaml`, `jupyter_core` `jupyter-core`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def freeze() -> str:
    """This interpreter's packages as `name==version` lines, the editable project left out."""
    out = subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
                         check=True, capture_output=True, text=True).stdout
    lines = [line for line in out.splitlines() if line and not line.startswith("#")]
    unpinned = [line for line in lines if "==" not in line]
    if unpinned:
        sys.exit(f"pip freeze gave requirements without a version: {unpinned}; "
                 "install those packages from the package registry, then rerun `make pin`")
    system, machine = platform.system(), platform.machine()
    header = HEADER.format(python=platform.python_version(), system=system, machine=machine)
    return header + "\n".join(lines) + "\n"


def pins(constraints: str) -> dict[str, str]:
    """The version of each package of a constraints file, by normalized name."""
    lines = [line for line in constraints.splitlines() if not line.startswith("#")]
    pairs = (line.split("==", 1) for line in lines if "==" in line)
    return {normalize(name): version.strip() for name, version in pairs}


def pin_environment(environment: str, locked: dict[str, str]) -> str:
    """environment.yml with every dependency but python and pip set to `name=<locked version>`."""

    def pin(entry: re.Match) -> str:
        indent, name = entry[1], entry[2]
        if name in CONDA_ONLY:
            return entry[0]
        version = locked.get(normalize(PYPI_NAMES.get(name, name)))
        if version is None:
            sys.exit(f"environment.yml names {name} but {CONSTRAINTS} does not pin it: add it "
                     "to pyproject.toml (or remove it from environment.yml), then `make pin`")
        return f"{indent}{name}={version}"

    channels, packages = environment.split("dependencies:", 1)
    return channels + "dependencies:" + CONDA_ENTRY.sub(pin, packages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--freeze", action="store_true",
                        help=f"first write this interpreter's pip freeze to {CONSTRAINTS}")
    if parser.parse_args().freeze:
        write_text(CONSTRAINTS, freeze())
    locked = pins(CONSTRAINTS.read_text())
    write_text(ENVIRONMENT, pin_environment(ENVIRONMENT.read_text(), locked))


if __name__ == "__main__":
    main()
