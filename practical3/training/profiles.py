"""The named profiles, the one home of their facts: each profile's settings (``PROFILES``),
which one ``auto`` picks for a device and a copy of the data (``AUTO``), and the table every
notebook and document shows (``profile_table``, printed from here or held to it by a test).
"""

from __future__ import annotations

from practical3.base.errors import ConfigError
from practical3.data import layout
from practical3.training.config import SynthSpec, TrainConfig

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
    # CPU with real data, about 15 minutes on 2 idle cores at bf16 (channels_last): chosen on Val
    # by benchmarks/real_cpu_protocol.py (candidate D of the bf16 screen).
    "laptop": TrainConfig(
        profile="laptop", image_size=128, base_channels=16, epochs=20, batch_size=16,
        max_train_images=3000, max_val_images=400, synth=SynthSpec(per_class=100, size=128),
    ),
    # The GPU protocol (report/gpu/ when run on real data): Infection part, 256x256, 30 epochs.
    "full": TrainConfig(
        profile="full", image_size=256, base_channels=64, epochs=30, batch_size=32,
        device="cuda", synth=SynthSpec(per_class=200, size=256),
    ),
}

# The fields a profile fixes and no command overrides: the profile is chosen by name, and the
# twin's size comes with it.
PROFILE_FIELDS = ("profile", "synth")

# (a CUDA GPU?, real data?) -> the profile ``auto`` picks, and why.
AUTO: dict[tuple[bool, bool], tuple[str, str]] = {
    (True, True): ("full", "a GPU and real data: the GPU protocol"),
    (True, False): ("full", "a GPU but no real data: the GPU protocol on the synthetic twin"),
    (False, True): ("laptop", "real data but no GPU: the CPU protocol of the committed real "
                              "report"),
    (False, False): ("demo", "no GPU and no real data: the CPU demo on the synthetic twin"),
}


def profile(name: str) -> TrainConfig:
    """The profile called ``name``.

    Example: ``profile("demo").epochs`` is the demo's epoch count.
    """
    if name not in PROFILES:
        raise ConfigError(f"unknown profile {name!r}: choose one of {', '.join(PROFILES)}")
    return PROFILES[name]


def automatic(gpu: bool, real: bool) -> tuple[TrainConfig, str]:
    """The profile ``auto`` picks with (or without) a CUDA GPU and real data, and why."""
    name, why = AUTO[gpu, real]
    return profile(name), why


def profile_table() -> str:
    """``AUTO`` as a Markdown table: device, data, profile, why, and the profile's settings."""
    lines = ["| device | real data | profile | why | settings |", "|---|---|---|---|---|"]
    for (gpu, real), (name, why) in AUTO.items():
        cfg = profile(name)
        lines.append(f"| {'GPU' if gpu else 'CPU'} | {'yes' if real else 'no'} | `{name}` | "
                     f"{why} | {sizes(cfg)}; {trains_on(cfg, real)} |")
    return "\n".join(lines)


def sizes(cfg: TrainConfig) -> str:
    """A profile's sizes in a few words: image side, base channels, epochs, batch."""
    return (f"{cfg.image_size} px, base {cfg.base_channels}, {cfg.epochs} epochs, "
            f"batch {cfg.batch_size}")


def trains_on(cfg: TrainConfig, real: bool) -> str:
    """What a profile trains on: the real copy (all of it, or its subset), or its twin."""
    if not real:
        return f"the synthetic twin ({len(layout.CLASSES) * cfg.synth.per_class} Train images)"
    if cfg.max_train_images is None:
        return "every image of the real copy"
    return f"a {cfg.max_train_images} + {cfg.max_val_images} image subset of the real copy"
