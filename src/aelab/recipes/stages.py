"""A run is a list of stages: each a model, its TrainConfig and its input (the data, or an earlier stage's output).

The stage named `model` is the run's model; stages before it (RBM pre-training) initialise it through
`initialise_from`, stages after it (a prior over its codes) are attached to it through `attach`. Which
stages a model accepts is declared by its family's recipes (`recipes.Family.plans`), never by the runner.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..config import from_dict, to_dict
from ..errors import CheckpointError, ConfigError
from .train import TrainConfig

DATA = "data"  # a stage input: the run's data set
MAIN = "model"  # the name of the run's own model stage
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
