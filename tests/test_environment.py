"""The environment: every PRACTICAL3_* variable named in one module, read there at call time,
checked, documented; nothing in the package writes one except the notebooks' platform setup."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from practical3.base import paths
from practical3.base.errors import ConfigError, OutputError
from practical3.cli import main

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "practical3"
VARIABLE = re.compile(r"PRACTICAL3_[A-Z0-9_]+")
# Writing the environment is the notebooks' platform setup's job (it configures the kernel);
# the Kaggle clients read their own variables (credentials, KAGGLEHUB_CACHE).
MAY_WRITE = {"practical3/platforms.py", "practical3/data/download.py"}
WRITE = re.compile(r"os\.environ\[[^]]+\]\s*=[^=]|os\.environ\.(update|setdefault|pop)\(|"
                   r"os\.putenv|environ\.__setitem__")


def sources() -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8")
            for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_variable_is_named_in_one_module_only():
    """A string that is a variable's name (a docstring that mentions one is no name)."""
    naming = {path for path, text in sources().items() for node in ast.walk(ast.parse(text))
              if isinstance(node, ast.Constant) and isinstance(node.value, str)
              and VARIABLE.fullmatch(node.value)}
    assert naming == {"practical3/base/paths.py"}


def test_nothing_but_the_platform_setup_writes_the_environment():
    writes = [f"{path}:{n}" for path, text in sources().items() if path not in MAY_WRITE
              for n, line in enumerate(text.splitlines(), 1) if WRITE.search(line)]
    assert writes == []


def test_download_writes_only_the_kaggle_clients_variables():
    text = (PACKAGE / "data" / "download.py").read_text(encoding="utf-8")
    written = {line.strip() for line in text.splitlines() if WRITE.search(line)}
    assert all("KAGGLE" in line for line in written)


def test_docs_environment_lists_every_variable():
    named = {value for name, value in vars(paths).items() if name.endswith("_ENV")}
    table = (ROOT / "docs" / "environment.md").read_text(encoding="utf-8")
    assert set(re.findall(r"^\| `(PRACTICAL3_[A-Z_]+)` \|", table, re.MULTILINE)) == named
    assert set(re.findall(r"``(PRACTICAL3_[A-Z_]+)``", paths.__doc__)) == named


def test_a_tilde_is_the_home_folder_not_a_folder_called_tilde(tmp_path, monkeypatch):
    """Issue 28, item 6: before, PRACTICAL3_CACHE='~/x' made ./~/x in the current folder."""
    monkeypatch.setenv("HOME", str(tmp_path / "me"))
    monkeypatch.setenv(paths.CACHE_ENV, "~/x")
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    assert paths.cache_folder() == tmp_path / "me" / "x"
    assert list((tmp_path / "here").iterdir()) == []


def test_a_missing_home_is_named_and_not_created(tmp_path, monkeypatch, capsys):
    """Issue 28, item 6: before, PRACTICAL3_HOME=/nonexistent/x was created silently."""
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path / "nonexistent" / "x"))
    assert main(["report", "--check"]) == 1
    assert "$PRACTICAL3_HOME" in capsys.readouterr().err
    assert not (tmp_path / "nonexistent").exists()
    with pytest.raises(ConfigError, match=r"^\$PRACTICAL3_HOME=.*no such folder"):
        paths.project_root()


def test_a_runs_folder_that_cannot_be_one_is_named_not_blamed_on_out(data, tmp_path,
                                                                     monkeypatch, capsys):
    """Issue 28, item 6: before, the error blamed --out, an option pipeline does not have."""
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv(paths.RUNS_ENV, str(tmp_path / "a-file"))
    assert main(["pipeline", "--profile", "smoke", "--data", str(data), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "error: $PRACTICAL3_RUNS" in err and "--out" not in err
    with pytest.raises(OutputError, match=r"^\$PRACTICAL3_RUNS .*a file is in the way"):
        paths.runs_folder()


def test_the_command_line_run_elsewhere_writes_nothing_there(tmp_path):
    """Issue 28, item 4: before, `synth` wrote data/synthetic into the current folder (and the
    project root followed the current folder)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run([sys.executable, "-m", "practical3", "synth", "--per-class", "1",
                           "--size", "32", "--parts", "lung"], cwd=elsewhere,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert list(elsewhere.iterdir()) == []
    assert f"ready in {paths.data_dir() / 'synthetic'}" in done.stdout
