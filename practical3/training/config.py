"""Run settings: one frozen config object per training run, and the named profiles.

Every size, epoch count and seed a run uses comes from a ``TrainConfig``; the profile names
are the only presets. A run folder stores its config, so a result always says how it was made.
"""

from __future__ import annotations

import dataclasses
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


PROFILES: dict[str, TrainConfig] = {
    # CPU, seconds, tiny synthetic data: unit tests and nbval.
    "smoke": TrainConfig(
        profile="smoke", image_size=64, base_channels=8, epochs=2, batch_size=8,
        synth=SynthSpec(per_class=4, size=64),
    ),
    # CPU, a few minutes: what `make figures` trains when no real data or GPU is present.
    "demo": TrainConfig(
        profile="demo", image_size=96, base_channels=16, epochs=30, batch_size=12, lr=2e-3,
        synth=SynthSpec(per_class=40, size=128),
    ),
    # CPU laptop, within the hour: a subset of the real data at reduced size.
    "laptop": TrainConfig(
        profile="laptop", image_size=128, base_channels=32, epochs=10, batch_size=16,
        max_train_images=900, max_val_images=300, synth=SynthSpec(per_class=100, size=128),
    ),
    # The report's protocol: Infection part, 256x256, 30 epochs, on a GPU.
    "full": TrainConfig(
        profile="full", image_size=256, base_channels=64, epochs=30, batch_size=32,
        device="cuda", synth=SynthSpec(per_class=200, size=256),
    ),
}


def profile(name: str) -> TrainConfig:
    """The profile called ``name``."""
    if name not in PROFILES:
        raise ConfigError(f"unknown profile {name!r}: choose one of {', '.join(PROFILES)}")
    return PROFILES[name]
