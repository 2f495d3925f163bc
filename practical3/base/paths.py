"""Where the project keeps things: data, decoded caches, runs, figures and the report.

The project root is the repository the code runs in, whether the package is installed
editable or not (``find_project_root``): never site-packages. Every folder under it is looked
up when it is needed, never at import, so an environment variable set later (tests send their
outputs to a scratch folder; Colab and Kaggle a writable one) is always honoured.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from practical3.base.errors import OutputError

HOME_ENV = "PRACTICAL3_HOME"
PROFILE_ENV = "PRACTICAL3_PROFILE"
DATA_ENV = "PRACTICAL3_DATA"
DATA_DIR_ENV = "PRACTICAL3_DATA_DIR"
CACHE_ENV = "PRACTICAL3_CACHE"
RUNS_ENV = "PRACTICAL3_RUNS"
FIGURES_ENV = "PRACTICAL3_FIGURES"


def is_checkout(folder: Path) -> bool:
    """True for a copy of this repository: pyproject.toml beside the practical3 package."""
    package = folder / "practical3" / "__init__.py"
    return (folder / "pyproject.toml").is_file() and package.is_file()


def find_project_root(package_dir: Path, cwd: Path, environ: Mapping[str, str]) -> Path:
    """``$PRACTICAL3_HOME``; else the checkout the package lives in (an editable install);
    else the checkout holding the current folder (a notebook in ``notebooks/``); else the
    current folder."""
    if environ.get(HOME_ENV):
        return Path(environ[HOME_ENV]).resolve()
    if is_checkout(package_dir.parent):
        return package_dir.parent
    return next((f for f in (cwd, *cwd.parents) if is_checkout(f)), cwd)


PROJECT_ROOT = find_project_root(Path(__file__).resolve().parent, Path.cwd().resolve(),
                                 os.environ)


def _from_env(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value) if value else default


def data_dir() -> Path:
    """Downloads and synthetic twins: ``$PRACTICAL3_DATA_DIR`` or ``data/``."""
    return _from_env(DATA_DIR_ENV, PROJECT_ROOT / "data")


def cache_dir() -> Path:
    """Decoded caches: ``$PRACTICAL3_CACHE`` or ``data/cache``."""
    return _from_env(CACHE_ENV, data_dir() / "cache")


def cache_folder() -> Path:
    """``cache_dir()``, created if absent; a ``$PRACTICAL3_CACHE`` that names a file or a place
    that cannot be written is an error naming it."""
    setting = f"${CACHE_ENV}" if os.environ.get(CACHE_ENV) else "the cache folder"
    return writable_folder(cache_dir(), setting)


def writable_folder(path: str | Path, setting: str) -> Path:
    """``path`` as a folder this process can write, created if absent; else an OutputError
    naming ``setting`` (the option or variable it came from) and the fix."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        reason = "a file is in the way" if isinstance(err, (FileExistsError, NotADirectoryError)) \
            else err.strerror
        raise OutputError(f"{setting} {path}: cannot be a folder ({reason}); point it at a "
                          "writable folder") from err
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"{setting} {path}: this folder is not writable; point it at a "
                          "writable folder")
    return path


def runs_dir() -> Path:
    """Training runs: ``$PRACTICAL3_RUNS`` or ``runs/``."""
    return _from_env(RUNS_ENV, PROJECT_ROOT / "runs")


def figures_dir() -> Path:
    """Figures: ``$PRACTICAL3_FIGURES`` or ``figures/``."""
    return _from_env(FIGURES_ENV, PROJECT_ROOT / "figures")


def report_dir() -> Path:
    """``report/``: the template, the generated report and its results folder."""
    return PROJECT_ROOT / "report"


def results_dir() -> Path:
    """The results folder the committed report is made from: ``report/results``."""
    return report_dir() / "results"


@dataclass(frozen=True)
class ReportPlace:
    """Where one report lives: its Markdown file, the results it is made from, its figures."""

    name: str
    report: Path
    results: Path
    figures: Path

    @property
    def figures_link(self) -> str:
        """The figures folder as the report links it: relative to the report's folder."""
        return Path(os.path.relpath(self.figures, self.report.parent)).as_posix()


# The committed reports, each made from one kind of data: real COVID-QU-Ex on a CPU ("real"),
# the synthetic twin a fresh clone makes ("twin"), real COVID-QU-Ex on a GPU ("gpu").
COMMITTED_PLACES = ("real", "twin", "gpu")


def report_place(name: str) -> ReportPlace:
    """A committed report's place: ``real`` is ``report/report.md``, ``report/results/`` and
    ``figures/``; ``twin`` and ``gpu`` are ``report/NAME/report.md``, ``report/NAME/results/``
    and ``figures/NAME/``: fixed places in the repository (``$PRACTICAL3_FIGURES`` moves only
    figures drawn outside a report)."""
    if name not in COMMITTED_PLACES:
        raise ValueError(f"no committed report called {name!r}: one of {COMMITTED_PLACES}")
    figures = PROJECT_ROOT / "figures"
    if name == "real":
        return ReportPlace(name, report_dir() / "report.md", results_dir(), figures)
    folder = report_dir() / name
    return ReportPlace(name, folder / "report.md", folder / "results", figures / name)


def scratch_place(label: str) -> ReportPlace:
    """Where a report of other data goes unless a committed place is asked for:
    ``runs/reports/<label>/`` (report.md, results/, figures/), never a committed report."""
    folder = runs_dir() / "reports" / label
    return ReportPlace(label, folder / "report.md", folder / "results", folder / "figures")


def display_path(path: str | Path) -> str:
    """``path`` relative to the project root when inside it, so results read the same anywhere."""
    path = Path(path).resolve()
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


def stored_path(path: str) -> Path:
    """A path stored by ``display_path`` made usable again."""
    return Path(path) if Path(path).is_absolute() else PROJECT_ROOT / path
