"""Dice/IoU from counts: hand-computed masks, the empty-mask rule, reductions, a reference."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from torchmetrics.functional.segmentation import dice_score, mean_iou

from practical3.scoring.metrics import (
    THRESHOLD,
    CountsAccumulator,
    any_positive_rate,
    binarize,
    confusion_counts,
    dataset_level,
    dice_from_counts,
    hausdorff95,
    imagewise,
    iou_from_counts,
    summarize_counts,
)


def masks(*rows_per_image: list[list[int]]) -> torch.Tensor:
    """(N, 1, H, W) masks from nested lists, one 2-D list per image."""
    return torch.tensor(rows_per_image, dtype=torch.bool).unsqueeze(1)


def counts_of(tp: int, fp: int, fn: int, tn: int = 0) -> torch.Tensor:
    """One image, one target: counts (1, 1, 4)."""
    return torch.tensor([[[tp, fp, fn, tn]]])


# 3x3: truth in the top row, prediction on the left two of the top row plus one below.
PRED_3X3 = masks([[1, 1, 0], [1, 0, 0], [0, 0, 0]])
TRUTH_3X3 = masks([[1, 1, 1], [0, 0, 0], [0, 0, 0]])
EMPTY_3X3 = masks([[0, 0, 0], [0, 0, 0], [0, 0, 0]])


def test_confusion_counts_hand_computed():
    counts = confusion_counts(PRED_3X3, TRUTH_3X3)
    assert counts.dtype == torch.int64
    assert counts.tolist() == [[[2, 1, 1, 5]]]


def test_confusion_counts_accepts_float_zero_one_masks():
    counts = confusion_counts(PRED_3X3.float(), TRUTH_3X3.to(torch.uint8))
    assert counts.tolist() == [[[2, 1, 1, 5]]]


def test_dice_and_iou_hand_computed():
    counts = confusion_counts(PRED_3X3, TRUTH_3X3)
    assert dice_from_counts(counts).item() == pytest.approx(4 / 6, abs=1e-12)
    assert iou_from_counts(counts).item() == pytest.approx(2 / 4, abs=1e-12)


def test_both_empty_is_nan():
    counts = confusion_counts(EMPTY_3X3, EMPTY_3X3)
    assert counts.tolist() == [[[0, 0, 0, 9]]]
    assert math.isnan(dice_from_counts(counts).item())
    assert math.isnan(iou_from_counts(counts).item())


def test_empty_prediction_with_truth_scores_zero():
    counts = confusion_counts(EMPTY_3X3, TRUTH_3X3)
    assert dice_from_counts(counts).item() == 0.0
    assert iou_from_counts(counts).item() == 0.0


def test_prediction_on_empty_truth_scores_zero():
    counts = confusion_counts(PRED_3X3, EMPTY_3X3)
    assert dice_from_counts(counts).item() == 0.0
    assert iou_from_counts(counts).item() == 0.0


def test_imagewise_leaves_out_nan_images():
    scores = torch.tensor([[0.5, math.nan], [math.nan, math.nan], [1.0, 0.25]])
    assert imagewise(scores).tolist() == [0.75, 0.25]


def test_imagewise_of_only_undefined_images_is_nan():
    assert math.isnan(imagewise(torch.tensor([[math.nan], [math.nan]])).item())


def test_both_empty_image_is_left_out_of_imagewise_mean():
    pred = torch.cat([PRED_3X3, EMPTY_3X3])
    truth = torch.cat([TRUTH_3X3, EMPTY_3X3])
    dice = dice_from_counts(confusion_counts(pred, truth))
    assert imagewise(dice).item() == pytest.approx(4 / 6, abs=1e-12)


def test_dataset_level_differs_from_imagewise():
    # Image 1: one truth pixel, found (Dice 1, IoU 1). Image 2: 8 truth pixels, 4 found
    # (Dice 8/12, IoU 4/8). Imagewise: Dice 5/6, IoU 3/4. Pooled tp=5, fp=0, fn=4: 10/14, 5/9.
    truth = masks([[1, 0, 0], [0, 0, 0], [0, 0, 0]], [[1, 1, 1], [1, 0, 1], [1, 1, 1]])
    pred = masks([[1, 0, 0], [0, 0, 0], [0, 0, 0]], [[1, 1, 1], [1, 0, 0], [0, 0, 0]])
    counts = confusion_counts(pred, truth)
    assert imagewise(dice_from_counts(counts)).item() == pytest.approx(5 / 6, abs=1e-12)
    assert imagewise(iou_from_counts(counts)).item() == pytest.approx(3 / 4, abs=1e-12)
    assert dataset_level(counts, "dice").item() == pytest.approx(10 / 14, abs=1e-12)
    assert dataset_level(counts, "iou").item() == pytest.approx(5 / 9, abs=1e-12)


def test_dataset_level_rejects_unknown_metric():
    with pytest.raises(ValueError, match="Unknown metric 'f1'"):
        dataset_level(counts_of(1, 0, 0), "f1")


def test_healthy_false_positive_rate():
    # Images 0-2 have empty truth; only image 0 has a predicted pixel. Image 3 has truth.
    counts = torch.tensor([[[0, 1, 0, 8]], [[0, 0, 0, 9]], [[0, 0, 0, 9]], [[3, 2, 0, 4]]])
    assert any_positive_rate(counts).item() == pytest.approx(1 / 3, abs=1e-12)
    assert any_positive_rate(counts, empty_truth_only=False).item() == pytest.approx(2 / 4)


def test_healthy_false_positive_rate_without_empty_truth_is_nan():
    assert math.isnan(any_positive_rate(counts_of(2, 1, 1)).item())


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"pred \(1, 1, 3, 3\) and target \(1, 3, 3\)"):
        confusion_counts(PRED_3X3, TRUTH_3X3[:, 0])


@st.composite
def mask_pairs(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor]:
    """Random boolean (N, C, H, W) prediction and truth of the same small shape."""
    shape = draw(array_shapes(min_dims=4, max_dims=4, min_side=1, max_side=4))
    pred, truth = draw(arrays(bool, shape)), draw(arrays(bool, shape))
    return torch.from_numpy(pred), torch.from_numpy(truth)


@settings(max_examples=50, deadline=None)
@given(mask_pairs())
def test_dice_is_monotone_function_of_iou(pair: tuple[torch.Tensor, torch.Tensor]):
    counts = confusion_counts(*pair)
    for dice, iou in [
        (dice_from_counts(counts), iou_from_counts(counts)),
        (dataset_level(counts, "dice"), dataset_level(counts, "iou")),
    ]:
        assert torch.equal(dice.isnan(), iou.isnan())
        defined = ~dice.isnan()
        assert torch.allclose(dice[defined], 2 * iou[defined] / (1 + iou[defined]), atol=1e-12)
        assert bool((dice[defined] >= iou[defined]).all())


@settings(max_examples=50, deadline=None)
@given(mask_pairs())
def test_counts_add_up_to_pixels(pair: tuple[torch.Tensor, torch.Tensor]):
    pred, truth = pair
    counts = confusion_counts(pred, truth)
    assert bool((counts.sum(dim=-1) == pred.shape[2] * pred.shape[3]).all())
    assert torch.equal(counts[..., 0] + counts[..., 2], truth.sum(dim=(2, 3)))


def random_nonempty_masks(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random int64 (4, 2, 16, 16) prediction and truth, truth non-empty in every image/target."""
    generator = torch.Generator().manual_seed(seed)
    pred = torch.randint(0, 2, (4, 2, 16, 16), generator=generator)
    truth = torch.randint(0, 2, (4, 2, 16, 16), generator=generator)
    truth[..., 0, 0] = 1
    return pred, truth


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_per_image_scores_match_torchmetrics(seed: int):
    pred, truth = random_nonempty_masks(seed)
    counts = confusion_counts(pred, truth)
    reference_dice = dice_score(pred, truth, num_classes=2, average="none")
    reference_iou = mean_iou(pred, truth, num_classes=2, per_class=True)
    assert torch.allclose(dice_from_counts(counts), reference_dice.double(), atol=1e-6)
    assert torch.allclose(iou_from_counts(counts), reference_iou.double(), atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1])
def test_dataset_level_dice_matches_torchmetrics_global(seed: int):
    pred, truth = random_nonempty_masks(seed)
    reference = dice_score(pred, truth, num_classes=2, average="none", aggregation_level="global")
    ours = dataset_level(confusion_counts(pred, truth), "dice")
    assert torch.allclose(ours, reference.reshape(-1).double(), atol=1e-6)


def batch_of_logits(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and truth (6, 2, 8, 8); infection truth empty in images 0 and 1."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(6, 2, 8, 8, generator=generator)
    truth = torch.rand(6, 2, 8, 8, generator=generator) > 0.5
    truth[:2, 1] = False
    return logits, truth


def test_accumulator_over_batches_equals_one_shot():
    logits, truth = batch_of_logits()
    accumulator = CountsAccumulator()
    for start, stop in [(0, 2), (2, 5), (5, 6)]:
        accumulator.update(logits[start:stop], truth[start:stop])
    one_shot = confusion_counts(logits > 0, truth)
    assert torch.equal(accumulator.counts, one_shot)
    names = ["lung", "infection"]
    assert accumulator.summary(names) == summarize_counts(one_shot, names)


def test_binarize_is_the_probability_threshold_and_strict():
    logits = torch.tensor([-1.0, -1e-6, 0.0, 1e-6, 1.0])
    assert binarize(logits).tolist() == (torch.sigmoid(logits) > THRESHOLD).tolist()
    assert binarize(logits).tolist() == [False, False, False, True, True]


def test_empty_accumulator_says_what_to_do():
    with pytest.raises(ValueError, match="call update"):
        CountsAccumulator().summary(["lung", "infection"])


def test_summary_is_json_ready_and_names_its_reductions():
    # Lung: the 3x3 pair (Dice 4/6). Infection: one both-empty image and one healthy image with
    # a false positive, so no image has infection truth.
    pred = torch.cat([torch.cat([PRED_3X3, EMPTY_3X3], 1), torch.cat([PRED_3X3, PRED_3X3], 1)])
    truth = torch.cat([torch.cat([TRUTH_3X3, EMPTY_3X3], 1), torch.cat([TRUTH_3X3, EMPTY_3X3], 1)])
    summary = summarize_counts(confusion_counts(pred, truth), ["lung", "infection"])
    json.dumps(summary, allow_nan=False)
    lung, infection = summary["lung"], summary["infection"]
    assert lung["dice_imagewise"] == pytest.approx(4 / 6)
    assert lung["iou_dataset"] == pytest.approx(4 / 8)
    assert (lung["n_images"], lung["n_images_scored"], lung["n_images_empty_truth"]) == (2, 2, 0)
    assert lung["healthy_fp_rate"] is None
    assert infection["dice_imagewise"] == 0.0
    assert infection["dice_dataset"] == 0.0
    assert infection["n_images_scored"] == 1
    assert infection["healthy_fp_rate"] == 0.5


def test_summary_rejects_wrong_number_of_names():
    with pytest.raises(ValueError, match="one name per target channel"):
        summarize_counts(counts_of(1, 0, 0), ["lung", "infection"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_confusion_counts_does_not_sync_on_cuda():
    logits, truth = batch_of_logits()
    logits, truth = logits.cuda(), truth.cuda()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        counts = confusion_counts(logits > 0, truth)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.equal(counts.cpu(), confusion_counts(logits.cpu() > 0, truth.cpu()))


# --- boundary distance ----------------------------------------------------------------------

def square(top: int, left: int, side: int = 10, size: int = 30) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    mask[top:top + side, left:left + side] = True
    return mask


def test_hausdorff95_of_identical_masks_is_zero():
    assert hausdorff95(square(5, 5), square(5, 5)) == 0.0


def test_hausdorff95_of_a_shifted_square_is_the_shift():
    assert hausdorff95(square(5, 5), square(5, 8)) == pytest.approx(3.0)


def test_hausdorff95_ignores_a_speck_that_is_under_5_percent_of_the_boundary():
    pred = square(5, 5, side=20)
    pred[0, 29] = True  # one far boundary pixel among 77: below the 95th percentile
    assert hausdorff95(pred, square(5, 5, side=20)) == 0.0


def test_hausdorff95_of_a_total_miss_is_the_image_diagonal():
    empty = np.zeros((30, 40), bool)
    full = np.zeros((30, 40), bool)
    full[5:15, 5:15] = True
    assert hausdorff95(empty, full) == 50.0  # sqrt(30^2 + 40^2): the largest distance there is
    assert hausdorff95(full, empty) == 50.0  # a mask drawn where there is none


def test_a_total_miss_never_scores_better_than_a_poor_prediction():
    truth = square(0, 0)
    assert hausdorff95(np.zeros((30, 30), bool), truth) > hausdorff95(square(19, 19), truth)


def test_hausdorff95_is_undefined_when_both_masks_are_empty():
    assert np.isnan(hausdorff95(np.zeros((30, 30), bool), np.zeros((30, 30), bool)))
