"""Run settings: one frozen config object per training run, and the rules that check it.

Every size, epoch count and seed a run uses comes from a ``TrainConfig``; the named presets
are ``training.profiles``. A run folder stores its config, so a result always says how it was
made.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from practical3.base.errors import ConfigError
from practical3.data import layout

if TYPE_CHECKING:
    from practical3.models import SegmentationNet


@dataclass(frozen=True)
class SynthSpec:
    """Size of the synthetic twin a profile trains on when no real data is given."""

    per_class: int
    size: int
    seed: int = 0


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of one training run."""

    profile: str
    part: str = "infection"
    image_size: int = 256
    base_channels: int = 64
    depth: int = 4
    model: str = "unet"
    loss: str = "bce_dice"
    epochs: int = 30
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    max_train_images: int | None = None
    max_val_images: int | None = None
    augment: bool = True
    device: str = "auto"
    precision: str = "auto"
    compile: bool = False
    synth: SynthSpec = SynthSpec(per_class=8, size=128)

    @property
    def targets(self) -> tuple[str, ...]:
        """What the model predicts, in channel order (``layout.TARGETS`` of the part)."""
        return layout.TARGETS[self.part]

    def build_model(self) -> SegmentationNet:
        """The untrained model this config describes: one grayscale input, one logit per
        target. (Imported here: reading a config never loads torch.)"""
        from practical3.models import build_model

        return build_model(self.model, 1, len(self.targets), self.base_channels, self.depth)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied; ``None`` values mean "keep"."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        data = dict(data)
        data["synth"] = SynthSpec(**data["synth"])
        return cls(**data)


# --- validation: every setting checked before any work ------------------------------------

MAX_IMAGE_SIZE = 1024  # beyond it one batch alone would not fit any GPU this course targets
MAX_SEED = 2**32 - 1  # numpy's seeded sampling (``select_split``) takes no more
DEVICE_TYPES = ("cpu", "cuda", "mps")
Rule = Callable[[Any, "TrainConfig"], "str | None"]


def _whole(value: Any, low: int, high: int | None = None) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool) and value >= low
            and (high is None or value <= high))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _at_least(low: int) -> Rule:
    return lambda v, _: None if _whole(v, low) else f"a whole number >= {low}"


def _none_or_at_least(low: int) -> Rule:
    return lambda v, _: None if v is None or _whole(v, low) else \
        f"unset (all images) or a whole number >= {low}"


def _one_of(registry: Callable[[], Iterable[str]]) -> Rule:
    return lambda v, _: None if v in (names := list(registry())) else \
        f"one of {', '.join(names)}"


def _flag(value: Any, _: TrainConfig) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def _image_size(value: Any, cfg: TrainConfig) -> str | None:
    step = 2 ** cfg.depth if _whole(cfg.depth, 1) else 1
    ok = _whole(value, step, MAX_IMAGE_SIZE) and value % step == 0
    return None if ok else (f"a multiple of 2**depth = {step} from {step} to {MAX_IMAGE_SIZE} "
                            "(the U-Net halves it depth times)")


def _lr(value: Any, _: TrainConfig) -> str | None:
    return None if _number(value) and value > 0 else "a finite number > 0 (e.g. 3e-3)"


def _weight_decay(value: Any, _: TrainConfig) -> str | None:
    return None if _number(value) and value >= 0 else "a finite number >= 0"


def _device(value: Any, _: TrainConfig) -> str | None:
    import torch

    allowed = f"auto, {', '.join(DEVICE_TYPES)} or cuda:N"
    if value == "auto":
        return None
    try:
        return None if torch.device(value).type in DEVICE_TYPES else allowed
    except (RuntimeError, TypeError):
        return allowed


def _synth(value: Any, _: TrainConfig) -> str | None:
    ok = isinstance(value, SynthSpec) and _whole(value.per_class, 1) and _whole(value.size, 16)
    return None if ok else "SynthSpec(per_class >= 1, size >= 16)"


def _models() -> Iterable[str]:
    from practical3.models import MODELS

    return MODELS


def _losses() -> Iterable[str]:
    from practical3.training.losses import LOSSES

    return LOSSES


def _precisions() -> Iterable[str]:
    from practical3.training.device import PRECISIONS

    return PRECISIONS


# What each TrainConfig setting allows: a rule returns None, or the allowed range in words.
RULES: dict[str, Rule] = {
    "profile": lambda v, _: None if isinstance(v, str) and v else "a profile's name",
    "part": _one_of(lambda: layout.PARTS),
    "image_size": _image_size,
    "base_channels": _at_least(1),
    "depth": _at_least(1),
    "model": _one_of(_models),
    "loss": _one_of(_losses),
    "epochs": _at_least(1),
    "batch_size": _at_least(1),
    "lr": _lr,
    "weight_decay": _weight_decay,
    "seed": lambda v, _: None if _whole(v, 0, MAX_SEED) else f"a whole number from 0 to {MAX_SEED}",
    "max_train_images": _none_or_at_least(1),
    "max_val_images": _none_or_at_least(1),
    "augment": _flag,
    "device": _device,
    "precision": _one_of(_precisions),
    "compile": _flag,
    "synth": _synth,
}


def validate(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` if every setting is in its range (``RULES``); else one ConfigError line naming
    each bad setting (as its command-line option) and what it allows. Training calls it before
    it touches a file, so a bad value leaves nothing behind."""
    problems = [f"--{name.replace('_', '-')} {getattr(cfg, name)!r}: {name} must be {allowed}"
                for name, rule in RULES.items()
                if (allowed := rule(getattr(cfg, name), cfg)) is not None]
    if problems:
        raise ConfigError("; ".join(problems))
    return cfg
