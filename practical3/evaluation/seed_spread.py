"""The training spread of a committed report: how far each of its numbers moves between runs of
its own protocol that differ only in their seed, kept beside its results folder
(``SPREAD_FILE``, written by ``practical3 spread``). ``reproduce`` takes each number's
tolerance from it; the report shows its headline numbers' spread.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from practical3.base.errors import ResultsError
from practical3.evaluation.results import Results

SPREAD_FILE = "training_spread.json"


def spread_file(results_dir: str | Path) -> Path:
    """Where the spread of the results in ``results_dir`` is kept: beside that folder."""
    return Path(results_dir).parent / SPREAD_FILE


def spread_of(results_dir: str | Path, parts: dict[str, Results]) -> dict[str, Any] | None:
    """The spread measured for these results (part -> its ``numbers``, with ``seeds`` and
    ``run_ids``), or None when no spread file lies beside them or it was measured for other runs
    (its seeds do not include each part's run)."""
    path = spread_file(results_dir)
    if not path.is_file():
        return None
    try:
        spread = json.loads(path.read_text(encoding="utf-8"))
        measured = {part: spread["parts"][part] for part in parts}
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ResultsError(f"{path}: not a spread file ({err}); measure it again with "
                           "practical3 spread --place NAME (docs/reproducing.md)") from None
    if any(results.run_id not in measured[part]["run_ids"].values()
           for part, results in parts.items()):
        return None
    return {"seeds": spread["measured"]["seeds"], "machine": spread["measured"]["machine"],
            "parts": measured}
