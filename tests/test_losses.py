"""Losses on tiny hand-computed tensors: the expected values are written out from the formulas."""

from __future__ import annotations

import math

import pytest
import torch

from practical3.base.errors import ConfigError
from practical3.training.losses import (
    LOSSES,
    BCEDiceLoss,
    BCELoss,
    DiceLoss,
    FocalLoss,
    ImageDiceLoss,
    build_loss,
)

LN3 = math.log(3)

# One image, one channel, 2x2. Logits +-ln 3 give probabilities 3/4 and 1/4.
LOGITS = torch.tensor([[[[LN3, -LN3], [LN3, -LN3]]]])
TARGET = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
# Pixel by pixel (p, g): (3/4, 1), (1/4, 0), (3/4, 0), (1/4, 1).
# p_t = p if g else 1 - p: 3/4, 3/4, 1/4, 1/4.


def test_bce_value():
    expected = (2 * -math.log(3 / 4) + 2 * -math.log(1 / 4)) / 4
    assert BCELoss()(LOGITS, TARGET).item() == pytest.approx(expected, rel=1e-6)


def test_image_dice_value_with_smoothing():
    # sum(p g) = 3/4 + 1/4 = 1, sum(p) = 2, sum(g) = 2, eps = 1.
    expected = 1 - (2 * 1 + 1) / (2 + 2 + 1)
    assert ImageDiceLoss()(LOGITS, TARGET).item() == pytest.approx(expected, rel=1e-6)


def test_batch_dice_value():
    expected = 1 - (2 * 1) / (2 + 2)
    assert DiceLoss()(LOGITS, TARGET).item() == pytest.approx(expected, rel=1e-5)


def test_batch_dice_pools_the_images_of_a_batch():
    # Image 1 as above; image 2 all positive predicted at 3/4: pooled sum(p g) = 1 + 3,
    # sum(p) = 2 + 3, sum(g) = 2 + 4.
    logits = torch.cat([LOGITS, torch.full_like(LOGITS, LN3)])
    target = torch.cat([TARGET, torch.ones_like(TARGET)])
    expected = 1 - (2 * 4) / (5 + 6)
    assert DiceLoss()(logits, target).item() == pytest.approx(expected, rel=1e-5)


def test_focal_value():
    # alpha_t = 1/4 on positives, 3/4 on negatives; (1 - p_t)^2 = 1/16, 1/16, 9/16, 9/16.
    terms = [
        1 / 4 * (1 / 16) * -math.log(3 / 4),
        3 / 4 * (1 / 16) * -math.log(3 / 4),
        3 / 4 * (9 / 16) * -math.log(1 / 4),
        1 / 4 * (9 / 16) * -math.log(1 / 4),
    ]
    assert FocalLoss()(LOGITS, TARGET).item() == pytest.approx(sum(terms) / 4, rel=1e-6)


def test_focal_with_gamma_0_and_alpha_half_is_half_bce():
    focal = FocalLoss(alpha=0.5, gamma=0.0)(LOGITS, TARGET)
    assert focal.item() == pytest.approx(BCELoss()(LOGITS, TARGET).item() / 2, rel=1e-6)


def test_bce_dice_is_the_sum():
    expected = BCELoss()(LOGITS, TARGET) + DiceLoss()(LOGITS, TARGET)
    assert build_loss("bce_dice")(LOGITS, TARGET).item() == pytest.approx(expected.item())


def test_image_dice_averages_per_image_and_channel():
    # Channel 0 as above (0.4); channel 1 an empty mask predicted empty (0 thanks to eps).
    logits = torch.cat([LOGITS, torch.full_like(LOGITS, -50.0)], dim=1)
    target = torch.cat([TARGET, torch.zeros_like(TARGET)], dim=1)
    assert ImageDiceLoss()(logits, target).item() == pytest.approx((0.4 + 0.0) / 2, abs=1e-6)


# --- healthy images: an empty truth -----------------------------------------------------------

EMPTY = torch.zeros(1, 1, 256, 256)


def test_the_image_dice_charges_a_correct_confident_prediction_on_an_empty_mask():
    # The flaw the batch Dice fixes: logit -4 everywhere is right once thresholded, yet costs
    # about 1 (mass 65536 * 0.018 against eps 1).
    assert ImageDiceLoss()(torch.full_like(EMPTY, -4.0), EMPTY).item() > 0.99


def test_a_correct_prediction_on_an_empty_batch_costs_nothing_in_the_batch_dice():
    assert DiceLoss()(torch.full_like(EMPTY, -4.0), EMPTY).item() == 0.0
    bce_dice = BCEDiceLoss()(torch.full_like(EMPTY, -4.0), EMPTY).item()
    assert bce_dice == pytest.approx(math.log1p(math.exp(-4.0)), rel=1e-5)  # the BCE alone


def test_a_confident_empty_image_beside_a_lesion_costs_about_nothing():
    lesion = torch.zeros(1, 1, 256, 256)
    lesion[..., 100:140, 100:140] = 1
    alone = DiceLoss()((lesion * 2 - 1) * 10, lesion).item()
    both = DiceLoss()(torch.cat([(lesion * 2 - 1) * 10, torch.full_like(EMPTY, -10.0)]),
                      torch.cat([lesion, EMPTY])).item()
    assert both - alone < 2e-3


def test_false_positives_on_a_healthy_image_are_pushed_down():
    lesion = torch.zeros(1, 1, 16, 16)
    lesion[..., 4:8, 4:8] = 1
    healthy = torch.full((1, 1, 16, 16), -6.0)
    healthy[..., 10:12, 10:12] = 3.0  # a false positive blob
    logits = torch.cat([(lesion * 2 - 1) * 3, healthy]).requires_grad_()
    DiceLoss()(logits, torch.cat([lesion, torch.zeros_like(lesion)])).backward()
    assert (logits.grad[1, 0, 10:12, 10:12] > 0).all()  # gradient descent lowers them


@pytest.mark.parametrize("name", list(LOSSES))
def test_perfect_prediction_gives_near_zero_dice(name):
    logits = (TARGET * 2 - 1) * 30.0
    loss = build_loss(name)(logits, TARGET).item()
    assert 0.0 <= loss < 1e-6


@pytest.mark.parametrize("name", list(LOSSES))
def test_gradients_are_finite_for_extreme_logits(name):
    logits = torch.tensor([[[[100.0, -100.0], [-100.0, 100.0]]]], requires_grad=True)
    build_loss(name)(logits, 1 - TARGET).backward()
    assert torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("name", list(LOSSES))
def test_bf16_autocast_gives_float32_loss(name):
    logits = LOGITS.to(torch.bfloat16)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        loss = build_loss(name)(logits, TARGET)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(build_loss(name)(logits.float(), TARGET).item(), rel=1e-6)


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(1, 2, 2, 2\) and \(1, 1, 2, 2\)"):
        BCELoss()(torch.zeros(1, 2, 2, 2), TARGET)


def test_unknown_loss_lists_choices():
    with pytest.raises(ConfigError, match="bce, dice, bce_dice, bce_image_dice, focal"):
        build_loss("iou")


def test_the_reports_sentence_is_the_first_paragraph_of_the_docstring():
    assert LOSSES["bce_image_dice"].description == (
        "BCE plus soft Dice per image and target (eps 1): the earlier default.")
    assert LOSSES["dice"].description == (
        "Soft Dice pooled over the batch per target, leaving out a target whose truth is empty "
        "in the whole batch.")
