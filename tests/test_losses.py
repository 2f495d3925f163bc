"""Losses on tiny hand-computed tensors: the expected values are written out from the formulas."""

from __future__ import annotations

import math

import pytest
import torch

from practical3.losses import LOSSES, BCELoss, DiceLoss, FocalLoss, build_loss

LN3 = math.log(3)

# One image, one channel, 2x2. Logits +-ln 3 give probabilities 3/4 and 1/4.
LOGITS = torch.tensor([[[[LN3, -LN3], [LN3, -LN3]]]])
TARGET = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
# Pixel by pixel (p, g): (3/4, 1), (1/4, 0), (3/4, 0), (1/4, 1).
# p_t = p if g else 1 - p: 3/4, 3/4, 1/4, 1/4.


def test_bce_value():
    expected = (2 * -math.log(3 / 4) + 2 * -math.log(1 / 4)) / 4
    assert BCELoss()(LOGITS, TARGET).item() == pytest.approx(expected, rel=1e-6)


def test_dice_value_with_smoothing():
    # sum(p g) = 3/4 + 1/4 = 1, sum(p) = 2, sum(g) = 2, eps = 1.
    expected = 1 - (2 * 1 + 1) / (2 + 2 + 1)
    assert DiceLoss()(LOGITS, TARGET).item() == pytest.approx(expected, rel=1e-6)


def test_dice_value_without_smoothing():
    expected = 1 - (2 * 1) / (2 + 2)
    assert DiceLoss(eps=0.0)(LOGITS, TARGET).item() == pytest.approx(expected, rel=1e-6)


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


def test_dice_averages_per_image_and_channel():
    # Channel 0 as above (0.4); channel 1 an empty mask predicted empty (0 thanks to eps).
    logits = torch.cat([LOGITS, torch.full_like(LOGITS, -50.0)], dim=1)
    target = torch.cat([TARGET, torch.zeros_like(TARGET)], dim=1)
    assert DiceLoss()(logits, target).item() == pytest.approx((0.4 + 0.0) / 2, abs=1e-6)


def test_dice_on_empty_mask_charges_predicted_mass():
    # Four pixels at p = 1/4 on an empty mask: mass 1, loss 1 - eps / (1 + eps) = 1/2.
    logits = torch.full((1, 1, 2, 2), -LN3)
    assert DiceLoss()(logits, torch.zeros_like(logits)).item() == pytest.approx(0.5, rel=1e-6)


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
    with pytest.raises(ValueError, match="bce, dice, bce_dice, focal"):
        build_loss("iou")
