"""The settings a command may override are TrainConfig's fields, parsed to their types."""

import dataclasses

import pytest

from practical3.base.errors import ConfigError
from practical3.cli import build_parser
from practical3.training.config import TrainConfig
from practical3.training.settings import overridable, parse


def test_every_field_but_the_profile_and_the_twin_is_a_setting_of_its_type():
    names = [f.name for f in dataclasses.fields(TrainConfig)]
    assert list(overridable()) == [n for n in names if n not in ("profile", "synth")]
    assert overridable()["max_train_images"] is int and overridable()["lr"] is float


def test_text_is_parsed_to_the_settings_type_and_a_bad_one_is_named():
    assert parse("image_size", "128") == 128 and parse("augment", "No") is False
    with pytest.raises(ConfigError, match="image_size=big: image_size is a whole number"):
        parse("image_size", "big")
    with pytest.raises(ConfigError, match="augment=maybe: augment is true or false"):
        parse("augment", "maybe")


def test_the_train_command_has_an_option_for_each_setting():
    args = build_parser("train").parse_args(
        ["train", "--data", "d", "--out", "o", "--max-val-images", "7", "--no-augment",
         "--model", "unetpp"])
    given = {name: getattr(args, name) for name in overridable()}
    assert {k: v for k, v in given.items() if v is not None} == {
        "max_val_images": 7, "augment": False, "model": "unetpp"}
