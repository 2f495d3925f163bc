"""Post-processing steps on small hand-drawn masks: which pixels each step keeps, exactly."""

from __future__ import annotations

import numpy as np
import pytest

from practical3.base.errors import RunError
from practical3.evaluation.postprocess import (
    MIN_SPECK_PIXELS,
    POSTPROCESSING_FILE,
    STEPS,
    PostProcess,
    applicable_steps,
    apply,
    choose_steps,
    keep_largest_components,
    load_choice,
    min_speck_pixels,
    remove_small_components,
    save_choice,
)
from practical3.scoring.selection import MIN_GAIN


def mask(*rows: str) -> np.ndarray:
    """A boolean mask drawn as strings: '#' is on, '.' is off."""
    return np.array([[c == "#" for c in row] for row in rows])


# Two lungs (6 and 4 pixels) and a one-pixel speck.
TWO_LUNGS_AND_A_SPECK = mask(
    "##....#.",
    "##......",
    "##...##.",
    ".....##.",
)
TWO_LUNGS = mask(
    "##......",
    "##......",
    "##...##.",
    ".....##.",
)


def batch(lung: np.ndarray, infection: np.ndarray) -> np.ndarray:
    """One image with channels (lung, infection): shape (1, 2, H, W)."""
    return np.stack([lung, infection])[None]


def test_keep_largest_components_keeps_the_two_largest_of_three():
    kept = keep_largest_components(TWO_LUNGS_AND_A_SPECK, keep=2)
    np.testing.assert_array_equal(kept, TWO_LUNGS)


def test_keep_largest_components_leaves_two_blobs_unchanged():
    kept = keep_largest_components(TWO_LUNGS, keep=2)
    assert kept.dtype == bool
    np.testing.assert_array_equal(kept, TWO_LUNGS)


def test_keep_largest_components_joins_diagonal_neighbours():
    diagonal = mask(
        "#...",
        ".#..",
        "...#",
    )  # 8-connected: one blob of 2 and a speck
    np.testing.assert_array_equal(keep_largest_components(diagonal, keep=1), mask(
        "#...",
        ".#..",
        "....",
    ))


def test_remove_small_components_drops_only_blobs_below_the_size():
    blobs = mask(
        "#..##..###",
        ".......#..",
    )  # sizes 1, 2 and 4
    np.testing.assert_array_equal(remove_small_components(blobs, min_size=2), mask(
        "...##..###",
        ".......#..",
    ))
    np.testing.assert_array_equal(remove_small_components(blobs, min_size=5), np.zeros_like(blobs))


def test_remove_small_components_of_an_empty_mask_is_empty():
    empty = np.zeros((3, 3), bool)
    np.testing.assert_array_equal(remove_small_components(empty, min_size=2), empty)


def test_infection_in_lung_clears_infection_outside_the_lung():
    infection = mask(
        "#.......",
        "........",
        "...#.##.",
        "........",
    )
    out = apply(batch(TWO_LUNGS, infection), ("lung", "infection"),
                PostProcess(infection_in_lung=True))
    np.testing.assert_array_equal(out[0, 1], mask(
        "#.......",
        "........",
        ".....##.",
        "........",
    ))
    np.testing.assert_array_equal(out[0, 0], TWO_LUNGS)


def test_remove_specks_keeps_components_of_the_fraction_of_the_native_area():
    lung = np.ones((10, 10), bool)
    infection = np.zeros((10, 10), bool)
    infection[0, :5] = True  # 5 pixels: below 6% of 100 pixels
    infection[5, :6] = True  # 6 pixels: kept
    out = apply(batch(lung, infection), ("lung", "infection"),
                PostProcess(remove_specks=True, min_speck_fraction=0.06))
    np.testing.assert_array_equal(out[0, 1, 0], np.zeros(10, bool))
    np.testing.assert_array_equal(out[0, 1, 5], infection[5])


def test_remove_specks_never_keeps_less_than_the_floor_at_small_sizes():
    infection = mask(
        "#....##.",
        "........",
        "........",
        "........",
    )  # fraction 1/16 of 32 pixels would be 2: the floor of MIN_SPECK_PIXELS removes the pair
    steps = PostProcess(remove_specks=True, min_speck_fraction=1 / 16)
    assert min_speck_pixels(steps, 4, 8) == MIN_SPECK_PIXELS == 5
    out = apply(batch(TWO_LUNGS, infection), ("lung", "infection"), steps)
    assert not out[0, 1].any()


def test_images_of_different_sizes_are_each_processed_at_their_own_size():
    small, large = np.ones((2, 4, 4), bool), np.ones((2, 8, 6), bool)
    out = apply([small, large], ("lung", "infection"), PostProcess().with_steps(STEPS))
    assert isinstance(out, list) and [m.shape for m in out] == [(2, 4, 4), (2, 8, 6)]


def test_fill_lung_holes_fills_holes_and_nothing_else():
    lungs = mask(
        "###..###",
        "#.#..#.#",
        "###..###",
        "........",
    )
    out = apply(lungs[None, None], ("lung",), PostProcess(fill_lung_holes=True))
    np.testing.assert_array_equal(out[0, 0], mask(
        "###..###",
        "###..###",
        "###..###",
        "........",
    ))


def test_apply_with_every_step_off_is_the_identity_and_copies():
    pred = batch(TWO_LUNGS_AND_A_SPECK, TWO_LUNGS_AND_A_SPECK).astype(np.uint8)
    out = apply(pred, ("lung", "infection"), PostProcess())
    assert out.dtype == bool and out is not pred
    np.testing.assert_array_equal(out, pred.astype(bool))


def test_apply_for_a_lung_only_model_runs_only_the_lung_step():
    pred = TWO_LUNGS_AND_A_SPECK[None, None]
    out = apply(pred, ("lung",), PostProcess().with_steps(STEPS))
    np.testing.assert_array_equal(out[0, 0], TWO_LUNGS)


def test_applicable_steps_depend_on_the_targets():
    assert applicable_steps(("lung",)) == ("keep_two_lungs", "fill_lung_holes")
    assert applicable_steps(("lung", "infection")) == (
        "keep_two_lungs", "fill_lung_holes", "infection_in_lung", "remove_specks")


def test_with_steps_switches_exactly_those_steps_and_name_follows():
    steps = PostProcess(keep_two_lungs=True, min_speck_fraction=0.01)
    chosen = steps.with_steps(("remove_specks", "infection_in_lung"))
    assert chosen.steps == ("infection_in_lung", "remove_specks")
    assert chosen.name == "infection_in_lung + remove_specks"
    assert chosen.min_speck_fraction == 0.01
    assert steps.with_steps(()).name == "none"
    assert PostProcess().name == "none"


# --- the choice kept beside the checkpoint ------------------------------------------------

STATE = {"run_id": "abc", "epoch": 3}


def test_the_choice_saved_for_a_checkpoint_is_loaded_for_it(tmp_path):
    save_choice(tmp_path, PostProcess(keep_two_lungs=True), STATE, {"split": "Val"})
    chosen, line = load_choice(tmp_path, STATE)
    assert chosen == PostProcess(keep_two_lungs=True)
    path = tmp_path / POSTPROCESSING_FILE
    assert line == f"post-processing: keep_two_lungs (chosen on Val, {path})"


def test_a_choice_of_no_step_says_none_was_chosen(tmp_path):
    save_choice(tmp_path, PostProcess(), STATE, {"split": "Val"})
    chosen, line = load_choice(tmp_path, STATE)
    assert chosen == PostProcess() and line.startswith("post-processing: none (no step beat")


def test_a_choice_made_for_another_checkpoint_is_not_applied(tmp_path):
    save_choice(tmp_path, PostProcess(keep_two_lungs=True), STATE, {"split": "Val"})
    chosen, line = load_choice(tmp_path, {"run_id": "abc", "epoch": 4})
    assert chosen == PostProcess()
    assert "chosen for run abc epoch 3, not this checkpoint's run abc epoch 4" in line


def test_a_damaged_choice_names_the_file_and_the_fix(tmp_path):
    (tmp_path / POSTPROCESSING_FILE).write_text('{"run_id": "abc"')
    with pytest.raises(RunError, match=f"{POSTPROCESSING_FILE}: not a post-processing record"):
        load_choice(tmp_path, STATE)


# --- the steps chosen on Val's predictions ---------------------------------------------

TARGETS = ("lung", "infection")
SIDE = 128  # the default speck size, 1e-4 of the image, is 2 pixels at 128x128


def lungs_with_infection(*infections: list[tuple[slice, slice]]) -> np.ndarray:
    """(N, 2, SIDE, SIDE) masks: the same two lungs in every image, infection where given."""
    masks = np.zeros((len(infections), 2, SIDE, SIDE), bool)
    masks[:, 0, 20:100, 10:50] = masks[:, 0, 20:100, 70:110] = True
    for i, regions in enumerate(infections):
        for region in regions:
            masks[(i, 1, *region)] = True
    return masks


LESION = (slice(40, 60), slice(20, 40))  # 400 pixels inside the left lung


def speck(row: int, col: int) -> tuple[slice, slice]:
    return slice(row, row + 1), slice(col, col + 1)


def trial_table(trials: list[dict]) -> list[tuple[str, bool]]:
    return [(trial["steps"], trial["kept"]) for trial in trials]


def test_choose_steps_removes_specks_that_lower_the_healthy_image_dice():
    truth = lungs_with_infection(*[[LESION]] * 4, *[[]] * 8)
    pred = lungs_with_infection(*[[LESION]] * 4, *[[speck(50, 30)], [speck(60, 80)]] * 4)
    chosen, trials = choose_steps(pred, truth, TARGETS)
    assert chosen == PostProcess(remove_specks=True)
    assert trial_table(trials) == [("none", True), ("keep_two_lungs", False),
                                   ("fill_lung_holes", False), ("infection_in_lung", False),
                                   ("remove_specks", True)]
    # Lung Dice 1; infection imagewise Dice (4 x 1 + 8 x 0)/12 before, 1 after (healthy unscored)
    assert [t["score"] for t in trials] == pytest.approx([2 / 3, 2 / 3, 2 / 3, 2 / 3, 1.0])
    assert trials[-1]["gain"] == pytest.approx(1 / 3)
    assert 0 < trials[-1]["gain_standard_error"] < 1 / 3


def test_choose_steps_leaves_off_a_step_that_would_remove_a_true_lesion():
    truth = pred = lungs_with_infection([LESION, speck(80, 90)], [])
    chosen, trials = choose_steps(pred, truth, TARGETS)
    assert chosen == PostProcess()
    assert trial_table(trials)[-1] == ("remove_specks", False)
    # Removing the 1-pixel lesion leaves Dice 800/801 on the COVID image.
    assert [t["score"] for t in trials] == pytest.approx(
        [1.0, 1.0, 1.0, 1.0, (1 + 800 / 801) / 2])
    assert not any(kept for _, kept in trial_table(trials)[1:])


def test_choose_steps_keeps_steps_greedily():
    outside_lung = (slice(110, 112), slice(60, 62))  # 4 pixels between the lungs, below them
    truth = lungs_with_infection(*[[LESION], []] * 5)
    pred = lungs_with_infection(*[[LESION], [outside_lung]] * 5)
    chosen, trials = choose_steps(pred, truth, TARGETS)
    assert chosen.name == "infection_in_lung"
    assert trial_table(trials)[-1] == ("infection_in_lung + remove_specks", False)


def lungs_only(n: int) -> np.ndarray:
    """(n, 1, SIDE, SIDE): the two lungs of ``lungs_with_infection`` and no infection channel."""
    return lungs_with_infection(*[[]] * n)[:, :1]


BLOB = (0, slice(102, 128), slice(2, 28))  # 676 px below the left lung, apart from it


def test_a_gain_below_half_a_dice_point_is_not_kept():
    truth = lungs_only(10)
    pred = truth.copy()
    pred[:, 0, 5, 5] = True  # a stray pixel on every image: Dice 2*6400/(2*6400 + 1)
    chosen, trials = choose_steps(pred, truth, ("lung",))
    assert chosen == PostProcess()
    assert trials[1]["gain"] == pytest.approx(1 - 12800 / 12801)  # 8e-5 < MIN_GAIN, no noise
    assert trials[1]["gain_standard_error"] == pytest.approx(0.0)
    assert not trials[1]["kept"]


def test_a_gain_beyond_half_a_dice_point_and_the_noise_is_kept():
    truth = lungs_only(10)
    pred = truth.copy()
    pred[(slice(None), *BLOB)] = True  # a stray blob on every image: Dice 12800/13476
    chosen, trials = choose_steps(pred, truth, ("lung",))
    assert chosen.name == "keep_two_lungs"
    assert trials[1]["gain"] == pytest.approx(1 - 12800 / 13476)  # 5 points > MIN_GAIN
    assert trials[1]["gain_standard_error"] == pytest.approx(0.0) and trials[1]["kept"]


def test_a_gain_within_the_noise_is_not_kept():
    # Six images lose a stray blob (Dice 12800/13476 -> 1), four lose a true third component
    # of the same size (1 -> 12800/13476): a mean gain of 2 x 676/13476 / 10, about one point,
    # that a resample of other images would reverse.
    truth = lungs_only(10)
    truth[(slice(6, None), *BLOB)] = True
    pred = truth.copy()
    pred[(slice(0, 6), *BLOB)] = True
    chosen, trials = choose_steps(pred, truth, ("lung",))
    assert chosen == PostProcess()
    gain, noise = trials[1]["gain"], trials[1]["gain_standard_error"]
    assert gain == pytest.approx(2 * 676 / 13476 / 10)
    assert MIN_GAIN < gain < noise and not trials[1]["kept"]
