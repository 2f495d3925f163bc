"""Post-processing of binary predictions, each step switchable (nnU-Net's rule: a step is on
only where the validation split shows that it helps).

- ``keep_two_lungs``: keep the two largest lung components (two lungs are two components, so
  "keep the largest" must keep two), dropping stray blobs.
- ``fill_lung_holes``: a lung field has no holes; fill those the prediction leaves.
- ``infection_in_lung``: infection can only lie inside the lungs; clear it elsewhere.
- ``remove_specks``: drop infection components smaller than ``min_speck_fraction`` of the
  image's area, and never smaller than ``MIN_SPECK_PIXELS``: it runs at each image's native
  size, so a speck means the same share of a film at any resolution.

``choose_steps`` keeps, greedily, each step that raises the Val score beyond noise
(``scoring.selection``). ``evaluate`` writes the steps it chose on Val beside the checkpoint, as
``RUN_DIR/postprocessing.json`` (``save_choice``), with the run id and epoch they were chosen
for; ``predict`` applies them to that checkpoint only (``load_choice``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from practical3.base.atomic import write_text
from practical3.base.errors import RunError
from practical3.scoring.selection import (
    beyond_noise,
    resampled_selection_score,
    selection_score,
)
from practical3.scoring.uncertainty import bootstrap_weights

STEPS = ("keep_two_lungs", "fill_lung_holes", "infection_in_lung", "remove_specks")
MIN_SPECK_PIXELS = 5
POSTPROCESSING_FILE = "postprocessing.json"  # in the run folder, beside best.pt


@dataclass(frozen=True)
class PostProcess:
    """Which steps run; all off is the raw thresholded prediction."""

    keep_two_lungs: bool = False
    fill_lung_holes: bool = False
    infection_in_lung: bool = False
    remove_specks: bool = False
    min_speck_fraction: float = 1e-4  # ~7 px at 256x256

    def with_steps(self, steps: tuple[str, ...]) -> PostProcess:
        """A copy with exactly ``steps`` switched on."""
        return dataclasses.replace(self, **{step: step in steps for step in STEPS})

    @property
    def steps(self) -> tuple[str, ...]:
        return tuple(step for step in STEPS if getattr(self, step))

    @property
    def name(self) -> str:
        return " + ".join(self.steps) or "none"

    def record(self) -> dict[str, Any]:
        """What ``metrics.json`` stores: the display name, the steps and the speck size."""
        return {"chosen": self.name, "steps": list(self.steps),
                "min_speck_fraction": self.min_speck_fraction}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> PostProcess:
        """The post-processing a ``record()`` describes."""
        return cls(min_speck_fraction=record["min_speck_fraction"]).with_steps(
            tuple(record["steps"]))


def keep_largest_components(mask: np.ndarray, keep: int) -> np.ndarray:
    """The ``keep`` largest 8-connected components of a 2-D boolean mask."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    if count <= keep:
        return mask.astype(bool)
    sizes = np.bincount(labels.ravel())[1:]
    kept = np.argsort(sizes)[::-1][:keep] + 1
    return np.isin(labels, kept)


def remove_small_components(mask: np.ndarray, min_size: int) -> np.ndarray:
    """Drop 8-connected components of a 2-D boolean mask with fewer than ``min_size`` pixels."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    if count == 0:
        return mask.astype(bool)
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_size
    keep[0] = False
    return keep[labels]


def min_speck_pixels(steps: PostProcess, height: int, width: int) -> int:
    """The smallest infection component kept in an image of ``height`` x ``width`` pixels."""
    return max(MIN_SPECK_PIXELS, round(steps.min_speck_fraction * height * width))


def apply_one(masks: np.ndarray, targets: tuple[str, ...], steps: PostProcess) -> np.ndarray:
    """Post-process one image's boolean masks ``(T, H, W)`` whose channels are ``targets``."""
    out = masks.astype(bool, copy=True)
    lung = targets.index("lung") if "lung" in targets else None
    infection = targets.index("infection") if "infection" in targets else None
    if steps.keep_two_lungs and lung is not None:
        out[lung] = keep_largest_components(out[lung], keep=2)
    if steps.fill_lung_holes and lung is not None:
        out[lung] = ndimage.binary_fill_holes(out[lung])
    if steps.infection_in_lung and lung is not None and infection is not None:
        out[infection] &= out[lung]
    if steps.remove_specks and infection is not None:
        out[infection] = remove_small_components(
            out[infection], min_speck_pixels(steps, *out.shape[-2:]))
    return out


def apply(pred: Sequence[np.ndarray], targets: tuple[str, ...], steps: PostProcess
          ) -> list[np.ndarray] | np.ndarray:
    """Post-process every image's masks (each ``(T, H, W)``, sizes may differ); a batch array
    ``(N, T, H, W)`` comes back as one."""
    out = [apply_one(masks, targets, steps) for masks in pred]
    return np.stack(out) if isinstance(pred, np.ndarray) else out


def applicable_steps(targets: tuple[str, ...]) -> tuple[str, ...]:
    """The steps that mean something for a model predicting ``targets``."""
    needs = {"keep_two_lungs": {"lung"}, "fill_lung_holes": {"lung"},
             "infection_in_lung": {"lung", "infection"}, "remove_specks": {"infection"}}
    return tuple(step for step in STEPS if needs[step] <= set(targets))


def choose_steps(pred: Sequence[np.ndarray], truth: Sequence[np.ndarray],
                 targets: tuple[str, ...], groups: Sequence[str] | None = None
                 ) -> tuple[PostProcess, list[dict[str, Any]]]:
    """Greedy, nnU-Net style, under ``selection.SELECTION_RULE``: each applicable step is tried
    on top of those kept and stays on only for a gain beyond noise; returns the steps kept and
    every trial. ``groups`` are resampled together (default: each image alone)."""
    weights = bootstrap_weights(groups if groups is not None else range(len(pred)))
    chosen = PostProcess()
    best = selection_score(pred, truth, targets)
    best_draws = resampled_selection_score(pred, truth, weights)
    trials: list[dict[str, Any]] = [{"steps": "none", "score": best, "kept": True}]
    for step in applicable_steps(targets):
        candidate = chosen.with_steps((*chosen.steps, step))
        processed = apply(pred, targets, candidate)
        value = selection_score(processed, truth, targets)
        draws = resampled_selection_score(processed, truth, weights)
        noise, kept = beyond_noise(value - best, draws - best_draws)
        trials.append({"steps": candidate.name, "score": value, "gain": value - best,
                       "gain_standard_error": noise, "kept": kept})
        if kept:
            chosen, best, best_draws = candidate, value, draws
    return chosen, trials


def save_choice(run_dir: str | Path, chosen: PostProcess, state: dict[str, Any],
                selection: dict[str, Any]) -> Path:
    """Write ``RUN_DIR/postprocessing.json`` atomically: the steps chosen on Val for the
    checkpoint ``state`` (its run id and epoch) and how they were chosen."""
    record = {"run_id": state["run_id"], "epoch": state["epoch"], **chosen.record(),
              "selection": selection}
    return write_text(Path(run_dir) / POSTPROCESSING_FILE, json.dumps(record, indent=2) + "\n")


def load_choice(run_dir: str | Path, state: dict[str, Any]) -> tuple[PostProcess, str]:
    """The post-processing chosen on Val for the checkpoint ``state`` and one line saying
    which, or all steps off and why none applies."""
    path = Path(run_dir) / POSTPROCESSING_FILE
    if not path.is_file():
        return PostProcess(), (f"post-processing: none (no {POSTPROCESSING_FILE} beside the "
                               "checkpoint: `practical3 evaluate` chooses it on Val)")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        chosen = PostProcess.from_record(record)
        chosen_for = (record["run_id"], record["epoch"])
    except (ValueError, KeyError, TypeError) as err:
        raise RunError(f"{path}: not a post-processing record ({err}); run `practical3 "
                       "evaluate` on this checkpoint again to rewrite it, or delete it") from err
    if chosen_for != (state["run_id"], state["epoch"]):
        return PostProcess(), (f"post-processing: none ({path} was chosen for run "
                               f"{chosen_for[0]} epoch {chosen_for[1]}, not this checkpoint's "
                               f"run {state['run_id']} epoch {state['epoch']}: evaluate it again)")
    if not chosen.steps:
        return chosen, f"post-processing: none (no step beat the noise on Val; {path})"
    return chosen, f"post-processing: {chosen.name} (chosen on Val, {path})"
