"""Batch augmentation: identity at zero range, binary masks, image and masks move together."""

from __future__ import annotations

import pytest
import torch

from practical3.data.augment import AugmentSpec, augment_batch

ZERO = AugmentSpec(rotation_deg=0, translate=0, scale=0, brightness=0, contrast=0)
# Wider than the default so that a warp surely moves the square by several pixels.
STRONG = AugmentSpec(rotation_deg=20, translate=0.1, scale=0.15, brightness=0.1, contrast=0.15)
SIDE = 64


def square_batch(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` copies of a bright square on black (N, 1, H, W) and its mask (N, 2, H, W)."""
    images = torch.zeros(n, 1, SIDE, SIDE)
    images[:, :, 20:44, 16:40] = 1.0
    masks = torch.cat([images, torch.zeros_like(images)], dim=1)
    masks[:, 1, 24:32, 20:28] = 1.0
    return images, masks


def overlap(a: torch.Tensor, b: torch.Tensor) -> float:
    """Intersection over union of two boolean maps."""
    return ((a & b).sum() / (a | b).sum()).item()


def test_zero_range_is_the_identity():
    # float32 grid coordinates round by ~1e-7 of the side: at 256 px that is 1.5e-5 of the
    # intensity range, under a hundredth of one 8-bit gray level.
    torch.manual_seed(0)
    images = torch.rand(3, 1, 256, 256)
    masks = (torch.rand(3, 2, 256, 256) > 0.5).float()
    out_images, out_masks = augment_batch(images, masks, ZERO)
    assert torch.allclose(out_images, images, rtol=0, atol=1 / 255 / 100)
    assert torch.equal(out_masks, masks)


def test_zero_range_is_the_identity_to_1e6_on_small_images():
    torch.manual_seed(0)
    images = torch.rand(3, 1, 32, 32)
    out, _ = augment_batch(images, torch.zeros(3, 2, 32, 32), ZERO)
    assert torch.allclose(out, images, rtol=0, atol=1e-6)


def test_masks_stay_binary():
    torch.manual_seed(0)
    images, _ = square_batch(8)
    masks = (torch.rand(8, 2, SIDE, SIDE) > 0.5).float()
    _, out = augment_batch(images, masks, STRONG)
    assert set(out.unique().tolist()) <= {0.0, 1.0}


def test_images_stay_in_unit_range():
    torch.manual_seed(0)
    images, masks = square_batch(8)
    out, _ = augment_batch(images, masks, STRONG)
    assert out.min() >= 0 and out.max() <= 1


def test_image_and_mask_move_together_in_a_batch():
    torch.manual_seed(0)
    images, masks = square_batch(8)
    out_images, out_masks = augment_batch(images, masks, STRONG)
    for image, mask, before in zip(out_images, out_masks, masks, strict=True):
        assert not torch.equal(mask, before)  # the warp moved something
        assert overlap(image[0] > 0.5, mask[0] > 0.5) > 0.95


def test_each_sample_gets_its_own_parameters():
    torch.manual_seed(0)
    images, masks = square_batch(4)
    out_images, out_masks = augment_batch(images, masks, STRONG)
    for i in range(4):
        for j in range(i + 1, 4):
            assert not torch.equal(out_images[i], out_images[j])
            assert not torch.equal(out_masks[i], out_masks[j])


@pytest.mark.parametrize("seed", [0, 1])
def test_same_seed_same_output(seed):
    images, masks = square_batch(4)
    torch.manual_seed(seed)
    first = augment_batch(images, masks, STRONG)
    torch.manual_seed(seed)
    second = augment_batch(images, masks, STRONG)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_different_seeds_differ():
    images, masks = square_batch(1)
    torch.manual_seed(0)
    first, _ = augment_batch(images, masks, STRONG)
    torch.manual_seed(1)
    second, _ = augment_batch(images, masks, STRONG)
    assert not torch.equal(first, second)
