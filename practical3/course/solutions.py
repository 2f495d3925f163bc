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
from torch import nn

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
    "1.4": Solution(lambda: "b", lambda: "c"),
    "1.5": Solution(lambda: counts, lambda: _counts_without_tn),
    # 1*16*9 + 2*16 + 16*16*9 + 2*16
    "2.1": Solution(lambda: 1 * 16 * 9 + 2 * 16 + 16 * 16 * 9 + 2 * 16,
                    lambda: 1 * 16 * 9 + 16 * 16 * 9),
    "2.2": Solution(lambda: (1, 16 * 2**4, 256 // 2**4, 256 // 2**4), lambda: (1, 128, 32, 32)),
    "2.3": Solution(lambda: build_model("unet", 1, 2, base_channels=8, depth=5),
                    lambda: build_model("unet", 1, 2, base_channels=8, depth=4)),
    # in eval mode; 64 is what train mode accepts for one image (BatchNorm at a 1x1 bottleneck)
    "2.4": Solution(lambda: 2**5, lambda: 64),
    "2.5": Solution(lambda: MyDoubleConv, lambda: _DoubleConvWithBias),
    # 03: len(train_loader), i.e. ceil(images / batch size)
    "3.1": Solution(lambda loader: math.ceil(len(loader.dataset) / loader.batch_size),
                    lambda loader: len(loader.dataset)),
    "3.2": Solution(lambda: ImageDiceLoss().loss(torch.full((1, 1, 96, 96), -4.0),
                                                 torch.zeros(1, 1, 96, 96)).item(),
                    lambda: 0.0),
    # epoch E = epochs // 2 + 1 starts after E - 1 scheduler steps: lr (1 + cos(pi (E-1)/T)) / 2
    "3.3": Solution(lambda cfg: cfg.lr * (1 + math.cos(math.pi * (cfg.epochs // 2) / cfg.epochs))
                    / 2, lambda cfg: cfg.lr),
    # the rates of a loop with CosineAnnealingLR(optimizer, T_max=epochs), stepped per epoch
    "3.4": Solution(lambda lr, epochs: cosine_rates(lr, epochs), lambda lr, epochs: [lr] * epochs),
    "3.5": Solution(lambda: batch_soft_dice, lambda: _soft_dice_per_image),
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
    "4.5": Solution(lambda: dice_iou, lambda: _dice_iou_zero_when_empty),
}


def cosine_rates(lr, epochs):
    """The rate of each epoch of a loop with CosineAnnealingLR(optimizer, T_max=epochs),
    stepped after every epoch."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    rates = []
    for _ in range(epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def counts(pred, truth):
    """TP, FP, FN and TN of a boolean prediction against the truth (2-D arrays)."""
    tp = int((pred & truth).sum())
    fp = int((pred & ~truth).sum())
    fn = int((~pred & truth).sum())
    return tp, fp, fn, pred.size - tp - fp - fn


def _counts_without_tn(pred, truth):
    return int((pred & truth).sum()), int((pred & ~truth).sum()), int((~pred & truth).sum()), 0


class MyDoubleConv(nn.Sequential):
    """Two (3x3 conv without bias, BatchNorm, ReLU): the padding keeps the size."""

    def __init__(self, in_channels, out_channels):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU())


class _DoubleConvWithBias(nn.Sequential):
    def __init__(self, in_channels, out_channels):
        super().__init__(nn.Conv2d(in_channels, out_channels, 3, padding=1),
                         nn.BatchNorm2d(out_channels), nn.ReLU(),
                         nn.Conv2d(out_channels, out_channels, 3, padding=1),
                         nn.BatchNorm2d(out_channels), nn.ReLU())


def batch_soft_dice(logits, target, eps=1e-5):
    """1 - soft Dice per target, pooled over the batch; targets empty in the whole batch left
    out, 0 when none is present."""
    p = torch.sigmoid(logits)
    intersection = (p * target).sum(dim=(0, 2, 3))
    truth = target.sum(dim=(0, 2, 3))
    dice = (2 * intersection + eps) / (p.sum(dim=(0, 2, 3)) + truth + eps)
    present = truth > 0
    return (1 - dice[present]).mean() if present.any() else torch.tensor(0.0)


def _soft_dice_per_image(logits, target, eps=1e-5):
    p = torch.sigmoid(logits)
    dice = (2 * (p * target).sum(dim=(2, 3)) + eps) / (p.sum(dim=(2, 3)) + target.sum(
        dim=(2, 3)) + eps)
    return (1 - dice).mean()


def dice_iou(tp, fp, fn):
    """Dice and IoU from one image's counts; both nan (undefined) when truth and prediction
    are empty."""
    if tp + fp + fn == 0:
        return float("nan"), float("nan")
    return 2 * tp / (2 * tp + fp + fn), tp / (tp + fp + fn)


def _dice_iou_zero_when_empty(tp, fp, fn):
    return (2 * tp / max(2 * tp + fp + fn, 1), tp / max(tp + fp + fn, 1))


def _dice(pred, truth) -> float:
    """The lung's Dice (channel 0) of boolean masks (T, H, W), written out from the counts."""
    tp = (pred[0] & truth[0]).sum()
    return 2 * tp / (pred[0].sum() + truth[0].sum())


# The answers to each notebook's questionnaire, in the order of its questions (the notebook
# holds the questions, under "## Questionnaire"; the instructor's copy shows these below them).
QUESTIONNAIRE: dict[str, tuple[str, ...]] = {
    "01": (
        "Parts (Infection Segmentation Data, Lung Segmentation Data), then splits (Train, Val, "
        "Test), then classes (COVID-19, Non-COVID, Normal); only the Infection part has "
        "infection masks.",
        "A name says nothing about the content: a file can be unreadable, a mask can have "
        "another size than its image or values other than 0 and 255; decoding every file "
        "finds them before training does.",
        "Non-COVID and Normal: their infection masks are empty, so a perfect prediction gives "
        "0/0, an undefined Dice, and any predicted pixel gives 0.",
        "The infection is a minority of an image's pixels, so predicting background everywhere "
        "is right on most pixels; the Dice of that prediction is 0.",
        "On the twin the infection covers a small share of the lung; on real COVID-QU-Ex a "
        "median of about half the lung, often all of it: a sentence about the data is true only "
        "of the data it names, so the notebook computes it from the data in view.",
        "A chest X-ray is not left-right symmetric (heart, aortic arch, liver): a flipped film "
        "shows an anatomy the test set never contains.",
    ),
    "02": (
        "Two 3x3 convs with padding 1 keep the height and width; the conv has no bias because "
        "the BatchNorm right after it adds one.",
        "Down halves height and width (2x2 max pool) and doubles the channels; Up doubles height "
        "and width (2x2 transposed conv), halves the channels, and concatenates the skip.",
        "The encoder's features at full detail, at the same size as the upsampled decoder "
        "signal: the bottleneck knows what is there, the skip where its edges are.",
        "Each level halves the size; after depth halvings every level must still be a whole "
        "number of pixels, or the decoder's output no longer matches its skip.",
        "In the deepest levels: a 3x3 conv has C_in * C_out * 9 weights and the channels double "
        "at every level, so the bottleneck and the decoder above it hold most of them.",
        "In train mode BatchNorm normalises with the batch's own statistics, which need more "
        "than one value per channel; one image with a 1x1 bottleneck has one value.",
    ),
    "03": (
        "How many samples there are (__len__) and what sample i is (__getitem__).",
        "The forward pass, the loss, loss.backward() for the gradients, optimizer.step() for "
        "the update (after optimizer.zero_grad()).",
        "eval() makes BatchNorm use its running statistics instead of the batch's; no_grad() "
        "keeps no graph, so validation is cheaper and changes nothing.",
        "A module's weights live on one device and every tensor it meets must be there too; on "
        "a GPU, a batch left on the CPU raises an error (and the GPU would sit idle).",
        "The learning rate: it falls from lr to 0 along a half cosine, so the early epochs move "
        "far and the last ones settle into a minimum.",
        "The model, the optimizer's moments, the scheduler, the gradient scaler, the random "
        "states and the history: everything the next epoch depends on, so it continues as if "
        "never stopped.",
    ),
    "04": (
        "Dice = 2TP / (2TP + FP + FN), IoU = TP / (TP + FP + FN); Dice = 2 IoU / (1 + IoU), "
        "which is at least IoU for IoU in [0, 1].",
        "Imagewise: the mean over images of each image's score (where it is defined); dataset: "
        "pool the counts of every image, then one ratio, so large masks weigh more.",
        "TP + FP + FN = 0 there: 0/0. The imagewise mean leaves such an image out; the healthy "
        "false-positive rate, and the imagewise mean over every class, count the errors.",
        "A lower threshold grows every mask: fewer false negatives, more false positives; a "
        "higher one the reverse.",
        "A score at the training size would judge a resized mask, not the image's own pixels; "
        "the native size is what a clinician's mask is drawn on.",
        "Only where it raises the Val score beyond noise. infection_in_lung clears infection "
        "outside the predicted lung, which removes true infection where the predicted lung "
        "misses part of the true one.",
    ),
}
