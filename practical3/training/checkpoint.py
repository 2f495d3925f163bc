"""Checkpoints: saved atomically, loaded with ``weights_only=True``, carrying their config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from practical3.base.atomic import write_with
from practical3.base.errors import RunError
from practical3.training.config import TrainConfig

# What best.pt keeps of a training state: the weights, the epoch, the settings, the run id and
# the data the model learnt from (``loop.training_data``).
BEST_KEYS = ("model", "epoch", "config", "run_id", "training_data")


def save(state: dict[str, Any], path: str | Path) -> Path:
    """``torch.save`` to a temporary file, then rename: an interrupted save loses nothing."""
    return write_with(path, lambda tmp: torch.save(state, tmp))


def load(path: str | Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Load a checkpoint safely (tensors and plain containers only)."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"{path}: no such checkpoint; train first with "
                       "`practical3 train --out RUN_DIR` (it writes RUN_DIR/best.pt)")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # torch raises several types for damaged files
        raise RunError(f"{path}: not a readable practical3 checkpoint ({err}); "
                       "use RUN_DIR/last.pt or best.pt written by `practical3 train`") from err


def model_from(state: dict[str, Any], device: torch.device | str = "cpu"
               ) -> tuple[nn.Module, TrainConfig]:
    """Rebuild the trained model and its config from a loaded checkpoint."""
    config = TrainConfig.from_dict(state["config"])
    model = config.build_model()
    model.load_state_dict(state["model"])
    return model.to(device).eval(), config
