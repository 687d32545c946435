"""The recipe registry: per model, its named presets, the stage plans it accepts and the prior every run gets.

A *preset* is a named model configuration, optionally with its training recipe under "train"; a *stage plan*
is a function `(config, train) -> [Stage]` from the model's full configuration (a JSON dict, defaults filled)
to the stages it adds to a run. What a stage on another stage's output needs to know of that output (its
shape, a codebook's size) is filled in by the planner from the model, never written here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import ConfigError
from .stages import Stage
from .train import TrainConfig

Plan = Callable[[dict[str, Any], TrainConfig], list[Stage]]
KINDS = ("pretrain", "prior")


@dataclass
class Family:
    """What the recipe layer knows of one registered model."""

    model: str
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)  # "tiny" for tests, a data set's name for its default
    plans: dict[str, dict[str, Plan]] = field(default_factory=dict)  # {"pretrain": {"rbm": fn}, "prior": {"gmm": fn}}
    default_prior: str | None = None  # a prior stage every run of this model gets (VQ-VAE: pixelcnn)
    train: dict[str, Any] = field(default_factory=dict)  # the family's training recipe, under any preset's own

    def __post_init__(self) -> None:
        unknown = set(self.plans) - set(KINDS)
        if unknown:
            raise ValueError(f"{self.model}: unknown plan kind(s) {sorted(unknown)}; known: {KINDS}")


_FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    _FAMILIES[family.model] = family
    return family


def family(model: str) -> Family:
    """The recipes of `model`; a model without any has an empty family."""
    return _FAMILIES.get(model) or Family(model)


def presets(model: str) -> dict[str, dict[str, Any]]:
    return family(model).presets


def preset(model: str, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model config, training recipe) of a named preset, or a one-line error listing the known ones."""
    known = presets(model)
    if name not in known:
        raise ConfigError(f"unknown preset {name!r} for model {model!r}; known: {', '.join(sorted(known)) or 'none'}")
    config = dict(known[name])
    return config, {**family(model).train, **config.pop("train", {})}


def training(model: str) -> dict[str, Any]:
    """The family's training recipe when no preset applies (TrainConfig's defaults under it)."""
    return dict(family(model).train)


def plan(model: str, kind: str, choice: str) -> Plan:
    """The stage plan `choice` of `kind` for `model`, or a one-line error naming the models it applies to."""
    plans = family(model).plans.get(kind, {})
    if choice in plans:
        return plans[choice]
    others = sorted(m for m, f in _FAMILIES.items() if choice in f.plans.get(kind, {}))
    have = f"; {model!r} has: {', '.join(sorted(plans))}" if plans else f"; {model!r} has none"
    if not others:
        raise ConfigError(f"unknown {kind} plan {choice!r}{have}")
    raise ConfigError(f"{kind} {choice!r} does not apply to model {model!r} (it applies to {', '.join(others)}){have}")
