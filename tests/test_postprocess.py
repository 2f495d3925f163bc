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
    keep_largest_components,
    load_choice,
    min_speck_pixels,
    remove_small_components,
    save_choice,
)


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
