"""The answer cells of a notebook: code cells calling ``check_exercise("K", ANSWER, *CONTEXT)``.

Release and grading both find them here. A cell is recognised by what it calls, not by its
position or metadata, so a student's notebook with cells added, moved or deleted is still read;
a cell that does not parse is skipped (its exercise counts as missing, or its run as an error).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

CHECK = "check_exercise"
# The line a blank answer cell holds, and the one the release fills.
BLANK = re.compile(r"^answer = None\b.*$", re.MULTILINE)
ANSWER_LINE = re.compile(r"^answer = .*$", re.MULTILINE)


@dataclass(frozen=True)
class AnswerCell:
    """One answer cell: its position, the exercise, and the source of the expressions it
    passes as the answer and as the check's context."""

    index: int
    key: str
    answer: str
    context: tuple[str, ...]


def answer_cell(index: int, source: str) -> AnswerCell | None:
    """The answer cell ``source`` is (its last ``check_exercise`` call with a literal key), or
    None."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Name) and node.func.id == CHECK
             and len(node.args) >= 2 and isinstance(node.args[0], ast.Constant)
             and isinstance(node.args[0].value, str)]
    if not calls:
        return None
    call = max(calls, key=lambda node: (node.lineno, node.col_offset))
    answer, *context = (ast.get_source_segment(source, arg) or "" for arg in call.args[1:])
    return AnswerCell(index, call.args[0].value, answer, tuple(context))


def answer_cells(notebook: Any) -> list[AnswerCell]:
    """Every answer cell of a notebook (an ``nbformat`` node), in order."""
    found = (answer_cell(i, cell.source) for i, cell in enumerate(notebook.cells)
             if cell.cell_type == "code")
    return [cell for cell in found if cell is not None]
