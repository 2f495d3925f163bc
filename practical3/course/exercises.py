"""The exercises of the four notebooks, each with a check that gives feedback.

A notebook's answer cell calls ``check_exercise("2.1", answer, *context)``: with ``answer``
still ``None`` it says "not yet" and gives the hint; otherwise the check recomputes the right
value (from the ``context`` the cell passes: the session's data, the run's results) and says
whether the answer matches, and if not, what the usual mistake is. A numeric answer is right
within half a unit of the last place the question asks for (``ROUNDING``), so a student who
rounds as asked is never rejected. Write-the-function exercises (``course.functions``) run the
student's function against the package's own. The instructor's answers are in
``course.solutions``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from practical3.course.functions import TASKS, judge_function
from practical3.data import layout
from practical3.models import MODELS, SegmentationNet
from practical3.models.blocks import DoubleConv
from practical3.models.inspection import count_parameters
from practical3.scoring.metrics import confusion_counts, dice_from_counts
from practical3.training.config import TrainConfig
from practical3.training.losses import ImageDiceLoss

Verdict = tuple[bool, str]


@dataclass(frozen=True)
class Exercise:
    """One exercise: its title (the notebook's heading), a hint, and the check of an answer."""

    key: str
    title: str
    hint: str
    check: Callable[..., Verdict]  # (answer, *context) -> (right?, what to say)


@dataclass(frozen=True)
class Feedback:
    """What a check says about one answer."""

    key: str
    right: bool
    message: str

    def __str__(self) -> str:
        verdict = "right" if self.right else "not yet"
        return f"Exercise {self.key}: {verdict}. {self.message}"


def _number(answer: Any) -> float:
    """An answer as a float (a 0-d tensor or numpy scalar too); ValueError if it is not one."""
    if isinstance(answer, bool) or not isinstance(answer, int | float | np.number | torch.Tensor):
        raise ValueError(f"expected a number, got {type(answer).__name__}")
    return float(answer)


# Half a unit of the last place asked for, and a little more for the float's own error.
ROUNDING = {"two decimals": 0.005 + 1e-9, "three decimals": 0.0005 + 1e-9,
            "four decimals": 0.00005 + 1e-9}


def _close(answer: Any, expected: float, rel: float = 1e-3, abs_: float = 1e-6) -> bool:
    return math.isclose(_number(answer), expected, rel_tol=rel, abs_tol=abs_)


def _rounded(answer: Any, expected: float, places: str) -> bool:
    """Whether ``answer`` is ``expected`` rounded to ``places`` (a key of ``ROUNDING``)."""
    return math.isclose(_number(answer), expected, rel_tol=0, abs_tol=ROUNDING[places])


# Notebook 01: the data.

def _test_count(index: pd.DataFrame, part: str, classes: tuple[str, ...]) -> int:
    rows = index[(index["part"] == part) & (index["split"] == "Test")]
    return int(rows["cls"].isin(classes).sum())


def check_1_1(answer: Any, index: pd.DataFrame, part: str) -> Verdict:
    expected = _test_count(index, part, ("COVID-19",))
    if _number(answer) == expected:
        return True, f"{expected} COVID-19 images in the Test split of {layout.PARTS[part]}."
    if _number(answer) == _test_count(index, part, layout.CLASSES):
        return False, "That counts every class of the Test split: keep COVID-19 only."
    if _number(answer) == int(((index["part"] == part) & (index["cls"] == "COVID-19")).sum()):
        return False, "That counts COVID-19 images of every split: keep Test only."
    return False, "Filter on both columns, split and cls, then count the rows."


def check_1_2(answer: Any, areas: pd.DataFrame) -> Verdict:
    covid = areas[areas["cls"] == "COVID-19"]["infection_area"]
    if covid.isna().all():
        return True, "This copy has no infection masks (Lung part): nothing to compute."
    share = float(covid.mean())
    expected = 1 - share
    if _rounded(answer, expected, "two decimals"):
        return True, (f"{expected:.3f}: right on {expected:.1%} of the pixels while finding no "
                      f"infection at all (the infection covers {share:.1%} of an image here, on "
                      "average): pixel accuracy hides what the model misses, its infection Dice "
                      "is 0.")
    if _rounded(answer, 0.0, "two decimals"):
        return False, ("Accuracy counts every pixel, background included: the background "
                       "pixels are all right.")
    if _rounded(answer, share, "two decimals"):
        return False, "That is the share the model gets wrong; accuracy is the share it gets right."
    if _rounded(answer, 1.0, "two decimals"):
        return False, "The infection pixels are predicted as background: those are wrong."
    return False, ("Per image, accuracy = 1 - infection_area; average it over the COVID-19 "
                   "images and round to two decimals.")


def check_1_3(answer: Any, index: pd.DataFrame, part: str) -> Verdict:
    expected = _test_count(index, part, ("Non-COVID", "Normal"))
    if _number(answer) == expected:
        return True, (f"{expected} healthy Test images: a perfect model predicts no infection "
                      "there, Dice is 0/0, and the imagewise mean leaves them out (notebook 04).")
    if _number(answer) == _test_count(index, part, ("Non-COVID",)) or \
            _number(answer) == _test_count(index, part, ("Normal",)):
        return False, "Two classes have empty infection masks, not one."
    return False, "Which classes have an empty infection mask? Count their Test images."


def check_1_4(answer: Any) -> Verdict:
    choice = str(answer).strip().lower()
    if choice == "b":
        return True, ("A chest X-ray is not left-right symmetric (heart, aortic arch, liver "
                      "side): a flipped film shows an anatomy that training should not invent.")
    if choice == "a":
        return False, ("The lung mask is one channel for both lungs (layout.TARGETS), so a "
                       "flip of image and masks together keeps every label right.")
    if choice == "c":
        return False, ("A learnt 3x3 kernel is not mirror-symmetric: the network's output on a "
                       "flipped image is not the flipped output, so a flip would teach it "
                       "something.")
    return False, "Answer 'a', 'b' or 'c'; look at an example image: are its halves mirror images?"


# Notebook 02: the U-Net.

def check_2_1(answer: Any) -> Verdict:
    expected = count_parameters(DoubleConv(1, 16))
    if _number(answer) == expected:
        return True, (f"{expected} = 1*16*9 + 2*16 + 16*16*9 + 2*16: two 3x3 convs without bias "
                      "and two BatchNorms (a weight and a bias per channel; running statistics "
                      "are buffers, not parameters).")
    if _number(answer) == expected - 64:
        return False, "You left out the BatchNorms: each has a weight and a bias per channel."
    if _number(answer) == expected + 32:
        return False, "The convs have no bias (bias=False): the BatchNorm after them adds one."
    return False, "A 3x3 conv from C_in to C_out channels has C_in*C_out*9 weights."


def check_2_2(answer: Any) -> Verdict:
    expected = (1, 256, 16, 16)
    try:
        found = tuple(int(v) for v in answer)
    except TypeError:
        return False, "Answer with a shape: a tuple of four numbers (N, C, H, W)."
    if found == expected:
        return True, ("Four halvings: 256 / 2**4 = 16 pixels a side, and 16 * 2**4 = 256 "
                      "channels: the bottleneck trades resolution for features.")
    if found[1:] == (128, 32, 32):
        return False, "That is the deepest encoder; the bottleneck is one more Down below it."
    return False, "Each Down halves height and width and doubles the channels; count the Downs."


ASKED_2_3 = {"in_channels": 1, "out_channels": 2, "base_channels": 8, "depth": 5}


def _sizes(model: SegmentationNet) -> dict[str, int]:
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    return {"in_channels": convs[0].in_channels, "out_channels": convs[-1].out_channels,
            "base_channels": model.widths[0], "depth": model.depth}


def check_2_3(answer: Any) -> Verdict:
    if not isinstance(answer, SegmentationNet):
        return False, "Answer with a model: build_model(...) returns one."
    if type(answer) is not MODELS["unet"]:
        return False, f"That is a {type(answer).__name__}; build the plain 'unet'."
    wrong = [f"{name} {value} (asked: {ASKED_2_3[name]})"
             for name, value in _sizes(answer).items() if value != ASKED_2_3[name]]
    if wrong:
        return False, "Build it as asked: " + ", ".join(wrong) + "."
    with torch.no_grad():
        out = answer.eval()(torch.zeros(1, 1, 64, 64))
    if tuple(out.shape) != (1, 2, 64, 64):
        return False, f"The output is {tuple(out.shape)}: it should be (1, 2, 64, 64)."
    total = count_parameters(answer)
    added = total - count_parameters(MODELS["unet"](1, 2, 8, 4))
    return True, (f"Depth 5: {len(answer.decoders)} decoders and {total:,} parameters, "
                  f"{added:,} more than depth 4 ({added / total:.0%} of them): the new "
                  "bottleneck and the decoder above it, the widest blocks.")


def check_2_4(answer: Any) -> Verdict:
    if _number(answer) == 32:
        return True, ("2**5 = 32: five halvings must each leave a whole number of pixels; at 32 "
                      "the bottleneck is 1x1. In train mode one 32x32 image fails: BatchNorm "
                      "then needs more than one value per channel.")
    if _number(answer) == 64:
        return False, ("64 is what train mode accepts for one image: at 32 the bottleneck is "
                       "1x1 and BatchNorm in train mode needs more than one value per channel. "
                       "Call model.eval() first, then try again.")
    if _number(answer) == 16:
        return False, "16 is the multiple for depth 4; one more level halves once more."
    return False, "Each level halves the size: after `depth` halvings it must still be whole."


# Notebook 03: training.

def check_3_1(answer: Any, loader: Any) -> Verdict:
    expected = len(loader)
    if _number(answer) == expected:
        return True, (f"ceil({len(loader.dataset)} / {loader.batch_size}) = {expected} steps: "
                      "one optimizer.step() per batch, the last batch maybe smaller.")
    if _number(answer) == len(loader.dataset):
        return False, "That is the number of images; a step takes a whole batch."
    return False, "One step per batch: images per epoch divided by the batch size, rounded up."


def healthy_image_dice_loss(size: int = 96, logit: float = -4.0) -> float:
    """The per-image soft Dice (eps 1) of a uniform ``logit`` on an empty ``size`` square."""
    logits = torch.full((1, 1, size, size), logit)
    return ImageDiceLoss().loss(logits, torch.zeros_like(logits)).item()


def check_3_2(answer: Any) -> Verdict:
    expected = healthy_image_dice_loss()
    if _rounded(answer, expected, "three decimals"):
        return True, (f"{expected:.3f}: almost the worst a Dice loss can be, for a prediction "
                      "that is perfect once thresholded, with almost no gradient; the batch "
                      "Dice of bce_dice leaves the empty target out (0).")
    if _rounded(answer, 0.0, "three decimals"):
        return False, ("0 is what the batch Dice (bce_dice) gives; compute the per-image one, "
                       "ImageDiceLoss, with eps 1.")
    return False, "sum p = 96*96*sigmoid(-4); the loss is 1 - eps / (sum p + eps) with eps 1."


def middle_epoch(cfg: TrainConfig) -> int:
    """The epoch exercise 3.3 asks about: the one just past half of the profile's epochs."""
    return cfg.epochs // 2 + 1


def cosine_lr(lr: float, epochs: int, epoch: int) -> float:
    """The learning rate epoch ``epoch`` (from 1) trains with under train()'s schedule:
    CosineAnnealingLR from ``lr`` to 0 over ``epochs``, stepped after every epoch."""
    return lr * (1 + math.cos(math.pi * (epoch - 1) / epochs)) / 2


def _significant(answer: Any, expected: float, figures: int = 3) -> bool:
    """Whether ``answer`` is ``expected`` to ``figures`` significant figures."""
    return math.isclose(_number(answer), expected, rel_tol=0.5 * 10 ** (1 - figures) + 1e-9)


def check_3_3(answer: Any, cfg: TrainConfig) -> Verdict:
    epoch = middle_epoch(cfg)
    expected = cosine_lr(cfg.lr, cfg.epochs, epoch)
    if _significant(answer, expected):
        return True, (f"{expected:.3g}: epoch {epoch} starts after {epoch - 1} of {cfg.epochs} "
                      f"scheduler steps, so lr = {cfg.lr:g} (1 + cos(pi {epoch - 1}/"
                      f"{cfg.epochs})) / 2; history's lr column shows the same.")
    if _significant(answer, cfg.lr):
        return False, f"Your own loop keeps {cfg.lr:g}; train() follows a cosine schedule."
    if any(_significant(answer, cosine_lr(cfg.lr, cfg.epochs, e)) for e in (epoch - 1, epoch + 1)):
        return False, (f"One epoch off: epoch {epoch} trains after {epoch - 1} scheduler steps "
                       "(the scheduler steps after each epoch).")
    return False, ("lr_t = lr_0 (1 + cos(pi t / T)) / 2, with t the scheduler steps taken; give "
                   "three significant figures.")


def check_3_4(answer: Any, lr: float, epochs: int) -> Verdict:
    lrs = [_number(v) for v in answer]
    if len(lrs) < 2:
        return False, "Run at least two epochs of your loop: lrs holds one rate per epoch."
    if len(lrs) > epochs:
        return False, f"{len(lrs)} rates for a loop of {epochs} epochs: empty lrs before it runs."
    if all(math.isclose(v, lrs[0], rel_tol=1e-9) for v in lrs):
        return False, (f"Your loop kept lr {lrs[0]:g} in every epoch: add the scheduler and "
                       "call scheduler.step() after each epoch.")
    for epoch, rate in enumerate(lrs, start=1):
        want = cosine_lr(lr, epochs, epoch)
        if not math.isclose(rate, want, rel_tol=1e-6, abs_tol=1e-12):
            return False, (f"Epoch {epoch} trained with {rate:.4g}; the cosine from {lr:g} over "
                           f"{epochs} epochs gives {want:.4g}: T_max=epochs, and one "
                           "scheduler.step() after each epoch (not each batch).")
    return True, (f"Your loop now follows train()'s cosine from {lr:g} over {epochs} epochs "
                  f"(epoch {len(lrs)} at {lrs[-1]:.3g}): large steps first, small ones at the "
                  "end.")


# Notebook 04: evaluation.

def check_4_1(answer: Any) -> Verdict:
    try:
        dice, iou = (_number(v) for v in answer)
    except (TypeError, ValueError):
        return False, "Answer with two numbers: (dice, iou)."
    if math.isclose(dice, 1 / 3, abs_tol=1e-3) and math.isclose(iou, 0.2, abs_tol=1e-3):
        return True, ("TP 4, FP 8, FN 8: Dice 8/24 = 0.333, IoU 4/20 = 0.2, and still "
                      "Dice = 2 IoU / (1 + IoU).")
    if math.isclose(dice, 2 / 3, abs_tol=1e-3) or math.isclose(dice, 0.75, abs_tol=1e-3):
        return False, ("That is a one-pixel shift; two pixels down leave one row of the "
                       "block overlapping.")
    return False, "Count the overlap first: how many of the 12 pixels still coincide?"


def _ablation_change(metrics: dict, step: str, score: str) -> float:
    variants = {v["steps"]: v for v in metrics["ablation"]["variants"]}
    return variants[step][score] - variants["none"][score]


def check_4_2(answer: Any, metrics: dict) -> Verdict:
    if "infection_dice_imagewise" not in metrics["ablation"]["variants"][0]:
        return True, "This run has no infection target (Lung part): nothing to read."
    expected = _ablation_change(metrics, "infection_in_lung", "infection_dice_imagewise")
    # Two values each rounded to four decimals: their difference is off by at most 1e-4.
    if _close(answer, expected, rel=0, abs_=1e-4 + 1e-9):
        moved = "raised" if expected > 0 else "lowered" if expected < 0 else "did not move"
        return True, (f"{expected:+.5f}: here the step {moved} the score. It clears "
                      "predicted infection outside the *predicted* lung: false "
                      "positives where the true lung is not there either, but true positives "
                      "where the predicted lung misses part of the true one; so it can lower "
                      "the score as well as raise it, and Val decides whether it stays on.")
    if _close(answer, -expected, rel=0, abs_=1e-4 + 1e-9):
        return False, "Right size, wrong sign: the step's score minus the score of none."
    return False, "In the ablation table: the row infection_dice_imagewise, step minus none."


def threshold_dice(prob: np.ndarray, truth: np.ndarray, threshold: float) -> np.ndarray:
    """Dice of each target of one image, its probabilities ``(T, H, W)`` cut at ``threshold``."""
    pred = torch.from_numpy(prob > threshold)[None]
    return dice_from_counts(confusion_counts(pred, torch.from_numpy(truth)[None]))[0].numpy()


def check_4_3(answer: Any, prob: np.ndarray, truth: np.ndarray) -> Verdict:
    expected = float(threshold_dice(prob, truth, 0.3)[0])
    if _rounded(answer, expected, "four decimals"):
        return True, (f"{expected:.4f} at 0.3 against {threshold_dice(prob, truth, 0.5)[0]:.4f} "
                      "at 0.5: a lower threshold grows every mask, turning false negatives into "
                      "true positives and background into false positives.")
    if _rounded(answer, float(threshold_dice(prob, truth, 0.5)[0]), "four decimals"):
        return False, "That is the Dice at 0.5; cut the probabilities at 0.3."
    return False, "threshold_dice(prob, truth, 0.3) gives every target; the lung is channel 0."


def check_4_4(answer: Any, per_image: pd.DataFrame) -> Verdict:
    if "pred_area_infection" not in per_image:
        return True, "This run has no infection target (Lung part): nothing to compute."
    healthy = per_image[per_image["cls"] != "COVID-19"]
    expected = float((healthy["pred_area_infection"] > 0).mean())
    if _rounded(answer, expected, "three decimals"):
        covid = per_image.loc[per_image["cls"] == "COVID-19", "infection_dice"].mean()
        every = per_image["infection_dice"].mean()
        return True, (f"{expected:.3f}: {expected:.1%} of the healthy Test images get some "
                      "infection pixel. The COVID-19 Dice never sees them (no healthy image is "
                      "in it); the imagewise mean over every class counts each as a Dice of 0 "
                      f"({covid:.4f} on COVID-19 alone, {every:.4f} over all classes here), and "
                      "the healthy false-positive rate counts them directly.")
    if _rounded(answer, float((per_image["pred_area_infection"] > 0).mean()), "three decimals"):
        return False, "That counts every image; keep the healthy ones (cls not COVID-19)."
    return False, ("Among Non-COVID and Normal images: the share with pred_area_infection > 0, "
                   "to three decimals.")


def _function_check(key: str) -> Callable[[Any], Verdict]:
    """The check of write-the-function exercise ``key``: the answer against the package."""
    return lambda answer: judge_function(TASKS[key], answer)


EXERCISES: dict[str, Exercise] = {e.key: e for e in [
    Exercise("1.1", "Count the COVID-19 images of the Test split",
             "index[(index.part == part) & (index.split == 'Test') & (index.cls == ...)]",
             check_1_1),
    Exercise("1.2", "The pixel accuracy of a model that never predicts infection",
             "areas.infection_area is the infection's share of each image; two decimals",
             check_1_2),
    Exercise("1.3", "On how many Test images is a perfect model's infection Dice undefined?",
             "Dice is 0/0 when truth and prediction are both empty", check_1_3),
    Exercise("1.4", "Why does augmentation never flip an X-ray left to right?",
             "answer 'a', 'b' or 'c'", check_1_4),
    Exercise("2.1", "Predict the parameters of DoubleConv(1, 16) before printing them",
             "two 3x3 convs without bias, two BatchNorms with a weight and a bias per channel",
             check_2_1),
    Exercise("2.2", "The bottleneck's output shape", "base 16, depth 4, one 256x256 image",
             check_2_2),
    Exercise("2.3", "Add a level to the U-Net", "build_model('unet', 1, 2, base_channels=8, "
             "depth=...)", check_2_3),
    Exercise("2.4", "The smallest input a deeper U-Net accepts",
             "in eval mode; SegmentationNet.check_size says which multiple", check_2_4),
    Exercise("3.1", "How many optimizer steps is one epoch of your loop?",
             "one step per batch of the DataLoader", check_3_1),
    Exercise("3.2", "The per-image Dice loss of a perfect healthy prediction",
             "ImageDiceLoss().loss(logits, target) on torch.full((1, 1, 96, 96), -4.0); three "
             "decimals", check_3_2),
    Exercise("3.3", "The learning rate train() uses half way through",
             "CosineAnnealingLR steps once after every epoch, from cfg.lr to 0 over cfg.epochs; "
             "three significant figures", check_3_3),
    Exercise("3.4", "Give your loop the cosine schedule of train()",
             "scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs) "
             "before the loop, scheduler.step() after each epoch; answer with lrs", check_3_4),
    Exercise("4.1", "The toy mask moved two pixels down: Dice and IoU",
             "count TP, FP, FN as in the toy example", check_4_1),
    Exercise("4.2", "Turn a post-processing step off: read the ablation",
             "results.metrics['ablation']['variants']: infection_in_lung minus none",
             check_4_2),
    Exercise("4.3", "Move the threshold: the lung Dice at 0.3",
             "threshold_dice(prob, truth, 0.3); four decimals", check_4_3),
    Exercise("4.4", "The healthy false-positive rate, from the per-image table",
             "results.per_image: cls and pred_area_infection; three decimals", check_4_4),
    *(Exercise(key, title, hint, _function_check(key)) for key, title, hint in (
        ("1.5", "Write the counts: TP, FP, FN and TN of one prediction",
         "tp = (pred & truth).sum(); then fp, fn and tn the same way"),
        ("2.5", "Write DoubleConv yourself",
         "an nn.Sequential of Conv2d(bias=False), BatchNorm2d, ReLU, twice, as in the source "
         "above"),
        ("3.5", "Write the batch soft Dice loss",
         "p = torch.sigmoid(logits); sums over dims (0, 2, 3); leave out a target empty in the "
         "whole batch"),
        ("4.5", "Write Dice and IoU from the counts",
         "Dice = 2 TP / (2 TP + FP + FN), IoU = TP / (TP + FP + FN); nan when both are 0/0"),
    )),
]}


def find_exercise(key: str) -> Exercise:
    """Exercise ``key``; an unknown key is a ValueError naming every exercise."""
    if key not in EXERCISES:
        raise ValueError(f"no exercise {key!r}: the exercises are {', '.join(sorted(EXERCISES))}")
    return EXERCISES[key]


def feedback(key: str, answer: Any, *context: Any) -> Feedback:
    """What the check of exercise ``key`` says about ``answer`` (``None``: not answered yet)."""
    exercise = find_exercise(key)
    if answer is None:
        return Feedback(key, False, f"Write your answer in place of None. Hint: {exercise.hint}.")
    try:
        right, message = exercise.check(answer, *context)
    except (TypeError, ValueError, AttributeError, IndexError) as err:
        return Feedback(key, False, f"Could not read your answer ({err}). Hint: {exercise.hint}.")
    return Feedback(key, right, message)


def check_exercise(key: str, answer: Any, *context: Any) -> None:
    """Check the answer to exercise ``key``: prints "right" or "not yet" with what to look at."""
    print(feedback(key, answer, *context))
