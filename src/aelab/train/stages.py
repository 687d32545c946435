"""A run is a list of stages: each a model, its TrainConfig and its input (the data, or an earlier stage's output).

The stage named `model` is the run's model; stages before it (RBM pre-training) initialise it through
`initialise_from`, stages after it (a prior over its codes) are attached to it through `attach`. Which
stages a model accepts is declared by the model class (`stage_plans`), never by the runner.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import from_dict, to_dict
from ..errors import CheckpointError, ConfigError
from ..models.base import Trainable, build_model, model_class
from .trainer import TrainConfig

DATA = "data"  # a stage input: the run's data set
MAIN = "model"  # the name of the run's own model stage
STAGES_DIR = "stages"
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


@dataclass
class Stage:
    """One model trained to the end inside a run, on `input`: "data" or the name of an earlier stage."""

    name: str
    model: str
    model_config: dict[str, Any]
    train: TrainConfig = field(default_factory=TrainConfig)
    input: str = DATA

    def __post_init__(self) -> None:
        if isinstance(self.model_config, dict):  # its JSON form (tuples as lists), so a spec equals its reading
            self.model_config = json.loads(json.dumps(self.model_config))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "model": {"name": self.model, "config": self.model_config},
                "train": to_dict(self.train), "input": self.input}

    @classmethod
    def from_json(cls, d: Any, where: str) -> "Stage":
        if not isinstance(d, dict):
            raise CheckpointError(f"{where} must be a JSON object, not {type(d).__name__}")
        try:
            model = d["model"]
            stage = cls(name=d["name"], model=model["name"], model_config=model["config"],
                        train=from_dict(TrainConfig, _legacy_train(d["train"]), f"{where}.train"),
                        input=d.get("input", DATA))
        except KeyError as e:
            raise CheckpointError(f"{where} lacks {e}") from None
        except (TypeError, AttributeError):
            raise CheckpointError(f"{where} is malformed: model and train must be JSON objects") from None
        for key, value in (("name", stage.name), ("model.name", stage.model), ("input", stage.input)):
            if not isinstance(value, str):
                raise CheckpointError(f"{where}.{key} has the wrong type ({type(value).__name__})")
        if not isinstance(stage.model_config, dict):
            raise CheckpointError(f"{where}.model.config has the wrong type ({type(stage.model_config).__name__})")
        return stage


def _legacy_train(d: Any) -> Any:
    """TrainConfig JSON written before updates had their own name (step_options -> update_options)."""
    if isinstance(d, dict) and "step_options" in d:
        d = {("update_options" if k == "step_options" else k): v for k, v in d.items()}
    return d


@dataclass
class RunSpec:
    """Everything `aelab train` needs: the data and the stages, in training order."""

    stages: list[Stage]
    data: str = "digits"
    data_dir: str | None = None
    data_options: dict[str, Any] = dataclasses.field(default_factory=dict)  # load_dataset keywords (image_size, ...)
    fingerprint: dict[str, Any] | None = None  # what the training split was (rows, shape, sha256): checked on resume

    def __post_init__(self) -> None:
        names = [s.name for s in self.stages]
        if names.count(MAIN) != 1:
            raise ConfigError(f"a run needs exactly one stage named {MAIN!r}; got {names}")
        seen: set[str] = set()
        for s in self.stages:
            if not _NAME.match(s.name):
                raise ConfigError(f"stage name {s.name!r} must be lower-case letters, digits, '-' or '_'")
            if s.name in seen:
                raise ConfigError(f"two stages are named {s.name!r}")
            if s.input != DATA and s.input not in seen:
                raise ConfigError(f"stage {s.name!r} trains on {s.input!r}, which is not an earlier stage")
            seen.add(s.name)

    # The main stage's settings, by the names callers used before runs had stages.
    @property
    def main(self) -> Stage:
        return self.stage(MAIN)

    @property
    def model(self) -> str:
        return self.main.model

    @property
    def model_config(self) -> dict[str, Any]:
        return self.main.model_config

    @property
    def train(self) -> TrainConfig:
        return self.main.train

    def stage(self, name: str) -> Stage:
        """The stage called `name`, or a one-line error listing the run's stages."""
        for s in self.stages:
            if s.name == name:
                return s
        raise ConfigError(f"the run has no stage {name!r}; its stages: {', '.join(s.name for s in self.stages)}")

    def before_main(self) -> list[Stage]:
        return self.stages[: self.stages.index(self.main)]

    def after_main(self) -> list[Stage]:
        return self.stages[self.stages.index(self.main) + 1 :]

    def dependents(self, names: set[str]) -> list[Stage]:
        """The stages that must be trained again when `names` are: themselves and all that build on them."""
        out: set[str] = set(names)
        pre = {s.name for s in self.before_main()}
        for s in self.stages:  # training order, so one pass sees every chain
            if s.input in out or (s.name == MAIN and out & pre):
                out.add(s.name)
        return [s for s in self.stages if s.name in out]

    def to_json(self) -> dict[str, Any]:
        data = {"name": self.data, "data_dir": self.data_dir, "options": self.data_options}
        if self.fingerprint is not None:
            data["fingerprint"] = self.fingerprint
        return {"data": data, "stages": [s.to_json() for s in self.stages]}

    @classmethod
    def from_json(cls, d: Any) -> "RunSpec":
        if not isinstance(d, dict):
            raise CheckpointError(f"run config must be a JSON object, not {type(d).__name__}")
        data = d.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("name"), str) \
                or not isinstance(data.get("data_dir"), (str, type(None))):
            raise CheckpointError("run config: data must be an object with a name (and data_dir)")
        if not isinstance(data.get("options", {}), dict) or not isinstance(data.get("fingerprint", {}), dict):
            raise CheckpointError("run config: data.options and data.fingerprint must be JSON objects")
        if "stages" in d:
            if not isinstance(d["stages"], list):
                raise CheckpointError("run config: stages must be a list")
            stages = [Stage.from_json(s, f"run config: stages[{i}]") for i, s in enumerate(d["stages"])]
        elif "model" in d:  # a run written before stages: its model is the main stage
            stages = [Stage.from_json({**d, "name": MAIN}, "run config")]
        else:
            raise CheckpointError("run config lacks 'stages'")
        try:
            return cls(stages, data["name"], data.get("data_dir"), dict(data.get("options", {})), data.get("fingerprint"))
        except ConfigError as e:
            raise CheckpointError(f"run config: {e}") from None


def stage_dir(run_dir: Path, name: str) -> Path:
    """Where a stage's checkpoint lives: the run folder itself for the main stage, else stages/<name>/."""
    return Path(run_dir) if name == MAIN else Path(run_dir) / STAGES_DIR / name


def _plans(cls: type[Trainable], kind: str, choice: str) -> Any:
    plans = cls.stage_plans.get(kind, {})
    if choice in plans:
        return plans[choice]
    from ..models.base import model_names

    others = [n for n in model_names() if choice in model_class(n).stage_plans.get(kind, {})]
    have = f"; {cls.name!r} has: {', '.join(sorted(plans))}" if plans else f"; {cls.name!r} has none"
    if not others:
        raise ConfigError(f"unknown {kind} plan {choice!r}{have}")
    raise ConfigError(f"{kind} {choice!r} does not apply to model {cls.name!r} (it applies to {', '.join(others)}){have}")


def plan_run(model: str, model_config: dict[str, Any], data: str = "digits", data_dir: str | None = None,
             train: TrainConfig | None = None, pretrain: str | None = None, pretrain_train: TrainConfig | None = None,
             prior: str | None = None, prior_train: TrainConfig | None = None) -> RunSpec:
    """A run's stages: the model's pre-training plan, the model, and its prior plan (or its default prior)."""
    train = train or TrainConfig()
    built = build_model(model, model_config)  # a bad config fails here, before any folder is touched
    cls = type(built)
    stages: list[Stage] = []
    if pretrain:
        stages += _plans(cls, "pretrain", pretrain)(built, pretrain_train or TrainConfig())
    stages.append(Stage(MAIN, model, model_config, train))
    prior = prior or cls.default_prior
    if prior:
        stages += _plans(cls, "prior", prior)(built, prior_train or train)
    return RunSpec(stages, data, data_dir)


def prior_stages(main: Stage, prior: str, train: TrainConfig) -> list[Stage]:
    """The stages of prior plan `prior` for an existing main stage (to add a prior to a finished run)."""
    built = build_model(main.model, main.model_config)
    return _plans(type(built), "prior", prior)(built, train)


def with_stages(spec: RunSpec, new: list[Stage]) -> RunSpec:
    """`spec` with `new` stages replacing those of the same name, or appended after the last stage."""
    stages = list(spec.stages)
    for s in new:
        names = [t.name for t in stages]
        if s.name in names:
            stages[names.index(s.name)] = s
        else:
            stages.append(s)
    return dataclasses.replace(spec, stages=stages)
