"""The settings a command line or a comparison may set: ``TrainConfig``'s own fields, each with
the type its text is parsed to, so that neither restates them."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from practical3.base.errors import ConfigError
from practical3.training.config import TrainConfig
from practical3.training.profiles import PROFILE_FIELDS

WORDS = {int: "a whole number", float: "a number"}  # the types text can fail to parse to
BOOLS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def overridable() -> dict[str, type]:
    """Every overridable field of ``TrainConfig`` with its type (``int`` for ``int | None``),
    in the config's order."""
    hints = typing.get_type_hints(TrainConfig)
    return {field.name: _scalar(hints[field.name]) for field in dataclasses.fields(TrainConfig)
            if field.name not in PROFILE_FIELDS}


def _scalar(hint: Any) -> type:
    """The type of an optional setting's value: ``int`` for ``int | None``."""
    if isinstance(hint, types.UnionType):
        return next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return hint


def parse(name: str, text: str) -> Any:
    """The value of setting ``name`` written as ``text`` (a bool as 1/true/yes or 0/false/no);
    a ConfigError names a text that is not of the setting's type."""
    kind = overridable()[name]
    if kind is bool:
        if text.lower() not in BOOLS:
            raise ConfigError(f"{name}={text}: {name} is true or false")
        return BOOLS[text.lower()]
    try:
        return kind(text)
    except ValueError as err:
        raise ConfigError(f"{name}={text}: {name} is {WORDS[kind]}") from err
