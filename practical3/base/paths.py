"""Where the project keeps things, and the one module that reads the environment.

Every ``PRACTICAL3_*`` variable is named here and nowhere else (as nnU-Net's ``paths.py``), and
each is read when it is needed, never at import, so a value set later (tests send their
outputs to a scratch folder; Colab and Kaggle a writable one) is always honoured. A value is
checked where it is read: ``~`` is expanded, a relative path is taken from the current folder,
and an error names the variable and the fix (``docs/environment.md`` has the same table).

| variable | what it sets | when unset |
| --- | --- | --- |
| ``PRACTICAL3_HOME`` | the project root (an existing folder) | the package's checkout |
| ``PRACTICAL3_PROFILE`` | the profile ``session.start()`` runs | ``auto`` |
| ``PRACTICAL3_DATA`` | a real copy for notebooks, ``make figures`` | ``data/raw``, Kaggle input |
| ``PRACTICAL3_DATA_DIR`` | downloads and synthetic twins | ``data/`` |
| ``PRACTICAL3_CACHE`` | decoded caches and the files' hash memo | ``data/cache`` |
| ``PRACTICAL3_RUNS`` | runs, reports of other data, reproductions | ``runs/`` |
| ``PRACTICAL3_FIGURES`` | figures drawn outside a report | ``figures/`` |

Commands take these folders as arguments (``pipeline.run(runs=...)``, ``--out``); the
variables only change the defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from practical3.base.errors import ConfigError, OutputError

HOME_ENV = "PRACTICAL3_HOME"
PROFILE_ENV = "PRACTICAL3_PROFILE"
DATA_ENV = "PRACTICAL3_DATA"
DATA_DIR_ENV = "PRACTICAL3_DATA_DIR"
CACHE_ENV = "PRACTICAL3_CACHE"
RUNS_ENV = "PRACTICAL3_RUNS"
FIGURES_ENV = "PRACTICAL3_FIGURES"
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the practical3 folder itself


def variable(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The value of ``PRACTICAL3_*`` variable ``name``, or None when unset or empty."""
    value = (os.environ if environ is None else environ).get(name, "").strip()
    return value or None


def path_variable(name: str, environ: Mapping[str, str] | None = None) -> Path | None:
    """Variable ``name`` as an absolute path (``~`` expanded), or None when unset; a ``~`` that
    names no home is an error naming the variable."""
    value = variable(name, environ)
    if value is None:
        return None
    path = Path(os.path.expanduser(value))
    if str(path).startswith("~"):
        raise ConfigError(f"${name}={value}: '~' names no home folder here; give an absolute "
                          "path")
    return path.absolute()


def is_checkout(folder: Path) -> bool:
    """True for a copy of this repository: pyproject.toml beside the practical3 package."""
    package = folder / "practical3" / "__init__.py"
    return (folder / "pyproject.toml").is_file() and package.is_file()


def find_project_root(package_dir: Path, cwd: Path, environ: Mapping[str, str]) -> Path:
    """``$PRACTICAL3_HOME`` (an existing folder); else the checkout the package lives in,
    whatever the current folder; else (installed elsewhere) the checkout holding ``cwd``."""
    home = path_variable(HOME_ENV, environ)
    if home is not None:
        if not home.is_dir():
            raise ConfigError(f"${HOME_ENV}={home}: no such folder (it is not created for you); "
                              f"create it, or unset {HOME_ENV} to use the checkout")
        return home.resolve()
    if is_checkout(package_dir.parent):
        return package_dir.parent
    found = next((f for f in (cwd, *cwd.parents) if is_checkout(f)), None)
    if found is None:
        raise ConfigError(f"practical3 is installed in {package_dir.parent}, outside a checkout, "
                          f"and {cwd} is in none: set ${HOME_ENV} to the folder where data, runs "
                          "and reports should go")
    return found


def project_root() -> Path:
    """The project root now (see ``find_project_root``)."""
    return find_project_root(PACKAGE_DIR, Path.cwd().resolve(), os.environ)


def _setting(name: str, default: Path) -> tuple[Path, str]:
    """The folder variable ``name`` gives, else ``default``; with how to name it in errors."""
    value = path_variable(name)
    return (value, f"${name}") if value is not None else (default, "the default folder")


def data_dir() -> Path:
    """Downloads and synthetic twins: ``$PRACTICAL3_DATA_DIR`` or ``data/``."""
    return path_variable(DATA_DIR_ENV) or project_root() / "data"


def cache_dir() -> Path:
    """Decoded caches: ``$PRACTICAL3_CACHE`` or ``data/cache``."""
    return path_variable(CACHE_ENV) or data_dir() / "cache"


def cache_folder() -> Path:
    """``cache_dir()``, created if absent; a ``$PRACTICAL3_CACHE`` that names a file or a place
    that cannot be written is an error naming it."""
    folder, setting = _setting(CACHE_ENV, data_dir() / "cache")
    return writable_folder(folder, setting)


def runs_dir() -> Path:
    """Training runs: ``$PRACTICAL3_RUNS`` or ``runs/``."""
    return path_variable(RUNS_ENV) or project_root() / "runs"


def runs_folder() -> Path:
    """``runs_dir()``, created if absent; errors name ``$PRACTICAL3_RUNS`` when it is set."""
    folder, setting = _setting(RUNS_ENV, project_root() / "runs")
    return writable_folder(folder, setting)


def figures_dir() -> Path:
    """Figures drawn outside a report: ``$PRACTICAL3_FIGURES`` or ``figures/``."""
    return path_variable(FIGURES_ENV) or project_root() / "figures"


def data_copy() -> Path | None:
    """The real copy ``$PRACTICAL3_DATA`` names (it must exist), or None when unset."""
    copy = path_variable(DATA_ENV)
    if copy is not None and not copy.is_dir():
        raise ConfigError(f"${DATA_ENV}={copy}: no such folder; point it at a copy of "
                          f"COVID-QU-Ex, or unset {DATA_ENV} to use the synthetic twin")
    return copy


def profile_name() -> str | None:
    """The profile ``$PRACTICAL3_PROFILE`` names, or None when unset."""
    return variable(PROFILE_ENV)


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


def report_dir() -> Path:
    """``report/``: the template, the generated report and its results folder."""
    return project_root() / "report"


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
    figures = project_root() / "figures"
    if name == "real":
        return ReportPlace(name, report_dir() / "report.md", results_dir(), figures)
    folder = report_dir() / name
    return ReportPlace(name, folder / "report.md", folder / "results", figures / name)


def scratch_place(label: str, runs: str | Path | None = None) -> ReportPlace:
    """Where a report that is not a committed one goes: ``<runs>/reports/<label>/``
    (report.md, results/, figures/); ``runs`` defaults to ``runs_dir()``."""
    folder = Path(runs or runs_dir()) / "reports" / label
    return ReportPlace(label, folder / "report.md", folder / "results", folder / "figures")


def display_path(path: str | Path) -> str:
    """``path`` relative to the project root when inside it, so results read the same anywhere."""
    path, root = Path(path).resolve(), project_root()
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def stored_path(path: str) -> Path:
    """A path stored by ``display_path`` made usable again."""
    return Path(path) if Path(path).is_absolute() else project_root() / path
