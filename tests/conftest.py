"""Fixtures shared by the tests that train: one tiny synthetic twin and one tiny results folder,
each built once per session (seconds on a CPU)."""

from pathlib import Path

import pytest

from practical3.data.synth import synthesize
from practical3.evaluation.evaluate import evaluate
from practical3.evaluation.results import gather_run
from practical3.training.loop import train
from practical3.training.profiles import profile


@pytest.fixture(scope="session")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic twin with 8 Train images a class (2 in Val and Test) at 64x64."""
    return synthesize(tmp_path_factory.mktemp("synthetic") / "twin", per_class=8, size=64, seed=0)


@pytest.fixture(scope="session")
def tiny_results(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete results folder (metrics, per-image table, history, run info) of a 1-epoch
    smoke run, as the report and the figures read it."""
    root = tmp_path_factory.mktemp("tiny-run")
    train(profile("smoke").replace(epochs=1), data, root / "run", progress=False)
    evaluate(root / "run" / "best.pt", data, root / "results", progress=False)
    gather_run(root / "run", root / "results")
    return root / "results"
