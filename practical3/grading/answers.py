"""A student's answer carried out of the notebook's kernel as data, never as code.

After each answer cell the grader runs ``keep(key, lambda: ANSWER, folder)`` in the kernel: the
answer is encoded as JSON (numbers, strings, tuples, lists, small arrays; a U-Net as its
registry name and sizes, not its weights; a written function or class as what it gave on its
exercise's cases, ``course.functions.Recorded``, recorded there in the kernel) and written to
``folder/<key>.json``. The judge reads
those files with ``decode``, which builds nothing but those kinds, so a crafted file can give a
wrong answer but never run code in the grader. A value of any other kind is an error for that
exercise. The grader's own context (``keep_context``) is trusted and pickled.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from practical3.course.functions import Failed, Recorded, record_answer
from practical3.models import MODELS, SegmentationNet, build_model

MAX_ELEMENTS = 100_000  # the largest array an answer may be
MODEL_LIMITS = {"in_channels": 8, "out_channels": 8, "base_channels": 128, "depth": 7}
CONTEXT_SUFFIX = ".context.pkl"


class AnswerKindError(TypeError):
    """An answer of a kind the grader does not carry."""


def encode(value: Any) -> Any:
    """``value`` as JSON-able data; AnswerKindError for a kind the judge cannot rebuild."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return encode(value.item())
    if isinstance(value, np.ndarray | torch.Tensor):
        array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
        if array.ndim == 0:
            return encode(array.item())
        if array.size > MAX_ELEMENTS:
            raise AnswerKindError(f"an array of {array.size} values (at most {MAX_ELEMENTS})")
        return {"array": array.tolist()}
    if isinstance(value, tuple):
        return {"tuple": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, SegmentationNet):
        return {"model": model_spec(value)}
    if isinstance(value, Recorded):
        return {"recorded": [{"failed": r.error} if isinstance(r, Failed) else {"value": encode(r)}
                             for r in value.results]}
    raise AnswerKindError(f"an answer of type {type(value).__name__} cannot be graded")


def model_spec(model: SegmentationNet) -> dict[str, Any]:
    """What rebuilds ``model``'s architecture: its registry name and sizes."""
    names = {cls: name for name, cls in MODELS.items()}
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    return {"name": names[type(model)], "in_channels": convs[0].in_channels,
            "out_channels": convs[-1].out_channels, "base_channels": model.widths[0],
            "depth": model.depth}


def decode(data: Any) -> Any:
    """The answer ``encode`` wrote; ValueError for anything else."""
    if data is None or isinstance(data, bool | int | float | str):
        return data
    if isinstance(data, list):
        return [decode(v) for v in data]
    if isinstance(data, dict) and len(data) == 1:
        (kind, inner), = data.items()
        if kind == "tuple" and isinstance(inner, list):
            return tuple(decode(v) for v in inner)
        if kind == "array" and isinstance(inner, list):
            array = np.asarray(inner)
            if array.dtype.kind not in "biuf" or array.size > MAX_ELEMENTS:
                raise ValueError("not an array of numbers")
            return array
        if kind == "model" and isinstance(inner, dict):
            return _model(inner)
        if kind == "recorded" and isinstance(inner, list):
            return Recorded(tuple(_result(r) for r in inner))
    raise ValueError(f"not an encoded answer: {str(data)[:80]}")


def _result(data: Any) -> np.ndarray | Failed:
    """One case's result of a recorded function: numbers, or why the case failed."""
    if isinstance(data, dict) and list(data) == ["failed"] and isinstance(data["failed"], str):
        return Failed(data["failed"][:500])
    if isinstance(data, dict) and list(data) == ["value"]:
        value = data["value"]
        if isinstance(value, int | float) and not isinstance(value, bool) or (
                isinstance(value, dict) and list(value) == ["array"]):
            return np.asarray(decode(value), dtype=np.float64)
    raise ValueError(f"not a recorded result: {str(data)[:80]}")


def _model(spec: dict[str, Any]) -> SegmentationNet:
    sizes = {k: spec.get(k) for k in MODEL_LIMITS}
    if spec.get("name") not in MODELS or not all(
            isinstance(v, int) and 1 <= v <= MODEL_LIMITS[k] for k, v in sizes.items()):
        raise ValueError(f"not a model the course builds: {spec}")
    return build_model(spec["name"], **sizes)


def keep(key: str, compute: Callable[[], Any], folder: str | Path) -> None:
    """Run in the student's kernel after answer cell ``key``: write its answer (or why it could
    not be read) to ``folder/<key>.json``. Never raises, so the notebook runs on."""
    try:
        record = {"key": key, "answer": encode(record_answer(key, compute()))}
    except Exception as err:  # the student's expression or value: reported, not raised
        record = {"key": key, "error": f"{type(err).__name__}: {err}"}
    text = json.dumps(record, allow_nan=True)
    (Path(folder) / f"{key}.json").write_text(text)


def read_answer(path: Path) -> tuple[Any, str | None]:
    """(the answer, None) or (None, why it cannot be graded) from a file ``keep`` wrote."""
    try:
        record = json.loads(path.read_text())
        if "error" in record:
            return None, str(record["error"])[:500]
        return decode(record["answer"]), None
    except (ValueError, KeyError, TypeError, OSError) as err:
        return None, f"unreadable answer ({err})"


def keep_context(key: str, compute: Callable[[], tuple[Any, ...]], folder: str | Path) -> None:
    """Run in the grader's own kernel: pickle the context exercise ``key``'s check compares an
    answer with."""
    with open(Path(folder) / f"{key}{CONTEXT_SUFFIX}", "wb") as file:
        pickle.dump(compute(), file)


def read_context(folder: Path, key: str) -> tuple[Any, ...] | None:
    """The context ``keep_context`` wrote for ``key``, or None when the grader's run did not
    reach it."""
    path = folder / f"{key}{CONTEXT_SUFFIX}"
    if not path.is_file():
        return None
    with open(path, "rb") as file:
        return pickle.load(file)
