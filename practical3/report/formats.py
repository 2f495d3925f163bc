"""How the report prints a value: one named formatter per kind of number."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from practical3.base.text import MISSING, fmt, percent, undefined


def _number(spec: str, unit: str = "", divisor: float = 1) -> Callable[[Any], str]:
    """Format with ``spec`` (after dividing by ``divisor``), then ``unit``; n/a when undefined."""
    return lambda v: MISSING if undefined(v) else f"{format(v / divisor, spec)}{unit}"


FORMATS: dict[str, Callable[[Any], str]] = {
    "pct": percent,                                # a fraction as a percentage
    "pct0": _number(".0f", " %", divisor=0.01),    # a level such as 95 %
    "num": _number(".3f"),                         # a ratio or correlation
    "pp": _number(".2f", " pp"),                   # percentage points
    "pct_value": _number(".2f", " %"),             # a value already in percent
    "int": lambda v: fmt(v if undefined(v) else int(v), ","),
    "g": _number("g"),                             # learning rate, weight decay
    "min": _number(".1f", " min", divisor=60),     # seconds as minutes
    "onoff": lambda v: "on" if v else "off",
    # a 95 % interval [low, high]: of fractions as percentages, or of plain numbers
    "ci": lambda v: MISSING if v is None else f"[{100 * v[0]:.2f}, {100 * v[1]:.2f}]",
    "ci_num": lambda v: MISSING if v is None else f"[{v[0]:.3f}, {v[1]:.3f}]",
}
