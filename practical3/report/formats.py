"""How the report prints a value: one named formatter per kind of number, and ``markdown_text``
for text that comes from the data or the options."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from practical3.base.text import MISSING, fmt, percent, undefined
from practical3.scoring.significance import NOT_APPLICABLE
from practical3.scoring.uncertainty import TOO_FEW, ZERO_BY_CONSTRUCTION

ZERO_TEXT = "0 by construction"
# Characters that would end a table cell, open a link or write HTML, each as Markdown prints it
# literally; a backslash first, so that text cannot undo an escape.
_LITERAL = {"\\": "\\\\", "|": "\\|", "[": "\\[", "]": "\\]", "<": "&lt;", ">": "&gt;"}
# What makes a line a heading, list, rule or code fence when it starts one.
_BLOCK_START = re.compile(r"^(\d+(?=[.)])|(?=[#*+\-=_~`]))(.)")


def _number(spec: str, unit: str = "", divisor: float = 1) -> Callable[[Any], str]:
    """Format with ``spec`` (after dividing by ``divisor``), then ``unit``; n/a when undefined."""
    return lambda v: MISSING if undefined(v) else f"{format(v / divisor, spec)}{unit}"


FORMATS: dict[str, Callable[[Any], str]] = {
    "pct": percent,                                # a fraction as a percentage
    "pct0": _number(".0f", " %", divisor=0.01),    # a level such as 95 %
    "num": _number(".3f"),                         # a ratio or correlation
    "num1": _number(".1f"),                        # a mean of counts
    "pp": _number(".2f", " pp"),                   # percentage points
    "pct_value": _number(".2f", " %"),             # a value already in percent
    "int": lambda v: fmt(v if undefined(v) else int(v), ","),
    "g": _number("g"),                             # learning rate, weight decay
    "min": _number(".1f", " min", divisor=60),     # seconds as minutes
    # a difference of fractions in Dice points, two decimals, never "-0.00"
    "dp": lambda v: MISSING if undefined(v) else f"{round(100 * v, 2) + 0.0:+.2f}",
    "points": _number(".2f", divisor=0.01),       # a spread of fractions in Dice points
    "onoff": lambda v: "on" if v else "off",
    # a 95 % interval [low, high]: of fractions as percentages, or of plain numbers
    "ci": lambda v: MISSING if v is None else f"[{100 * v[0]:.2f}, {100 * v[1]:.2f}]",
    "ci_num": lambda v: MISSING if v is None else f"[{v[0]:.3f}, {v[1]:.3f}]",
    "ci_pp": lambda v: MISSING if v is None else f"[{v[0]:.2f}, {v[1]:.2f}]",
}


def markdown_text(text: str) -> str:
    """``text`` from a copy or an option (a data label, a README's prose) as Markdown that prints
    it on one line and cannot add a heading, HTML, a link or a table cell to the report;
    emphasis and code spans still render."""
    one_line = " ".join(text.split())
    literal = "".join(_LITERAL.get(char, char) for char in one_line)
    return _BLOCK_START.sub(r"\1\\\2", literal)


def with_interval(scores: dict[str, Any], name: str, kind: str = "pct") -> str:
    """A score and its 95 % interval, ``97.12 % [96.40, 97.81]``; "n too small" where too few
    images make an interval, and "0 by construction" for a score that is 0 by construction
    (``uncertainty.ci_entry``), "not applicable" for a rate no image can have
    (``significance.rate_entry``). ``kind`` is "pct" (fractions) or "num" (plain numbers)."""
    note = scores.get(f"{name}_ci95_note") or ""
    if note == ZERO_BY_CONSTRUCTION:
        return ZERO_TEXT
    if note.startswith(NOT_APPLICABLE):
        return NOT_APPLICABLE
    value, bounds = FORMATS[kind](scores[name]), scores.get(f"{name}_ci95")
    if bounds:
        return f"{value} {FORMATS[{'pct': 'ci', 'pp': 'ci_pp'}.get(kind, 'ci_num')](bounds)}"
    return f"{value} ({TOO_FEW})" if note.startswith(TOO_FEW) else value


def p_text(p: float | None) -> str:
    """A p-value as the report prints it: ``p = 0.17``, ``p = 0.0028``, ``p < 1e-6``."""
    if p is None:
        return "no test possible"
    if p < 1e-6:
        return "p < 1e-6"
    return f"p = {p:.2g}" if p < 0.01 else f"p = {p:.2f}"
