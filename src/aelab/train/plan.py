"""From a recipe to a run's stages: the family's stage plans, each stage's config completed from the model it
trains on (the shape of that model's output, a codebook's size), every config checked by building it."""

from __future__ import annotations

import json
from typing import Any

import torch

from .. import recipes
from ..config import from_dict, to_dict
from ..errors import ConfigError
from ..models.base import Trainable, build_model, model_class, saved_config
from ..recipes.stages import DATA, MAIN, RunSpec, Stage
from ..recipes.train import TrainConfig


def full_config(model: str, config: Any, saved: bool = False) -> dict[str, Any]:
    """A model config with every default filled in, as JSON would hold it (so partial and full ones compare);
    `saved`: read from a run folder, where a key added since takes the value it had before (`Config.ADDED`)."""
    cls = model_class(model).Config
    if saved and isinstance(config, dict):
        config = saved_config(cls, config)
    try:
        return json.loads(json.dumps(to_dict(from_dict(cls, config, f"{model} config"))))
    except ConfigError:
        return config if isinstance(config, dict) else {}


def _complete(stages: list[Stage], built: dict[str, Trainable]) -> list[Stage]:
    """Each stage's config with what its input implies (input shape, codebook size) and every default filled in."""
    out = []
    for s in stages:
        source = built[MAIN] if s.input == DATA else built[s.input]
        implied = {"input_shape": list(source.input_shape)} if s.input == DATA else source.stage_output_config()
        cfg = {**s.model_config, **implied} if s.input != DATA else {**implied, **s.model_config}
        cls = model_class(s.model)
        config = from_dict(cls.Config, cfg, f"stage {s.name} ({s.model}) config")
        built[s.name] = cls(config)
        out.append(Stage(s.name, s.model, to_dict(config), s.train, s.input))
    return out


def plan_run(model: str, model_config: dict[str, Any], data: str = "digits", data_dir: str | None = None,
             train: TrainConfig | None = None, pretrain: str | None = None, pretrain_train: TrainConfig | None = None,
             prior: str | None = None, prior_train: TrainConfig | None = None) -> RunSpec:
    """A run's stages: the family's pre-training plan, the model, and its prior plan (or the family's default)."""
    with torch.random.fork_rng():  # the models built to read shapes must not move the caller's RNG
        return _plan(model, model_config, data, data_dir, train or TrainConfig(), pretrain, pretrain_train, prior,
                     prior_train)


NO_PRIOR = "none"  # a family's default prior stage (the VQ-VAE's PixelCNN) left out


def _plan(model: str, model_config: dict[str, Any], data: str, data_dir: str | None, train: TrainConfig,
          pretrain: str | None, pretrain_train: TrainConfig | None, prior: str | None,
          prior_train: TrainConfig | None) -> RunSpec:
    built = {MAIN: build_model(model, model_config)}  # a bad config fails here, before any folder is touched
    full = full_config(model, model_config)
    before: list[Stage] = []
    if pretrain:
        before = _complete(recipes.plan(model, "pretrain", pretrain)(full, pretrain_train or TrainConfig()), built)
    after: list[Stage] = []
    prior = None if prior == NO_PRIOR else prior or recipes.family(model).default_prior
    if prior:
        after = _complete(recipes.plan(model, "prior", prior)(full, prior_train or train), built)
    return RunSpec([*before, Stage(MAIN, model, model_config, train), *after], data, data_dir)


def prior_stages(main: Stage, prior: str, train: TrainConfig) -> list[Stage]:
    """The stages of prior plan `prior` for an existing main stage (to add a prior to a finished run)."""
    with torch.random.fork_rng():
        built = {MAIN: build_model(main.model, main.model_config)}
        return _complete(recipes.plan(main.model, "prior", prior)(full_config(main.model, main.model_config), train),
                         built)
