"""A tiny synthetic run (train one epoch, evaluate) shared by the report and figure tests.

Built once per test session under pytest's base temporary folder: a few seconds on a CPU.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from practical3.config import profile
from practical3.evaluate import evaluate
from practical3.results import gather_run
from practical3.synth import synthesize
from practical3.train import train


def tiny_results(factory: pytest.TempPathFactory) -> Path:
    """A complete results folder (metrics, per-image table, history, run info)."""
    root = factory.getbasetemp() / "tiny-run"
    results = root / "results"
    if not (results / "run.json").is_file():
        data = synthesize(root / "synthetic", per_class=4, size=64, seed=0)
        train(profile("smoke").replace(epochs=1), data, root / "run", progress=False)
        evaluate(root / "run" / "best.pt", data, results, progress=False)
        gather_run(root / "run", results)
    return results
