"""Numbers as text: one rule for a value that is undefined (None in JSON, NaN in a table);
and a class's one-paragraph description, read from its docstring."""

from __future__ import annotations

import inspect
from typing import Any

MISSING = "n/a"


def undefined(value: Any) -> bool:
    """True for None and NaN (the one value unequal to itself)."""
    return value is None or value != value


def fmt(value: Any, spec: str, missing: str = MISSING) -> str:
    """``value`` formatted with ``spec``; ``missing`` when it is undefined."""
    return missing if undefined(value) else format(value, spec)


def percent(value: float | None) -> str:
    """A fraction as a percentage with two decimals, e.g. 0.98765 -> '98.77 %'."""
    return MISSING if undefined(value) else f"{100 * value:.2f} %"


def first_paragraph(doc: str | None) -> str:
    """The first paragraph of a docstring on one line: what a report says of a model or loss."""
    return " ".join(inspect.cleandoc(doc or "").split("\n\n")[0].split())
