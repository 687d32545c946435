"""`aelab train`'s training flags, generated from TrainConfig's fields so their defaults and checks cannot drift."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any

from ..errors import ConfigError
from ..recipes.train import TrainConfig
from .common import bounded, parse_value

_FIELDS = [f for f in dataclasses.fields(TrainConfig) if f.metadata.get("cli", True)]
_HINTS = typing.get_type_hints(TrainConfig)


def flag_name(field: str) -> str:
    """The command-line flag of a TrainConfig field."""
    f = next(f for f in _FIELDS if f.name == field)
    return "--" + f.metadata.get("flag", field.replace("_", "-"))


def _number_list(text: str) -> list[float]:
    try:
        return [float(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None


def _update_option(text: str) -> tuple[str, str, Any]:
    name, dot, rest = text.partition(".")
    key, eq, value = rest.partition("=")
    if not (name and dot and key and eq):
        raise argparse.ArgumentTypeError(f"expected UPDATE.KEY=VALUE (e.g. discriminator.lr=1e-4), got {text!r}")
    return name, key.replace("-", "_"), parse_value(value)


def _bounded_type(kind: type, minimum: float, inclusive: bool, maximum: float | None = None):
    if kind is int:
        label = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        if maximum is not None:
            label = f"an integer from {minimum} to {maximum}"
    else:
        label = "a positive number" if not inclusive else f"a number >= {minimum:g}"
    return bounded(kind, minimum, inclusive, label, maximum)


def add_train_flags(p: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field; None when not given, so a preset's recipe or the field's default fills it."""
    defaults = TrainConfig()
    group = p.add_argument_group("training (defaults from TrainConfig; a preset's recipe comes before them)")
    for f in _FIELDS:
        hint, help_text = _HINTS[f.name], f.metadata.get("help", "")
        if f.name == "update_options":
            group.add_argument(flag_name(f.name), dest=f.name, action="append", type=_update_option, default=None,
                               metavar="UPDATE.KEY=VALUE", help=f"{help_text} (repeatable)")
            continue
        default = getattr(defaults, f.name)
        shown = default if default != "" else "none"
        kwargs: dict[str, Any] = {"dest": f.name, "default": None, "help": f"{help_text} (default {shown})"}
        if hint is bool:
            kwargs["action"] = "store_true"
        elif typing.get_origin(hint) is tuple:
            kwargs.update(type=_number_list, metavar=",".join(["X"] * len(typing.get_args(hint))))
        elif "min" in f.metadata:  # checked by argparse, so a bad number is a usage error like any other
            kwargs["type"] = _bounded_type(hint, f.metadata["min"], not f.metadata.get("exclusive", False),
                                           f.metadata.get("max"))
        else:
            kwargs.update(type=hint, choices=f.metadata.get("choices"))
        group.add_argument(flag_name(f.name), **kwargs)


def given_train_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainConfig fields the user set on the command line, as TrainConfig values."""
    out: dict[str, Any] = {}
    for f in _FIELDS:
        value = getattr(args, f.name, None)
        if value is None or value is False:
            continue
        if f.name == "update_options":
            options: dict[str, dict[str, Any]] = {}
            for name, key, v in value:
                options.setdefault(name, {})[key] = v
            value = options
        elif typing.get_origin(_HINTS[f.name]) is tuple:
            if len(value) != len(typing.get_args(_HINTS[f.name])):
                raise ConfigError(f"{flag_name(f.name)} takes {len(typing.get_args(_HINTS[f.name]))} numbers, got {len(value)}")
            value = tuple(value)
        out[f.name] = value
    return out
