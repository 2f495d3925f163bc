"""``python -m practical3.course.render OUT [--data PATH] [--profile NAME]``: run the course's
four notebooks headless and write executed copies, outputs included, into ``OUT``; prints each
notebook's time.

The copies are what a student opens without running anything: ``make notebooks-real DATA=...``
writes ``docs/notebooks/`` on real COVID-QU-Ex at the ``laptop`` profile. Each copy opens with
the data and profile it ran on; the working notebooks in ``notebooks/`` are read, never written,
and stay without outputs. Stream output is coalesced as a front-end shows it, so a training
cell carries one line per epoch, not one per progress-bar update.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

import nbformat

from practical3.base.atomic import write_text
from practical3.base.paths import DATA_ENV, PROFILE_ENV, project_root
from practical3.data.sources import SYNTHETIC_LABEL, describe

RENDERED_DIR = Path("docs") / "notebooks"
RELATIVE_LINK = re.compile(r"\]\(\.\./")  # a copy sits one folder deeper than its notebook
CELL_TIMEOUT_S = 3600.0  # a cell running longer has hung (notebook 03 trains within it)


def notebooks() -> list[Path]:
    """The course's working notebooks, in order."""
    return sorted((project_root() / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def heading(label: str, profile: str, seconds: float, name: str) -> str:
    """The cell a copy opens with: what it ran on, how long it took, where its notebook is."""
    day = datetime.date.today().isoformat()
    return (f"**Rendered copy, run on {label.removeprefix('Data: ')}** at the `{profile}` "
            f"profile ({day}, {seconds:.0f} s headless with nbclient). Every output below is "
            f"that run's; the working notebook, without outputs, is "
            f"[notebooks/{name}](../../notebooks/{name}).")


def render_one(path: Path, out: Path, label: str, profile: str,
               timeout: float = CELL_TIMEOUT_S, settings: dict[str, str] | None = None) -> float:
    """Execute the notebook at ``path`` in its own folder, its kernel's environment this one's
    plus ``settings``, and write the executed copy into ``out``; returns the seconds it took."""
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            coalesce_streams=True,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute(env={**os.environ, **(settings or {})})  # the kernel's, not this process's
    seconds = time.perf_counter() - start
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = RELATIVE_LINK.sub("](../../", cell.source)
    notebook.cells.insert(0, nbformat.v4.new_markdown_cell(
        heading(label, profile, seconds, path.name)))
    write_text(out / path.name, nbformat.writes(notebook) + "\n")
    return seconds


def render(out: str | Path, data: str | Path | None = None, profile: str = "laptop",
           names: Sequence[str] = (), timeout: float = CELL_TIMEOUT_S) -> dict[str, float]:
    """Render the notebooks (those whose names start with one of ``names``, default all) on
    ``data`` (default: the twin) at ``profile`` into ``out``; returns each one's seconds.

    Example: ``render("docs/notebooks", "../covidqu", "laptop")``.
    """
    out = Path(out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    values = {PROFILE_ENV: profile}
    if data is not None:
        values[DATA_ENV] = str(Path(data).resolve())
    label = describe(data).label if data is not None else SYNTHETIC_LABEL
    times = {}
    for path in notebooks():
        if not names or path.name.startswith(tuple(names)):
            times[path.name] = render_one(path, out, label, profile, timeout, values)
            print(f"{path.name}: {times[path.name]:.0f} s", flush=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--data", type=Path, help="a copy of the data (default: the twin)")
    parser.add_argument("--profile", default="laptop")
    parser.add_argument("--only", nargs="*", default=(), help="notebook numbers, e.g. 01 03")
    parser.add_argument("--timeout", type=float, default=CELL_TIMEOUT_S,
                        help="seconds a cell may run before the render stops as hung")
    args = parser.parse_args()
    render(args.out, args.data, args.profile, args.only, args.timeout)


if __name__ == "__main__":
    main()
