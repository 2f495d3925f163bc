"""Run one notebook with nbclient and keep what each answer cell answered (or, for the grader's
own run, the context each check needs): ``python -m practical3.grading.execute NOTEBOOK FOLDER
[--context]``.

A cell is added after every answer cell that writes its answer to ``FOLDER/<key>.json``
(``answers.keep``), or its context with ``--context``. The notebook runs cell by cell in its own
folder, as "Run all" does, and stops at the first cell that raises; ``FOLDER/outcome.json`` says
whether it completed or where it stopped. The grader runs this in a sandbox (``sandbox``) and
never trusts what the notebook printed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from practical3.grading.cells import answer_cells

OUTCOME_FILE = "outcome.json"
ORIGINAL = "practical3_cell"  # the metadata key holding a cell's number in the submitted file


def with_keepers(notebook: nbformat.NotebookNode, folder: Path,
                 context: bool) -> nbformat.NotebookNode:
    """``notebook`` with a cell after each answer cell that keeps its answer (or context)."""
    keepers = {}
    for found in answer_cells(notebook):
        if context:
            values = "".join(f"{expression}, " for expression in found.context)
            call = f"keep_context({found.key!r}, lambda: ({values}), {str(folder)!r})"
        else:
            call = f"keep({found.key!r}, lambda: ({found.answer}), {str(folder)!r})"
        keepers[found.index] = nbformat.v4.new_code_cell(
            f"__import__('practical3.grading.answers', fromlist=['keep']).{call}")
    cells = []
    for i, cell in enumerate(notebook.cells):
        cell.metadata[ORIGINAL] = i
        cells += [cell, keepers[i]] if i in keepers else [cell]
    notebook.cells = cells
    return notebook


def run(path: Path, folder: Path, context: bool = False) -> dict[str, object]:
    """Execute the notebook at ``path`` with keepers writing into ``folder``; returns (and
    writes) its outcome: completed, or error with the submitted cell that raised."""
    notebook = with_keepers(nbformat.read(path, as_version=4), folder, context)
    client = NotebookClient(notebook, timeout=None, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    outcome: dict[str, object] = {"status": "completed"}
    with client.setup_kernel():
        for i, cell in enumerate(notebook.cells):
            try:
                client.execute_cell(cell, i)
            except CellExecutionError as err:
                reason = f"{err.ename}: {err.evalue}" if err.ename else str(err)[-300:]
                outcome = {"status": "error", "cell": cell.metadata.get(ORIGINAL),
                           "error": reason[:500]}
                break
    (folder / OUTCOME_FILE).write_text(json.dumps(outcome))
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--context", action="store_true",
                        help="keep each check's context (the grader's own run)")
    args = parser.parse_args()
    run(args.notebook, args.folder, args.context)


if __name__ == "__main__":
    main()
