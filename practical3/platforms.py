"""The notebooks on Google Colab and Kaggle: detect the platform, install, find data and folders.

Locally ``setup`` does nothing. On Colab or Kaggle it pip-installs what the platform lacks,
never torch or torchvision (each ships its own CUDA build); points ``$PRACTICAL3_DATA`` at a
real copy; and, when the repository folder is read-only (a Kaggle input), sends runs, caches
and figures to the platform's writable folder (``/content``, ``/kaggle/working``). Configuring
the notebook's kernel is its job, so it is the one module that writes environment variables
(their names come from ``base.paths``).
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from practical3.base.errors import SetupError
from practical3.base.paths import (
    CACHE_ENV,
    DATA_DIR_ENV,
    DATA_ENV,
    FIGURES_ENV,
    RUNS_ENV,
    project_root,
    runs_dir,
    variable,
)
from practical3.data import layout
from practical3.data.sources import COMPLETE_MARKER

Runner = Callable[[Sequence[str]], str]

# The writable folder each notebook platform keeps, relative to the file-system root.
WORKSPACES = {"colab": Path("content"), "kaggle": Path("kaggle/working")}
NAMES = {"colab": "Google Colab", "kaggle": "Kaggle", "local": "this machine"}
PLATFORM_OWNED = ("torch", "torchvision")  # the platform's CUDA builds: never installed here
CREDENTIALS = ("KAGGLE_USERNAME", "KAGGLE_KEY")
NVIDIA_SMI = ("nvidia-smi", "--query-gpu=name", "--format=csv,noheader")
COPY_NAME = "covidqu"  # where a download goes inside the workspace
GPU_HINT = {"colab": "Runtime > Change runtime type > T4 GPU, then rerun this cell",
            "kaggle": "Settings > Accelerator > GPU, then rerun this cell"}
NO_DATA = {  # the data line when there is no real copy: the notebooks use the synthetic twin
    "colab": "synthetic twin; print(setup(download=True)) fetches COVID-QU-Ex (1 GB)",
    "kaggle": "synthetic twin; Add Input > search 'covidqu' > Add, then rerun this cell",
}
LOCAL_LINE = "practical3 on this machine: nothing to set up (`make setup` installs the project)"


@dataclass(frozen=True)
class SetupReport:
    """What ``setup`` found: its ``str`` is the few lines the setup cell prints."""

    platform: str
    gpu: str = ""
    data: str = ""
    runs: Path | None = None

    def __str__(self) -> str:
        if self.platform == "local":
            return LOCAL_LINE
        gpu = self.gpu if self.gpu != "none" else f"none: {GPU_HINT[self.platform]}"
        return "\n".join([f"practical3 on {NAMES[self.platform]}", f"GPU: {gpu}",
                          f"data: {self.data}", f"runs: {self.runs}"])


def run_command(command: Sequence[str]) -> str:
    """Run ``command``, return its stdout: the one door to pip and nvidia-smi (tests replace it).

    Raises OSError when the program is missing, CalledProcessError when it fails."""
    return subprocess.run(list(command), check=True, capture_output=True, text=True).stdout


def detect(environ: Mapping[str, str] = os.environ, modules: Mapping[str, object] = sys.modules,
           root: Path = Path("/")) -> str:
    """``"colab"``, ``"kaggle"`` or ``"local"``, from the markers each platform leaves."""
    if "google.colab" in modules or any(n in environ for n in ("COLAB_RELEASE_TAG", "COLAB_GPU")):
        return "colab"
    if any(n in environ for n in ("KAGGLE_KERNEL_RUN_TYPE", "KAGGLE_URL_BASE")):
        return "kaggle"
    return "kaggle" if (root / WORKSPACES["kaggle"]).is_dir() else "local"


def workspace(platform: str, root: Path = Path("/")) -> Path | None:
    """The platform's writable folder, kept with the notebook; None locally (nothing moves)."""
    return root / WORKSPACES[platform] if platform in WORKSPACES else None


def kaggle_input(root: Path = Path("/")) -> Path | None:
    """The COVID-QU-Ex attached with "Add Input": the first folder one or two levels under
    ``/kaggle/input`` that holds a part folder, whatever the input's slug."""
    base = root / "kaggle" / "input"
    for folder in [*sorted(base.glob("*")), *sorted(base.glob("*/*"))]:
        if any((folder / name).is_dir() for name in layout.PARTS.values()):
            return folder
    return None


def colab_secret(name: str) -> str | None:
    """A Colab secret; Colab raises when it is missing or not granted to the notebook."""
    from google.colab import userdata

    return userdata.get(name)


def kaggle_credentials(secret: Callable[[str], str | None],
                       files: Iterable[Path]) -> dict[str, str] | None:
    """KAGGLE_USERNAME and KAGGLE_KEY from ``secret``, else the first kaggle.json of ``files``;
    None when neither has them (kagglehub still downloads the public dataset)."""
    try:
        found = {name: secret(name) for name in CREDENTIALS}
    except Exception:  # Colab's own errors for a secret that is missing or not granted
        found = {}
    if found and all(found.values()):
        return found
    for path in files:
        if path.is_file():
            try:
                token = json.loads(path.read_text())
                return {"KAGGLE_USERNAME": token["username"], "KAGGLE_KEY": token["key"]}
            except (ValueError, KeyError, TypeError) as exc:
                raise SetupError(f"{path} is not a Kaggle API token ({exc!r}): replace it with a "
                                 "new kaggle.json from https://www.kaggle.com/settings (API, "
                                 "Create New Token)") from exc
    return None


def requirement_name(requirement: str) -> str:
    """The normalized distribution name of a requirement such as ``"kaggle>=1.6"``."""
    name = re.split(r"[<>=!~\[;@ ]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(repo: Path) -> list[str]:
    """The repository's ``[project] dependencies`` without torch and torchvision."""
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    return [r for r in project["dependencies"] if requirement_name(r) not in PLATFORM_OWNED]


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name``; None if it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def install(repo: Path, runner: Runner = run_command, editable: bool = True,
            installed: Callable[[str], str | None] = installed_version) -> None:
    """pip-install the repository (editable, unless read-only) and the dependencies not yet
    installed, with the installed torch and torchvision pinned so that none can replace them."""
    pip = [sys.executable, "-m", "pip", "install", "--quiet"]
    commands = []
    if editable and installed("practical3") is None:
        commands.append([*pip, "--no-deps", "-e", str(repo)])
    missing = [r for r in requirements(repo) if installed(requirement_name(r)) is None]
    pins = [f"{name}=={version}" for name in PLATFORM_OWNED if (version := installed(name))]
    with tempfile.TemporaryDirectory() as scratch:
        constraints = Path(scratch) / "constraints.txt"
        constraints.write_text("".join(f"{pin}\n" for pin in pins))
        if missing:
            commands.append([*pip, "-c", str(constraints), *missing])
        for command in commands:
            try:
                runner(command)
            except subprocess.CalledProcessError as exc:
                raise SetupError(f"`{' '.join(command)}` failed: {(exc.stderr or '').strip()}\n"
                                 "Fix: turn on the notebook's internet access (Kaggle: "
                                 "Settings > Internet) or settle pip's complaint above, then "
                                 "rerun the setup cell") from exc
    importlib.invalidate_caches()  # so this kernel imports what was just installed


def gpu_name(runner: Runner = run_command) -> str:
    """The GPUs ``nvidia-smi`` lists, alike ones counted (Kaggle's "2 x Tesla T4", which
    ``start()`` all trains on, docs/distributed.md), or ``"none"``."""
    try:
        names = [n.strip() for n in runner(NVIDIA_SMI).split("\n") if n.strip()]
    except (OSError, subprocess.CalledProcessError):
        return "none"
    alike = {name: names.count(name) for name in names}
    listed = ", ".join(f"{n} x {name}" if n > 1 else name for name, n in alike.items())
    if len(names) > 1:
        return f"{listed}, all used by start() (one training worker each)"
    return listed or "none"


def outputs(place: Path) -> dict[str, str]:
    """Data, runs, caches and figures under ``place``, as the environment variables paths.py
    reads."""
    return {DATA_DIR_ENV: str(place / "data"), RUNS_ENV: str(place / "runs"),
            CACHE_ENV: str(place / "cache"), FIGURES_ENV: str(place / "figures")}


def is_writable(folder: Path) -> bool:
    """True when files can be written in ``folder`` (False on a read-only Kaggle input)."""
    return os.access(folder, os.W_OK)


def setup(download: bool = False, *, modules: Mapping[str, object] = sys.modules,
          root: Path = Path("/"), runner: Runner = run_command) -> SetupReport:
    """Make the notebooks run here; locally do nothing at all.

    On Colab or Kaggle: install (see ``install``), Kaggle credentials into the environment
    (Colab), ``$PRACTICAL3_DATA`` (see ``find_data``; ``download`` fetches a copy when none is
    there), and runs, caches and figures in the workspace when the repository is read-only.
    """
    platform = detect(os.environ, modules, root)
    if platform == "local":
        return SetupReport("local")
    place = workspace(platform, root)
    repo = project_root()
    writable = is_writable(repo)
    install(repo, runner, editable=writable)
    if platform == "colab" and not all(os.environ.get(name) for name in CREDENTIALS):
        files = [place / "kaggle.json", Path.home() / ".kaggle" / "kaggle.json"]
        os.environ.update(kaggle_credentials(colab_secret, files) or {})
    data = find_data(platform, place, root, download)
    if not writable:
        for name, folder in outputs(place).items():
            os.environ.setdefault(name, folder)
    return SetupReport(platform, gpu_name(runner), data, runs_dir())


def find_data(platform: str, place: Path, root: Path, download: bool) -> str:
    """Point ``$PRACTICAL3_DATA`` at a real copy (kept if already set): the attached Kaggle
    input, else a finished or, if asked, new download in ``place``; say where, or how to get
    one."""
    if variable(DATA_ENV):
        return f"{variable(DATA_ENV)} (from ${DATA_ENV})"
    copy = place / COPY_NAME
    found = kaggle_input(root) if platform == "kaggle" else None
    if found is None and ((copy / COMPLETE_MARKER).is_file() or download):
        from practical3.data import download as kaggle_download

        found = kaggle_download.download(copy)
    if found is None:
        return NO_DATA[platform]
    os.environ[DATA_ENV] = str(found)
    return str(found)
