"""Checkpoints: saved atomically, loaded with ``weights_only=True``, checked before use.

Every loader (``train --resume``, ``evaluate``, ``predict``) goes through ``load``, which
refuses in one line what is not a practical3 checkpoint: a text file or any file torch did not
write, a file torch cannot read, a pickle holding code, bare weights (a ``state_dict``), a dict
without our keys, a config with missing, extra or invalid settings, and
weights that do not fit the model that config describes.
"""

from __future__ import annotations

import dataclasses
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from practical3.base.atomic import write_stream
from practical3.base.errors import ConfigError, RunError
from practical3.training.config import TrainConfig, validate

# What every checkpoint holds: the weights, the epoch, the settings and the run id.
REQUIRED_KEYS = ("model", "epoch", "config", "run_id")
# What best.pt keeps of a training state: the above and the data the model learnt from
# (``loop.training_data``; absent from checkpoints written before it was recorded).
BEST_KEYS = (*REQUIRED_KEYS, "training_data")
# What last.pt adds to resume exactly.
RESUME_KEYS = (*REQUIRED_KEYS, "optimizer", "scheduler", "scaler", "history", "rng")
FIX = "use the best.pt or last.pt of a run folder written by `practical3 train`"
# How torch.save's files begin: a zip archive (since torch 1.6), or a pickle of protocol 2 or
# more (the legacy format). Anything else is not a checkpoint, whatever torch.load would say.
CHECKPOINT_STARTS = (b"PK\x03\x04", b"\x80")
LISTED_KEYS = 5  # keys named when a file holds the wrong ones


def save(state: dict[str, Any], path: str | Path) -> Path:
    """``torch.save`` to a temporary file, then rename: an interrupted save loses nothing, and a
    full disk says so."""
    return write_stream(path, lambda file: torch.save(state, file))


def load(path: str | Path, device: torch.device | str = "cpu",
         keys: tuple[str, ...] = REQUIRED_KEYS) -> dict[str, Any]:
    """Load a checkpoint safely (tensors and plain containers only) and check that it holds
    ``keys``, a valid config and weights that fit the model of that config."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"{path}: no such checkpoint; train first with "
                       "`practical3 train --out RUN_DIR` (it writes RUN_DIR/best.pt)")
    state = _read(path, device)
    if state and all(isinstance(value, torch.Tensor) for value in state.values()):
        raise RunError(f"{path}: holds bare model weights ({len(state)} tensors, a state_dict), "
                       "without the settings that rebuild the model; " + FIX)
    lacking = [key for key in keys if key not in state]
    if lacking:
        raise RunError(f"{path}: not a practical3 checkpoint of this kind: it lacks "
                       f"{', '.join(lacking)} (it holds {_listed(list(map(str, state)))}); {FIX}")
    _check_weights(state["model"], config_of(state, path), path)
    return state


def load_resumable(path: str | Path) -> dict[str, Any]:
    """A ``last.pt`` with everything ``train --resume`` needs."""
    return load(path, keys=RESUME_KEYS)


def _listed(names: list[str]) -> str:
    """The first ``LISTED_KEYS`` names, and how many more."""
    shown = ", ".join(names[:LISTED_KEYS]) or "nothing"
    more = len(names) - LISTED_KEYS
    return f"{shown} and {more} more" if more > 0 else shown


def _read(path: Path, device: torch.device | str) -> dict[str, Any]:
    with open(path, "rb") as file:
        head = file.read(64)
    if not head.startswith(CHECKPOINT_STARTS):
        what = ("an empty file" if not head else "a text file" if _is_text(head)
                else "neither a zip archive nor a pickle")
        raise RunError(f"{path}: not a checkpoint ({what}: a checkpoint is what torch.save "
                       f"writes); {FIX}")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as err:  # weights_only refused an object: never retried
        found = re.search(r"GLOBAL (\S+)", str(err))
        what = f" ({found[1]})" if found else ""
        raise RunError(f"{path}: holds Python objects{what} besides tensors and plain "
                       f"containers, and loading it could run code: refused; {FIX}") from None
    except Exception as err:  # torch raises several types for damaged files
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise RunError(f"{path}: not a readable checkpoint ({first}); {FIX}") from err
    if not isinstance(state, dict):
        raise RunError(f"{path}: holds a {type(state).__name__}, not a checkpoint; {FIX}")
    return state


def _is_text(head: bytes) -> bool:
    """Whether a file's first bytes read as text (UTF-8, no control characters but spacing)."""
    decoded = head.decode("utf-8", errors="replace").rstrip("\ufffd")  # a character cut short
    return "\ufffd" not in decoded and all(c.isprintable() or c in "\t\r\n" for c in decoded)


def config_of(state: dict[str, Any], path: str | Path = "checkpoint") -> TrainConfig:
    """The config a checkpoint was trained with, checked: every setting present, none unknown,
    each in its range."""
    data = state.get("config")
    if not isinstance(data, Mapping):
        raise RunError(f"{path}: its config is a {type(data).__name__}, not settings; {FIX}")
    fields = [field.name for field in dataclasses.fields(TrainConfig)]
    missing = [name for name in fields if name not in data]
    extra = [str(name) for name in data if name not in fields]
    if missing or extra:
        told = [f"lacks {', '.join(missing)}"] * bool(missing) + \
               [f"has unknown {', '.join(extra)}"] * bool(extra)
        raise RunError(f"{path}: its config {' and '.join(told)} (written by another version "
                       f"or edited?); {FIX}")
    try:
        return validate(TrainConfig.from_dict(data))
    except (ConfigError, TypeError) as err:
        raise RunError(f"{path}: its config is not valid ({err}); {FIX}") from err


def _check_weights(weights: Any, cfg: TrainConfig, path: Path) -> None:
    """Raise RunError unless ``weights`` has exactly the tensors, and their shapes, of the
    model ``cfg`` describes (built on the meta device: no memory)."""
    if not isinstance(weights, Mapping) or not all(
            isinstance(v, torch.Tensor) for v in weights.values()):
        raise RunError(f"{path}: its model is not a set of named tensors; {FIX}")
    with torch.device("meta"):
        expected = {k: v.shape for k, v in cfg.build_model().state_dict().items()}
    missing = [k for k in expected if k not in weights]
    extra = [k for k in weights if k not in expected]
    reshaped = [k for k in expected if k in weights and weights[k].shape != expected[k]]
    if missing or extra or reshaped:
        counts = ", ".join(f"{len(keys)} {what} (e.g. {keys[0]})" for what, keys in
                           (("missing", missing), ("unexpected", extra),
                            ("of another shape", reshaped)) if keys)
        raise RunError(f"{path}: its weights do not fit the {cfg.model} its config describes "
                       f"(part {cfg.part}, base {cfg.base_channels}, depth {cfg.depth}): "
                       f"{counts}; {FIX}")


def model_from(state: dict[str, Any], device: torch.device | str = "cpu"
               ) -> tuple[nn.Module, TrainConfig]:
    """Rebuild the trained model and its config from a checkpoint ``load`` returned."""
    config = config_of(state)
    model = config.build_model()
    model.load_state_dict(state["model"])
    return model.to(device).eval(), config


def training_data_of(state: dict[str, Any]) -> dict[str, Any] | None:
    """What the checkpoint's model learnt from (``loop.training_data``: source kind, dataset,
    label, credit, root, fingerprint, image counts), or None for a checkpoint written before
    it was recorded: say "training data unknown" then."""
    record = state.get("training_data")
    return dict(record) if isinstance(record, Mapping) else None
