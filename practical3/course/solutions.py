"""The instructor's answers to every exercise, in one place, with a typical wrong answer each.

Each entry takes the context the notebook's answer cell passes to ``check_exercise`` and
returns the answer a student would write there; ``wrong`` is the usual mistake, which the
check must reject (``tests/test_course.py`` runs both through every check).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from practical3.models import build_model
from practical3.training.losses import ImageDiceLoss


@dataclass(frozen=True)
class Solution:
    """The right answer and a typical wrong one, each computed from the exercise's context."""

    right: Callable[..., Any]
    wrong: Callable[..., Any]


def _test_rows(index, part):
    return index[(index.part == part) & (index.split == "Test")]


SOLUTIONS: dict[str, Solution] = {
    # 01: len(index[(index.part == part) & (index.split == "Test") & (index.cls == "COVID-19")])
    "1.1": Solution(lambda index, part: int((_test_rows(index, part).cls == "COVID-19").sum()),
                    lambda index, part: len(_test_rows(index, part))),
    # every background pixel is right: 1 - the infection's share, averaged over COVID-19 images
    "1.2": Solution(lambda areas: 1 - areas[areas.cls == "COVID-19"].infection_area.mean(),
                    lambda areas: 0.0),
    # the healthy classes: their infection masks are empty
    "1.3": Solution(lambda index, part: int((_test_rows(index, part).cls != "COVID-19").sum()),
                    lambda index, part: int((_test_rows(index, part).cls == "Normal").sum())),
    "1.4": Solution(lambda: "b", lambda: "a"),
    # 1*16*9 + 2*16 + 16*16*9 + 2*16
    "2.1": Solution(lambda: 1 * 16 * 9 + 2 * 16 + 16 * 16 * 9 + 2 * 16,
                    lambda: 1 * 16 * 9 + 16 * 16 * 9),
    "2.2": Solution(lambda: (1, 16 * 2**4, 256 // 2**4, 256 // 2**4), lambda: (1, 128, 32, 32)),
    "2.3": Solution(lambda: build_model("unet", 1, 2, base_channels=8, depth=5),
                    lambda: build_model("unet", 1, 2, base_channels=8, depth=4)),
    "2.4": Solution(lambda: 2**5, lambda: 16),
    # 03: len(train_loader), i.e. ceil(images / batch size)
    "3.1": Solution(lambda loader: math.ceil(len(loader.dataset) / loader.batch_size),
                    lambda loader: len(loader.dataset)),
    "3.2": Solution(lambda: ImageDiceLoss().loss(torch.full((1, 1, 96, 96), -4.0),
                                                 torch.zeros(1, 1, 96, 96)).item(),
                    lambda: 0.0),
    # 2e-3 * (1 + cos(pi * 15 / 30)) / 2: epoch 16 starts after 15 scheduler steps
    "3.3": Solution(lambda: 2e-3 * (1 + math.cos(math.pi * 15 / 30)) / 2, lambda: 2e-3),
    # after more epochs (12 at demo): the best of the printed validation lung Dice
    "3.4": Solution(lambda val_dices: max(val_dices), lambda val_dices: min(val_dices)),
    # pred[3:6, 1:5]: TP 4, FP 8, FN 8
    "4.1": Solution(lambda: (2 * 4 / (2 * 4 + 8 + 8), 4 / (4 + 8 + 8)), lambda: (2 / 3, 0.5)),
    "4.2": Solution(
        lambda metrics: ({v["steps"]: v for v in metrics["ablation"]["variants"]}
                         ["infection_in_lung"]["infection_dice_imagewise"]
                         - metrics["ablation"]["variants"][0]["infection_dice_imagewise"]),
        lambda metrics: -({v["steps"]: v for v in metrics["ablation"]["variants"]}
                          ["infection_in_lung"]["infection_dice_imagewise"]
                          - metrics["ablation"]["variants"][0]["infection_dice_imagewise"])),
    # threshold_dice(prob, truth, 0.3)[0]
    "4.3": Solution(lambda prob, truth: float(_dice(prob > 0.3, truth)),
                    lambda prob, truth: float(_dice(prob > 0.5, truth))),
    # healthy = per_image[per_image.cls != "COVID-19"]; (healthy.pred_area_infection > 0).mean()
    "4.4": Solution(lambda per_image: (per_image[per_image.cls != "COVID-19"]
                                       .pred_area_infection > 0).mean(),
                    lambda per_image: (per_image.pred_area_infection > 0).mean()),
}


def _dice(pred, truth) -> float:
    """The lung's Dice (channel 0) of boolean masks (T, H, W), written out from the counts."""
    tp = (pred[0] & truth[0]).sum()
    return 2 * tp / (pred[0].sum() + truth[0].sum())
