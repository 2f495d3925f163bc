"""The Makefile's set-up and course targets, read through the commands make would run
(``make -n``): torch from the CPU index only when asked, the default unchanged."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="no make here")


def planned(*arguments: str) -> subprocess.CompletedProcess:
    """What ``make`` would run for ``arguments``, every target taken as out of date."""
    return subprocess.run(["make", "-n", "-B", *arguments], cwd=ROOT, capture_output=True,
                          text=True)


def pip_lines(*arguments: str) -> list[str]:
    return [line for line in planned(*arguments).stdout.splitlines() if "pip install" in line]


def test_setup_installs_the_cpu_build_of_torch_from_the_index_asked_for():
    torch, project = pip_lines("setup", f"TORCH_INDEX={CPU_INDEX}")
    assert f"--index-url {CPU_INDEX}" in torch and "torch==" in torch
    assert "--index-url" not in project and "-e '.[" in project  # the rest from PyPI


def test_setup_by_default_installs_torch_as_ci_does():
    assert all("--index-url" not in line for line in pip_lines("setup"))


def test_the_readme_shows_the_cpu_set_up():
    assert f"make setup TORCH_INDEX={CPU_INDEX}" in (ROOT / "README.md").read_text()


def test_the_real_notebooks_target_renders_into_docs_and_needs_the_data():
    (command,) = [line for line in planned("notebooks-real", "DATA=/copy").stdout.splitlines()
                  if "practical3.course.render" in line]
    assert command.endswith("docs/notebooks --data /copy --profile laptop")
    without = planned("notebooks-real")
    assert without.returncode != 0 and "DATA=/path/to/covidqu" in without.stderr
