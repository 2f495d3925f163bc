"""practical3.platforms: each platform simulated under tmp_path; no network, no pip, no GPU."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from practical3 import platforms
from practical3.base import paths
from practical3.base.paths import project_root
from practical3.data import download as kaggle_download
from practical3.data.sources import COMPLETE_MARKER
from practical3.platforms import (
    LOCAL_LINE,
    NVIDIA_SMI,
    SetupError,
    SetupReport,
    detect,
    gpu_name,
    install,
    kaggle_credentials,
    kaggle_input,
    requirement_name,
    requirements,
    setup,
    workspace,
)

COLAB = {"google.colab": object()}
PIP = [sys.executable, "-m", "pip", "install", "--quiet"]
TOKEN = '{"username": "ada", "key": "k3y"}'
MARKERS = ("COLAB_RELEASE_TAG", "COLAB_GPU", "KAGGLE_KERNEL_RUN_TYPE", "KAGGLE_URL_BASE")
OUTPUTS = (paths.DATA_DIR_ENV, paths.RUNS_ENV, paths.CACHE_ENV, paths.FIGURES_ENV)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    """No platform marker, no practical3 folder, no Kaggle credential, an empty home; whatever
    a test's setup() exports is removed after it."""
    for name in (*MARKERS, *OUTPUTS, paths.DATA_ENV, "KAGGLE_USERNAME", "KAGGLE_KEY"):
        monkeypatch.setenv(name, "")  # recorded, so what setup() exports is undone after
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def recorder(gpu: str = "Tesla T4\n") -> tuple[list[list[str]], platforms.Runner]:
    """A runner that records each command and answers nvidia-smi with ``gpu``."""
    commands: list[list[str]] = []

    def runner(command):
        commands.append(list(command))
        return gpu if command[0] == "nvidia-smi" else ""

    return commands, runner


def refuse(command):
    raise AssertionError(f"ran {command}")


def kaggle_root(tmp_path: Path, attached: str | None = "covidqu/Infection Segmentation Data"):
    (tmp_path / "kaggle" / "working").mkdir(parents=True)
    if attached:
        (tmp_path / "kaggle" / "input" / attached).mkdir(parents=True)
    return tmp_path


# detect


def test_colab_is_detected_by_its_module(tmp_path):
    assert detect({}, COLAB, tmp_path) == "colab"


@pytest.mark.parametrize("marker", ["COLAB_RELEASE_TAG", "COLAB_GPU"])
def test_colab_is_detected_by_its_environment(marker, tmp_path):
    assert detect({marker: "1"}, {}, tmp_path) == "colab"


@pytest.mark.parametrize("marker", ["KAGGLE_KERNEL_RUN_TYPE", "KAGGLE_URL_BASE"])
def test_kaggle_is_detected_by_its_environment(marker, tmp_path):
    assert detect({marker: "Interactive"}, {}, tmp_path) == "kaggle"


def test_kaggle_is_detected_by_its_working_folder(tmp_path):
    assert detect({}, {}, kaggle_root(tmp_path, attached=None)) == "kaggle"


def test_anything_else_is_local(tmp_path):
    assert detect({"HOME": "/home/ada"}, {"google": object()}, tmp_path) == "local"


# folders


def test_each_platform_writes_in_its_own_kept_folder(tmp_path):
    assert workspace("colab", tmp_path) == tmp_path / "content"
    assert workspace("kaggle", tmp_path) == tmp_path / "kaggle" / "working"
    assert workspace("local", tmp_path) is None


def test_the_attached_copy_is_found_under_the_usual_slug(tmp_path):
    kaggle_root(tmp_path, "covidqu/Infection Segmentation Data/Infection Segmentation Data")
    assert kaggle_input(tmp_path) == tmp_path / "kaggle" / "input" / "covidqu"


def test_the_attached_copy_is_found_one_level_deeper_under_another_slug(tmp_path):
    kaggle_root(tmp_path, "my-covid-copy/archive/Lung Segmentation Data")
    assert kaggle_input(tmp_path) == tmp_path / "kaggle" / "input" / "my-covid-copy" / "archive"


def test_an_input_without_a_part_folder_is_not_the_dataset(tmp_path):
    kaggle_root(tmp_path, "other-dataset/images")
    assert kaggle_input(tmp_path) is None


# Kaggle credentials on Colab


def test_credentials_come_from_colab_secrets_first(tmp_path):
    (tmp_path / "kaggle.json").write_text(TOKEN)
    secrets = {"KAGGLE_USERNAME": "grace", "KAGGLE_KEY": "s3cret"}
    assert kaggle_credentials(secrets.get, [tmp_path / "kaggle.json"]) == secrets


def test_credentials_come_from_the_first_kaggle_json_when_secrets_are_not_granted(tmp_path):
    def not_granted(name):
        raise RuntimeError(f"{name} not granted")  # as google.colab.userdata does

    (tmp_path / "kaggle.json").write_text(TOKEN)
    files = [tmp_path / "absent" / "kaggle.json", tmp_path / "kaggle.json"]
    assert kaggle_credentials(not_granted, files) == {"KAGGLE_USERNAME": "ada",
                                                      "KAGGLE_KEY": "k3y"}


def test_no_credentials_anywhere_is_none(tmp_path):
    assert kaggle_credentials({}.get, [tmp_path / "kaggle.json"]) is None


def test_a_broken_kaggle_json_names_the_file_and_the_fix(tmp_path):
    (tmp_path / "kaggle.json").write_text('{"username": "ada"}')
    with pytest.raises(SetupError, match=r"kaggle\.json is not a Kaggle API token.*Create New"):
        kaggle_credentials({}.get, [tmp_path / "kaggle.json"])


# what pip would install


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "pyproject.toml").write_text(
        '[project]\nname = "practical3"\ndependencies = ["torch>=2.4", "torchvision>=0.19", '
        '"numpy>=1.26", "kaggle>=1.6", "Pillow>=10.0"]\n')
    return tmp_path / "repo"


PLATFORM = {"torch": "2.5.1+cu121", "torchvision": "0.20.1+cu121", "numpy": "2.0.2"}


def test_requirements_are_pyprojects_without_torch_and_torchvision(repo):
    assert requirements(repo) == ["numpy>=1.26", "kaggle>=1.6", "Pillow>=10.0"]


def test_the_projects_own_requirements_leave_only_torch_to_the_platform():
    project = tomllib.loads((project_root() / "pyproject.toml").read_text())["project"]
    every = {requirement_name(r) for r in project["dependencies"]}
    assert {requirement_name(r) for r in requirements(project_root())} == every - {"torch",
                                                                                 "torchvision"}
    assert {"torch", "torchvision", "kagglehub"} <= every


def test_pip_installs_the_repository_and_the_missing_dependencies_with_torch_pinned(repo):
    commands, pinned = [], []

    def runner(command):
        commands.append(list(command))
        if "-c" in command:
            pinned.append(Path(command[command.index("-c") + 1]).read_text())
        return ""

    install(repo, runner, installed=PLATFORM.get)
    constraints = commands[1][commands[1].index("-c") + 1]
    assert commands == [[*PIP, "--no-deps", "-e", str(repo)],
                        [*PIP, "-c", constraints, "kaggle>=1.6", "Pillow>=10.0"]]
    assert pinned == ["torch==2.5.1+cu121\ntorchvision==0.20.1+cu121\n"]


def test_a_read_only_repository_is_not_pip_installed(repo):
    commands, runner = recorder()
    install(repo, runner, editable=False, installed=PLATFORM.get)
    assert [command[:6] for command in commands] == [[*PIP, "-c"]]


def test_a_failing_pip_says_to_turn_the_internet_on(repo):
    def offline(command):
        raise subprocess.CalledProcessError(1, command, stderr="No matching distribution")

    with pytest.raises(SetupError, match=r"No matching distribution\nFix: .*Internet"):
        install(repo, offline, installed=PLATFORM.get)


# the GPU


def test_the_gpu_is_named_by_nvidia_smi():
    commands, runner = recorder("Tesla T4\n")
    assert gpu_name(runner) == "Tesla T4"
    assert commands == [list(NVIDIA_SMI)]


def test_kaggles_two_t4s_are_counted_and_all_used():
    assert gpu_name(recorder("Tesla T4\nTesla T4\n")[1]) == (
        "2 x Tesla T4, all used by start() (one training worker each)")


@pytest.mark.parametrize("error", [FileNotFoundError("nvidia-smi"),
                                   subprocess.CalledProcessError(9, "nvidia-smi")])
def test_no_nvidia_smi_or_no_driver_is_no_gpu(error):
    def runner(command):
        raise error

    assert gpu_name(runner) == "none"


# setup


def test_local_setup_does_nothing_and_says_so_in_one_line(tmp_path):
    before = dict(os.environ)
    report = setup(modules={}, root=tmp_path, runner=refuse)
    assert str(report) == LOCAL_LINE and "\n" not in LOCAL_LINE
    assert dict(os.environ) == before


def test_local_setup_imports_no_torch(tmp_path):
    code = ("import sys; from pathlib import Path; from practical3.platforms import setup; "
            f"setup(modules={{}}, root=Path({str(tmp_path)!r}), runner=None); "
            "assert 'torch' not in sys.modules and 'pandas' not in sys.modules")
    env = {k: v for k, v in os.environ.items() if k not in MARKERS}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_kaggle_setup_uses_the_attached_copy(tmp_path):
    commands, runner = recorder()
    report = setup(modules={}, root=kaggle_root(tmp_path), runner=runner)
    attached = tmp_path / "kaggle" / "input" / "covidqu"
    assert os.environ[paths.DATA_ENV] == str(attached)
    assert commands == [list(NVIDIA_SMI)]  # this venv already holds every dependency
    assert str(report).splitlines() == [
        "practical3 on Kaggle", "GPU: Tesla T4", f"data: {attached}",
        f"runs: {project_root() / 'runs'}"]


def test_kaggle_setup_on_t4_x2_reports_both_gpus(tmp_path):
    report = setup(modules={}, root=kaggle_root(tmp_path), runner=recorder("Tesla T4\n" * 2)[1])
    assert str(report).splitlines()[1] == (
        "GPU: 2 x Tesla T4, all used by start() (one training worker each)")


def test_kaggle_setup_without_the_dataset_says_how_to_attach_it(tmp_path):
    report = setup(modules={}, root=kaggle_root(tmp_path, attached=None), runner=recorder()[1])
    assert paths.DATA_ENV not in os.environ
    assert "Add Input > search 'covidqu'" in report.data


def test_a_read_only_repository_sends_runs_caches_and_figures_to_the_workspace(tmp_path,
                                                                             monkeypatch):
    monkeypatch.setattr(platforms, "is_writable", lambda folder: False)
    report = setup(modules={}, root=kaggle_root(tmp_path), runner=recorder()[1])
    working = tmp_path / "kaggle" / "working"
    assert [os.environ[n] for n in OUTPUTS] == [
        str(working / "data"), str(working / "runs"), str(working / "cache"),
        str(working / "figures")]
    assert report.runs == working / "runs"


def test_colab_setup_exports_an_uploaded_kaggle_json_and_downloads_nothing(tmp_path):
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "kaggle.json").write_text(TOKEN)
    report = setup(modules=COLAB, root=tmp_path, runner=recorder("")[1])
    assert (os.environ["KAGGLE_USERNAME"], os.environ["KAGGLE_KEY"]) == ("ada", "k3y")
    assert paths.DATA_ENV not in os.environ
    assert str(report).splitlines()[1:3] == [
        "GPU: none: Runtime > Change runtime type > T4 GPU, then rerun this cell",
        "data: synthetic twin; print(setup(download=True)) fetches COVID-QU-Ex (1 GB)"]


def test_colab_setup_downloads_into_content_when_asked(tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(kaggle_download, "download", lambda out: asked.append(out) or out)
    setup(download=True, modules=COLAB, root=tmp_path, runner=recorder()[1])
    assert asked == [tmp_path / "content" / "covidqu"]
    assert os.environ[paths.DATA_ENV] == str(tmp_path / "content" / "covidqu")


def test_colab_setup_finds_an_earlier_download(tmp_path):
    copy = tmp_path / "content" / "covidqu"
    copy.mkdir(parents=True)
    (copy / COMPLETE_MARKER).write_text("{}")
    assert setup(modules=COLAB, root=tmp_path, runner=recorder()[1]).data == str(copy)


def test_a_data_root_set_by_the_user_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.DATA_ENV, "/my/copy")
    report = setup(modules={}, root=kaggle_root(tmp_path), runner=recorder()[1])
    assert os.environ[paths.DATA_ENV] == "/my/copy"
    assert report.data == f"/my/copy (from ${paths.DATA_ENV})"


def test_the_report_prints_platform_gpu_data_and_runs():
    report = SetupReport("kaggle", "Tesla P100-PCIE-16GB", "/kaggle/input/covidqu",
                    Path("/kaggle/working/runs"))
    assert str(report) == ("practical3 on Kaggle\nGPU: Tesla P100-PCIE-16GB\n"
                           "data: /kaggle/input/covidqu\nruns: /kaggle/working/runs")
