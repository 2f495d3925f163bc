"""What a notebook or `make figures` starts from: the profile and why, the data, the folders."""

import json
from pathlib import Path

import pytest
import torch

from practical3.base import paths
from practical3.base.errors import ConfigError
from practical3.base.paths import DATA_ENV, HOME_ENV, PROFILE_ENV, find_project_root
from practical3.data import sources
from practical3.data.sources import SYNTHETIC_MARKER, describe
from practical3.session import choose_profile, default_data_root, explain_profile, start
from practical3.training import runs
from practical3.training.profiles import AUTO, profile


@pytest.mark.parametrize(("gpu", "real", "expected"), [
    (True, True, "full"), (True, False, "full"), (False, True, "laptop"), (False, False, "demo")])
def test_auto_follows_the_one_table(data, tmp_path, monkeypatch, gpu, real, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    copy = tmp_path / "real" if real else data
    copy.mkdir(exist_ok=True)
    cfg, why = explain_profile("auto", copy)
    assert cfg.profile == expected == AUTO[gpu, real][0]
    assert why == f"auto: {AUTO[gpu, real][1]}"


def test_the_run_folder_is_worked_out_once_at_start(data, monkeypatch):
    session = start("smoke", data=data)
    identity = runs.identify(session.cfg, data)
    assert session.run_dir.name == f"smoke-{session.cfg.part}-{identity.run_id}"
    monkeypatch.setattr(runs, "build_index", lambda *a, **k: pytest.fail("indexed again"))
    assert session.run_dir == session.run_dir


def test_named_profiles_are_kept_and_unknown_ones_refused(data):
    assert choose_profile("smoke", data).profile == "smoke"
    with pytest.raises(ConfigError, match="unknown profile"):
        choose_profile("huge", data)


def test_a_notebook_started_with_nothing_set_gets_auto_not_smoke(data, monkeypatch):
    monkeypatch.delenv(PROFILE_ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    session = start(data=data)
    assert session.cfg.profile == "demo" and session.reason.startswith("auto: no GPU")
    assert "start(\"NAME\")" in str(session) and "smoke" in str(session)


def test_the_environment_and_an_explicit_name_choose_the_profile(data, monkeypatch):
    monkeypatch.setenv(PROFILE_ENV, "smoke")
    assert start(data=data).cfg.profile == "smoke"
    assert start(data=data).reason == f"from ${PROFILE_ENV}"
    assert start("laptop", data=data).cfg.profile == "laptop"


def test_notebook_figures_never_go_to_the_committed_figures(data):
    session = start("smoke", data=data)
    assert session.figures_dir != paths.figures_dir()
    assert session.figures_dir.is_relative_to(paths.runs_dir())


def test_the_runs_folder_is_an_argument(data, tmp_path):
    session = start("smoke", data=data, runs=tmp_path / "mine")
    assert session.run_dir.parent == tmp_path / "mine"
    assert session.figures_dir.is_relative_to(tmp_path / "mine")


def test_default_data_root_prefers_real_data(tmp_path, monkeypatch):
    (tmp_path / "covidqu").mkdir()
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "covidqu"))
    assert default_data_root(profile("smoke")) == tmp_path / "covidqu"


def test_default_data_root_falls_back_to_the_profiles_twin(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.delenv("PRACTICAL3_DATA_DIR", raising=False)
    monkeypatch.setattr(paths, "project_root", lambda: tmp_path)
    monkeypatch.setattr(sources, "KAGGLE_INPUT", tmp_path / "no-kaggle")
    root = default_data_root(profile("smoke"))
    assert root == tmp_path / "data" / "synthetic-smoke"
    assert describe(root).kind == "synthetic"
    spec = profile("smoke").synth
    made_with = json.loads((root / SYNTHETIC_MARKER).read_text())
    assert (made_with["per_class"], made_with["size"]) == (spec.per_class, spec.size)
    assert default_data_root(profile("smoke")) == root  # reused, not rewritten


# --- the project root: the repository, never site-packages ----------------------------------

def checkout(folder):
    (folder / "practical3").mkdir(parents=True)
    (folder / "practical3" / "__init__.py").write_text("")
    (folder / "pyproject.toml").write_text("[project]\nname = 'practical3'\n")
    (folder / "notebooks").mkdir()
    return folder


def test_an_editable_install_uses_its_checkout(tmp_path):
    repo = checkout(tmp_path / "repo")
    assert find_project_root(repo / "practical3", tmp_path, {}) == repo


def test_a_site_packages_install_uses_the_checkout_the_notebook_runs_in(tmp_path):
    repo = checkout(tmp_path / "repo")
    installed = tmp_path / "venv" / "lib" / "site-packages" / "practical3"
    installed.mkdir(parents=True)
    assert find_project_root(installed, repo / "notebooks", {}) == repo
    assert find_project_root(installed, repo, {HOME_ENV: str(tmp_path)}) == tmp_path


def test_a_site_packages_install_outside_any_checkout_asks_for_a_home(tmp_path):
    installed = tmp_path / "venv" / "lib" / "site-packages" / "practical3"
    installed.mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"set \$PRACTICAL3_HOME"):
        find_project_root(installed, tmp_path, {})


def test_the_package_s_own_checkout_is_the_root_whatever_the_current_folder(tmp_path):
    """Issue 28, item 4: before, the root followed the current folder (base/ was handed in)."""
    assert paths.find_project_root(paths.PACKAGE_DIR, tmp_path, {}) == \
        Path(paths.__file__).resolve().parents[2]
