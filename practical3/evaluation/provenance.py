"""What a model learnt from, said wherever it is used: ``evaluate`` and ``predict`` print it,
record it (metrics.json, predictions.csv) and warn in one line when the model never saw a real
chest X-ray, or is evaluated on data of another kind than it learnt from.

Checkpoints record their training data (``training_data``: kind, dataset, label, fingerprint,
image counts); one written before they did says "training data unknown".
"""

from __future__ import annotations

import sys
from typing import Any

from practical3.training.checkpoint import training_data_of

UNKNOWN = "training data unknown"


def summary(trained: dict[str, Any] | None) -> str:
    """One line: the data a model learnt from, or that it is unknown."""
    if not trained:
        return (f"model: {UNKNOWN} (its checkpoint predates the record of training data; "
                "retrain to have it)")
    counts = f"{trained.get('n_train_images', '?')} Train and {trained.get('n_val_images', '?')}"
    return (f"model trained on: {trained.get('label', trained.get('kind'))} ({counts} Val "
            f"images in {trained.get('root')}, fingerprint {str(trained.get('fingerprint'))[:12]})")


def warning(trained: dict[str, Any] | None, evaluated_kind: str | None = None) -> str | None:
    """One line when the model learnt from synthetic phantoms or is used on data of another
    kind (``evaluated_kind``: "real" or "synthetic"), else None."""
    if not trained:
        return None
    kind = trained.get("kind")
    if evaluated_kind is not None and evaluated_kind != kind:
        return (f"WARNING: this model was trained on {str(kind).upper()} data and is evaluated on "
                f"{evaluated_kind} data: its scores say nothing about either")
    if kind == "synthetic":
        return ("WARNING: this model was trained on SYNTHETIC phantoms and never saw a real "
                "chest X-ray: its masks and severities on real X-rays mean nothing")
    return None


def record(state: dict[str, Any], evaluated_kind: str | None = None,
           evaluated_fingerprint: str | None = None) -> dict[str, Any]:
    """What metrics.json keeps: the checkpoint's ``training_data`` (None when unknown), its
    summary and warning, and whether the evaluated files are those it learnt from."""
    trained = training_data_of(state)
    same = None if not trained or evaluated_fingerprint is None else (
        trained.get("fingerprint") == evaluated_fingerprint)
    return {"summary": summary(trained), "warning": warning(trained, evaluated_kind),
            "same_files_as_evaluated": same, "checkpoint_record": trained}


def label(state: dict[str, Any]) -> str:
    """The model's training data in a word or two, as a table column holds it."""
    trained = training_data_of(state)
    return f"{trained.get('kind')}: {trained.get('label')}" if trained else UNKNOWN


def announce(recorded: dict[str, Any]) -> None:
    """Print a ``record``'s summary, and its warning on stderr."""
    print(recorded["summary"])
    if recorded["warning"]:
        print(recorded["warning"], file=sys.stderr)
