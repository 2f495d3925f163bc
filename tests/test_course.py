"""The course's exercise checks: every check accepts its solution (``course.solutions``) and
rejects the typical wrong answer; a blank answer gets "not yet" and the hint; a numeric answer
rounded as its question asks is accepted; and each premise an exercise's text states holds
for the package."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from practical3.course.exercises import EXERCISES, check_exercise, feedback
from practical3.course.show import show_source
from practical3.course.solutions import SOLUTIONS
from practical3.data.cache import DecodedArrays
from practical3.data.dataset import CachedSource, SegmentationDataset
from practical3.data.index import build_index
from practical3.data.synth import synthesize
from practical3.models.blocks import DoubleConv
from practical3.training.profiles import PROFILES, profile


@pytest.fixture(scope="module")
def twin(tmp_path_factory) -> pd.DataFrame:
    return build_index(synthesize(tmp_path_factory.mktemp("twin") / "synthetic", per_class=2,
                                  size=64, parts=("infection",)))


def loader() -> DataLoader:
    rng = np.random.default_rng(0)
    arrays = DecodedArrays(rng.integers(0, 256, (10, 16, 16), dtype=np.uint8),
                           np.zeros((10, 2, 16, 16), np.uint8), ("lung", "infection"),
                           pd.DataFrame({"name": [f"{i}.png" for i in range(10)]}))
    return DataLoader(SegmentationDataset(CachedSource(arrays)), batch_size=4)


def metrics() -> dict:
    rows = [("none", 0.40), ("keep_two_lungs", 0.40), ("infection_in_lung", 0.43)]
    return {"ablation": {"variants": [{"steps": steps, "infection_dice_imagewise": dice,
                                       "lung_dice_imagewise": 0.9} for steps, dice in rows]}}


def probabilities() -> tuple[np.ndarray, np.ndarray]:
    """A lung whose prediction spreads beyond it with falling probability."""
    truth = np.zeros((2, 32, 32), bool)
    truth[0, 8:24, 8:24] = True
    yy, xx = np.mgrid[:32, :32]
    distance = np.maximum(abs(yy - 15.5), abs(xx - 15.5))
    prob = np.stack([np.clip(1.2 - distance / 10, 0, 1), np.zeros((32, 32))]).astype(np.float32)
    return prob, truth


PER_IMAGE = pd.DataFrame({"cls": ["COVID-19", "COVID-19", "Normal", "Normal", "Non-COVID"],
                          "pred_area_infection": [10, 0, 3, 0, 0],
                          "infection_dice": [0.8, 0.0, 0.0, np.nan, np.nan]})


def context(key: str, twin: pd.DataFrame) -> tuple:
    """What the notebook's answer cell passes to the check of ``key``."""
    from practical3.plots.eda import area_table

    return {
        "1.1": (twin, "infection"), "1.3": (twin, "infection"),
        "1.2": (area_table(twin, part="infection"),),
        "3.1": (loader(),), "3.3": (profile("demo"),), "3.4": (2e-3, 30),
        "4.2": (metrics(),), "4.3": probabilities(), "4.4": (PER_IMAGE,),
    }.get(key, ())


@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_the_solution_is_accepted(key, twin):
    ctx = context(key, twin)
    result = feedback(key, SOLUTIONS[key].right(*ctx), *ctx)
    assert result.right, str(result)


@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_the_typical_wrong_answer_is_rejected(key, twin):
    ctx = context(key, twin)
    result = feedback(key, SOLUTIONS[key].wrong(*ctx), *ctx)
    assert not result.right and "not yet" in str(result)


@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_a_blank_answer_says_not_yet_with_the_hint(key, twin, capsys):
    check_exercise(key, None, *context(key, twin))
    out = capsys.readouterr().out
    assert out.startswith(f"Exercise {key}: not yet.") and EXERCISES[key].hint in out


def test_an_answer_of_the_wrong_kind_is_not_an_error():
    assert not feedback("2.2", "a shape").right
    assert not feedback("2.1", "2512").right
    assert not feedback("4.1", 0.5).right


def test_every_exercise_has_a_solution():
    assert sorted(SOLUTIONS) == sorted(EXERCISES)


def test_the_wrong_answers_name_the_mistake():
    assert "BatchNorm" in feedback("2.1", 2448).message
    assert "Dice at 0.5" in feedback("4.3", SOLUTIONS["4.3"].wrong(*probabilities()),
                                     *probabilities()).message


def test_the_source_shown_is_the_package_source():
    shown = show_source(DoubleConv)
    assert "nn.Conv2d(" in repr(shown) and "nn.BatchNorm2d(" in repr(shown)
    assert repr(shown).startswith("class DoubleConv")
    assert "practical3/models/blocks.py, line" in shown.where
    assert "<style>" in shown._repr_html_() and "DoubleConv" in shown._repr_html_()


def test_a_method_is_shown_dedented():
    from practical3.models.unet import UNet

    assert repr(show_source(UNet.forward)).startswith("def forward(self")


def test_the_threshold_changes_the_lung_dice():
    from practical3.course.exercises import threshold_dice

    prob, truth = probabilities()
    at = {t: threshold_dice(prob, truth, t)[0] for t in (0.3, 0.5, 0.7)}
    assert len(set(at.values())) == 3 and at[0.7] < at[0.5]
    assert torch.isnan(torch.tensor(threshold_dice(prob, truth, 0.5)[1]))


def test_the_browser_picks_the_classes_in_turn_covid_first():
    from practical3.course.browse import pick_rows

    rows = pd.DataFrame({"cls": ["Normal"] * 3 + ["COVID-19"] * 3 + ["Non-COVID"] * 3,
                         "name": [f"{i}.png" for i in range(9)]})
    assert list(pick_rows(rows, 4)["cls"]) == ["COVID-19", "Non-COVID", "Normal", "COVID-19"]


def test_a_sample_states_its_dice_and_severity_at_a_threshold():
    from practical3.course.browse import Sample

    truth = np.zeros((2, 8, 8), bool)
    truth[0, 2:6, 2:6] = True
    truth[1, 3, 3:5] = True
    sample = Sample("a.png", "COVID-19", np.zeros((8, 8), np.uint8), truth,
                    truth * np.float32(0.8), ("lung", "infection"))
    assert sample.scores(0.5) == ("lung Dice 1.000, infection Dice 1.000\n"
                                  "severity 12.5 % (true 12.5 %)")
    assert "severity undefined: no lung predicted" in sample.scores(0.9)


def test_an_unknown_exercise_is_an_error_naming_the_exercises():
    with pytest.raises(ValueError, match=r"no exercise '9\.9': the exercises are 1\.1, 1\.2"):
        check_exercise("9.9", 1)


@pytest.mark.parametrize(("key", "places"), [("1.2", 2), ("3.2", 3), ("4.3", 4), ("4.4", 3)])
def test_an_answer_rounded_as_the_question_asks_is_right(key, places, twin):
    ctx = context(key, twin)
    exact = float(SOLUTIONS[key].right(*ctx))
    for rounded in (round(exact, places), exact + 0.49 * 10**-places):
        assert feedback(key, rounded, *ctx).right, (key, rounded)


def test_the_ablation_read_off_a_table_rounded_to_four_decimals_is_right():
    rows = [("none", 0.61557), ("keep_two_lungs", 0.61557), ("infection_in_lung", 0.61564)]
    table = {"ablation": {"variants": [{"steps": s, "infection_dice_imagewise": d}
                                       for s, d in rows]}}
    assert feedback("4.2", round(0.61564, 4) - round(0.61557, 4), table).right


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_3_3_is_worked_out_from_the_sessions_profile(name):
    cfg = profile(name)
    answer = float(f"{SOLUTIONS['3.3'].right(cfg):.3g}")
    assert feedback("3.3", answer, cfg).right
    assert not feedback("3.3", cfg.lr, cfg).right


@pytest.mark.parametrize("model", [("attention_unet", 1, 2, 8, 5), ("unet", 1, 2, 16, 5),
                                   ("unet", 1, 1, 8, 5), ("unet", 1, 2, 8, 4)])
def test_2_3_checks_the_architecture_and_every_size_asked(model):
    from practical3.models import build_model

    name, cin, cout, base, depth = model
    assert not feedback("2.3", build_model(name, cin, cout, base_channels=base,
                                           depth=depth)).right


def test_2_3s_feedback_does_not_give_away_2_4():
    import re

    message = feedback("2.3", SOLUTIONS["2.3"].right()).message
    assert not re.search(r"\b32\b|multiple", message)


@pytest.mark.parametrize("key", ["1.5", "2.5", "3.5", "4.5"])
def test_a_wrong_function_is_told_the_case_it_fails(key):
    message = feedback(key, SOLUTIONS[key].wrong()).message
    assert message.startswith("case ") and " of " in message and "the package's" in message


def test_a_function_that_returns_nothing_is_told_so():
    assert "returned None" in feedback("4.5", lambda tp, fp, fn: None).message


# The premises the exercises' texts state, run against the package.

def test_1_2_predicting_no_infection_is_right_on_the_background_with_a_dice_of_0():
    from practical3.scoring.metrics import confusion_counts, dice_from_counts

    truth = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    truth[..., 2:4, 2:6] = True
    counts = confusion_counts(torch.zeros_like(truth), truth)
    tp, _, _, tn = counts[0, 0].tolist()
    assert (tp + tn) / 64 == 1 - truth.float().mean().item()
    assert dice_from_counts(counts).item() == 0


def test_1_3_only_covid_19_images_have_infection_and_an_empty_pair_is_undefined(twin):
    from practical3.plots.eda import area_table
    from practical3.scoring.metrics import confusion_counts, dice_from_counts

    areas = area_table(twin, part="infection")
    assert (areas[areas.cls != "COVID-19"].infection_area == 0).all()
    assert (areas[areas.cls == "COVID-19"].infection_area > 0).all()
    empty = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    assert torch.isnan(dice_from_counts(confusion_counts(empty, empty))).all()


def test_1_4_training_never_flips_and_the_other_choices_are_false():
    import dataclasses

    from practical3.data import layout
    from practical3.data.augment import AugmentSpec

    assert not any("flip" in field.name for field in dataclasses.fields(AugmentSpec))
    assert layout.TARGETS["lung"] == ("lung",)  # (a): one mask for both lungs
    torch.manual_seed(0)
    block = DoubleConv(1, 4).eval()
    x = torch.randn(1, 1, 8, 8)
    with torch.no_grad():  # (c): a learnt kernel is not mirror-symmetric
        assert not torch.allclose(block(x.flip(-1)), block(x).flip(-1), atol=1e-3)


def test_2_1_and_2_2_the_parameters_and_the_bottleneck_are_as_stated():
    from practical3.models import build_model
    from practical3.models.inspection import count_parameters

    assert count_parameters(DoubleConv(1, 16)) == SOLUTIONS["2.1"].right()
    model = build_model("unet", 1, 2, base_channels=16, depth=4).eval()
    with torch.no_grad():
        bottleneck = model.encode(torch.zeros(1, 1, 256, 256))[-1]
    assert tuple(bottleneck.shape) == SOLUTIONS["2.2"].right()


def test_2_3_the_new_parameters_are_the_new_bottleneck_and_its_decoder():
    from practical3.models import build_model
    from practical3.models.inspection import count_parameters

    deep, shallow = (build_model("unet", 1, 2, base_channels=8, depth=d) for d in (5, 4))
    assert count_parameters(deep) - count_parameters(shallow) == (
        count_parameters(deep.bottleneck) + count_parameters(deep.decoders[0]))


def test_2_4_eval_mode_takes_32_and_train_mode_needs_64_for_one_image():
    from practical3.models import build_model

    model = build_model("unet", 1, 2, base_channels=8, depth=5)
    with torch.no_grad():
        model.eval()
        model(torch.zeros(1, 1, 32, 32))
        with pytest.raises(ValueError, match="multiples of 32"):
            model(torch.zeros(1, 1, 16, 16))
        model.train()
        with pytest.raises(ValueError, match="more than 1 value per channel"):
            model(torch.zeros(1, 1, 32, 32))
        model(torch.zeros(1, 1, 64, 64))


def test_3_2_the_batch_dice_leaves_an_empty_truth_out_the_per_image_dice_does_not():
    from practical3.course.exercises import healthy_image_dice_loss
    from practical3.training.losses import DiceLoss, ImageDiceLoss

    logits = torch.full((1, 1, 96, 96), -4.0)
    assert DiceLoss()(logits, torch.zeros_like(logits)).item() == 0
    per_image = ImageDiceLoss()(logits, torch.zeros_like(logits)).item()
    assert per_image == pytest.approx(healthy_image_dice_loss()) and per_image > 0.99


def test_3_3_the_lr_column_of_train_is_the_cosine_the_check_works_out(data, tmp_path):
    from practical3.course.exercises import cosine_lr, middle_epoch
    from practical3.training.loop import train

    cfg = profile("smoke")  # 2 epochs: the middle one trains at half the rate
    history = train(cfg, data, tmp_path / "run", progress=False)
    lr = history.loc[history["epoch"] == middle_epoch(cfg), "lr"].item()
    assert lr == pytest.approx(cosine_lr(cfg.lr, cfg.epochs, middle_epoch(cfg)))
    assert feedback("3.3", float(f"{lr:.3g}"), cfg).right


def test_3_4_the_unchanged_loop_keeps_its_rate_and_a_scheduled_one_passes():
    optimizer = torch.optim.AdamW([torch.zeros(1, requires_grad=True)], lr=2e-3)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=6)
    constant, scheduled = [], []
    for _ in range(4):  # a time cap may stop the loop before its planned 6 epochs
        constant.append(2e-3)
        scheduled.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert not feedback("3.4", constant, 2e-3, 6).right
    assert feedback("3.4", scheduled, 2e-3, 6).right


def test_4_1_the_toy_moved_two_pixels_down_has_tp_4_fp_8_fn_8():
    from practical3.scoring.metrics import confusion_counts

    truth = torch.zeros(6, 6, dtype=torch.bool)
    truth[1:4, 1:5] = True
    pred = torch.zeros(6, 6, dtype=torch.bool)
    pred[3:6, 1:5] = True
    assert confusion_counts(pred[None, None], truth[None, None])[0, 0, :3].tolist() == [4, 8, 8]


def test_4_2_infection_in_lung_can_lower_the_infection_dice_as_well_as_raise_it():
    from practical3.evaluation.postprocess import PostProcess, apply_one
    from practical3.scoring.metrics import counts_of, dice_from_counts

    targets, step = ("lung", "infection"), PostProcess(infection_in_lung=True)
    truth = np.zeros((2, 8, 8), bool)
    truth[0, :, :6] = True
    truth[1, 2:6, 2:6] = True

    def dice(masks: np.ndarray) -> float:
        return dice_from_counts(counts_of([masks], [truth]))[0, 1].item()

    missed_lung = truth.copy()
    missed_lung[0, :, 4:] = False  # the infection right, the predicted lung short of it
    assert dice(apply_one(missed_lung, targets, step)) < dice(missed_lung)
    outside = truth.copy()
    outside[1, 0, 7] = True  # a speck of infection outside the lung, the lung right
    assert dice(apply_one(outside, targets, step)) > dice(outside)


def test_4_4_the_all_class_imagewise_dice_counts_a_healthy_false_positive_as_0():
    from practical3.scoring.metrics import confusion_counts, dice_from_counts, imagewise

    covid = torch.zeros(4, 4, dtype=torch.bool)
    covid[1:3, 1:3] = True
    empty, speck = torch.zeros(4, 4, dtype=torch.bool), torch.zeros(4, 4, dtype=torch.bool)
    speck[0, 0] = True
    preds = torch.stack([covid, speck, empty])[:, None]
    truths = torch.stack([covid, empty, empty])[:, None]
    dice = dice_from_counts(confusion_counts(preds, truths))
    assert imagewise(dice[:1]).item() == 1.0 and imagewise(dice).item() == 0.5
