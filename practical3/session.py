"""What a notebook or ``make figures`` starts from: the profile (and why), the data, the folders.

Profile ``auto`` follows one table (``training.profiles.AUTO``): a GPU runs the report's
``full`` protocol, on the real data when a copy is present and on the synthetic twin
otherwise; a CPU runs ``laptop`` on real data and the ``demo`` on the twin.
``$PRACTICAL3_PROFILE`` or ``start("name")`` picks a profile by name; the test suite asks for
``smoke``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from practical3.base.paths import PROFILE_ENV, data_dir, profile_name, runs_folder
from practical3.data import layout
from practical3.data.index import build_index
from practical3.data.sources import describe, is_synthetic, real_data_root
from practical3.data.synth import synthesize
from practical3.training.config import TrainConfig
from practical3.training.profiles import PROFILES, automatic, profile, sizes
from practical3.training.runs import default_run_dir, identify


def choose_profile(name: str, data: str | Path | None) -> TrainConfig:
    """The named profile, or for ``auto`` the one ``profiles.AUTO`` gives the device and data."""
    return explain_profile(name, data)[0]


def explain_profile(name: str, data: str | Path | None) -> tuple[TrainConfig, str]:
    """The profile for ``name`` (``auto`` or a profile's name) and why it was chosen."""
    if name != "auto":
        return profile(name), "chosen by name"
    import torch

    real = (not is_synthetic(data)) if data is not None else real_data_root() is not None
    cfg, why = automatic(torch.cuda.is_available(), real)
    return cfg, f"auto: {why}"


def default_data_root(cfg: TrainConfig) -> Path:
    """The data a notebook uses: a real copy when one is present, else the profile's synthetic
    twin in ``data/synthetic-<profile>`` (written on first use, reused after)."""
    real = real_data_root()
    if real is not None:
        return real
    spec = cfg.synth
    return synthesize(data_dir() / f"synthetic-{cfg.profile}", per_class=spec.per_class,
                      size=spec.size, seed=spec.seed)


def parts_to_train(data_root: str | Path) -> list[str]:
    """The parts the copy holds, in layout order; a synthetic twin trains its Infection part
    only (when it has one)."""
    held = [part for part in layout.PARTS if part in set(build_index(data_root)["part"])]
    return ["infection"] if is_synthetic(data_root) and "infection" in held else held


def run_dir_for(cfg: TrainConfig, data_root: str | Path, runs: str | Path | None = None) -> Path:
    """The run folder of ``cfg`` on ``data_root``: ``<runs>/<profile>-<part>-<run id>``, the id
    from the config and the data's fingerprint, so other settings or data get another folder
    (``runs`` defaults to ``runs/``, or ``$PRACTICAL3_RUNS``)."""
    return default_run_dir(cfg, identify(cfg, data_root).run_id, runs)


@dataclass(frozen=True)
class Session:
    """A notebook's settings: the profile and why, the data, where its run and figures go
    (``run_dir`` is worked out once, by ``start``: it indexes and fingerprints the data)."""

    cfg: TrainConfig
    reason: str
    data_root: Path
    device: str
    run_dir: Path
    runs: Path
    gpus: int = 1  # data-parallel workers: every GPU when the device is CUDA and none is named

    @property
    def figures_dir(self) -> Path:
        """Where a notebook saves its figures: never ``figures/`` (``make figures`` owns it)."""
        return self.runs / "notebook-figures" / self.cfg.profile

    @property
    def label(self) -> str:
        """What every figure of this session carries: the data's label and credit."""
        return describe(self.data_root).stamp

    def __str__(self) -> str:
        cfg = self.cfg
        others = ", ".join(p for p in PROFILES if p != cfg.profile)
        return "\n".join([
            f"profile {cfg.profile} ({self.reason}): {sizes(cfg)}, {cfg.part} part, "
            f"on {self.device}" + (f", {self.gpus} GPUs: ensure_trained(..., gpus=session.gpus) "
                                   "trains on all of them" if self.gpus > 1 else ""),
            describe(self.data_root).label,
            f"data: {self.data_root}",
            f"another profile: session = start(\"NAME\") with NAME one of {others}",
        ])


def start(name: str | None = None, data: str | Path | None = None,
          runs: str | Path | None = None) -> Session:
    """The session a notebook runs: profile ``name``, else ``$PRACTICAL3_PROFILE``, else
    ``auto``; the data ``data``, else a real copy when one is present, else the twin; its run
    under ``runs`` (default ``runs/``, or ``$PRACTICAL3_RUNS``)."""
    from_environment = profile_name() if name is None else None
    cfg, reason = explain_profile(name or from_environment or "auto", data)
    if from_environment:
        reason = f"from ${PROFILE_ENV}"
    from practical3.training.device import resolve_device

    device = resolve_device(cfg.device)  # an unusable GPU is named here, before any work
    root = Path(data) if data is not None else default_data_root(cfg)
    cfg = cfg.replace(part=parts_to_train(root)[0])
    runs = Path(runs) if runs is not None else runs_folder()
    return Session(cfg, reason, root, str(device), run_dir_for(cfg, root, runs), runs,
                   gpus_to_use(device))


def gpus_to_use(device: torch.device) -> int:
    """How many GPUs a session trains on: all of them for ``cuda`` (one data-parallel worker
    each, docs/distributed.md), one for a named ``cuda:N`` or a CPU."""
    return torch.cuda.device_count() if device.type == "cuda" and device.index is None else 1
