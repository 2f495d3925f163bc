"""Post-processing of binary predictions, each step switchable (nnU-Net's rule: a step is on
only where the validation split shows that it helps).

- ``keep_two_lungs``: keep the two largest lung components (two lungs are two components, so
  "keep the largest" must keep two), dropping stray blobs.
- ``infection_in_lung``: infection can only lie inside the lungs; clear it elsewhere.
- ``remove_specks``: drop infection components smaller than ``min_speck_fraction`` of the image.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

STEPS = ("keep_two_lungs", "infection_in_lung", "remove_specks")


@dataclass(frozen=True)
class PostProcess:
    """Which steps run; all off is the raw thresholded prediction."""

    keep_two_lungs: bool = False
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


def apply(pred: np.ndarray, targets: tuple[str, ...], steps: PostProcess) -> np.ndarray:
    """Post-process a boolean batch ``(N, T, H, W)`` whose channels are ``targets``."""
    out = pred.astype(bool, copy=True)
    lung = targets.index("lung") if "lung" in targets else None
    infection = targets.index("infection") if "infection" in targets else None
    min_size = max(1, round(steps.min_speck_fraction * pred.shape[-1] * pred.shape[-2]))
    for i in range(len(out)):
        if steps.keep_two_lungs and lung is not None:
            out[i, lung] = keep_largest_components(out[i, lung], keep=2)
        if steps.infection_in_lung and lung is not None and infection is not None:
            out[i, infection] &= out[i, lung]
        if steps.remove_specks and infection is not None:
            out[i, infection] = remove_small_components(out[i, infection], min_size)
    return out


def applicable_steps(targets: tuple[str, ...]) -> tuple[str, ...]:
    """The steps that mean something for a model predicting ``targets``."""
    needs = {"keep_two_lungs": {"lung"}, "infection_in_lung": {"lung", "infection"},
             "remove_specks": {"infection"}}
    return tuple(step for step in STEPS if needs[step] <= set(targets))
