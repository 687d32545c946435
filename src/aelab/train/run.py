"""Run folders: create safely, record the config, train in stages, and load back with no pickle."""

from __future__ import annotations

import dataclasses
import platform
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from ..config import from_dict, to_dict
from ..errors import CheckpointError, ConfigError
from ..models.base import Autoencoder, build_model
from .checkpoint import atomic_write_json, load_weights, read_json, read_tensors
from .trainer import PREVIOUS, TrainConfig, Trainer

CONFIG = "config.json"


def versions() -> dict[str, str]:
    """Versions that decide whether numbers are comparable."""
    from .. import __version__

    return {"aelab": __version__, "torch": torch.__version__, "python": sys.version.split()[0],
            "platform": platform.platform()}


def prepare_run_dir(path: Path, overwrite: bool = False, resume: bool = False) -> Path:
    """Create `path` for a new run; refuse to touch an existing run unless resuming or asked."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CheckpointError(f"{path} exists and is not a folder")
    occupied = path.is_dir() and any(path.iterdir())
    if resume:
        if not (path / CONFIG).is_file():
            raise CheckpointError(f"cannot resume: {path} is not a run folder (no {CONFIG})")
        return path
    if occupied:
        if not overwrite:
            raise CheckpointError(f"{path} already exists and is not empty; use --resume to continue it or --overwrite to replace it")
        if not (path / CONFIG).is_file():
            raise CheckpointError(f"refusing to overwrite {path}: it is not a run folder (no {CONFIG})")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class RunSpec:
    """Everything `aelab train` needs: model, data, training (and pre-training) settings."""

    model: str
    model_config: dict[str, Any]
    data: str = "digits"
    data_dir: str | None = None
    train: TrainConfig = field(default_factory=TrainConfig)
    pretrain: str | None = None  # "rbm"
    pretrain_train: TrainConfig | None = None

    def to_json(self) -> dict[str, Any]:
        d = {"model": {"name": self.model, "config": self.model_config}, "data": {"name": self.data, "data_dir": self.data_dir},
             "train": to_dict(self.train), "pretrain": None}
        if self.pretrain:
            d["pretrain"] = {"kind": self.pretrain, "train": to_dict(self.pretrain_train or TrainConfig())}
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "RunSpec":
        if not isinstance(d, dict):
            raise CheckpointError(f"run config must be a JSON object, not {type(d).__name__}")
        try:
            pre = d.get("pretrain") or None
            spec = cls(
                model=d["model"]["name"], model_config=d["model"]["config"], data=d["data"]["name"],
                data_dir=d["data"].get("data_dir"), train=from_dict(TrainConfig, d["train"], "train"),
                pretrain=pre["kind"] if pre else None,
                pretrain_train=from_dict(TrainConfig, pre["train"], "pretrain.train") if pre else None,
            )
        except KeyError as e:
            raise CheckpointError(f"run config lacks {e}") from None
        except (TypeError, AttributeError):
            raise CheckpointError("run config is malformed: model, data, train and pretrain must be JSON objects") from None
        kinds = {"model.name": (spec.model, str), "model.config": (spec.model_config, dict), "data.name": (spec.data, str),
                 "data.data_dir": (spec.data_dir, (str, type(None))), "pretrain.kind": (spec.pretrain, (str, type(None)))}
        for where, (value, kind) in kinds.items():
            if not isinstance(value, kind):
                raise CheckpointError(f"run config: {where} has the wrong type ({type(value).__name__})")
        return spec


def read_spec(run_dir: Path) -> RunSpec:
    """The RunSpec recorded in a run folder."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"run folder {run_dir} does not exist")
    return RunSpec.from_json(read_json(run_dir / CONFIG, "run config"))


def load(run_dir: str | Path) -> Autoencoder:
    """Rebuild a trained model from a run folder (config.json + model.safetensors), no pickle."""
    run_dir = Path(run_dir)
    spec = read_spec(run_dir)
    model = build_model(spec.model, spec.model_config)
    state = read_json(run_dir / "trainer.json", "trainer state") if (run_dir / "trainer.json").exists() else {}
    weights_path = run_dir / "model.safetensors"
    if not weights_path.exists():
        raise CheckpointError(f"{run_dir} has no model.safetensors (training never reached a checkpoint)")
    load_weights(model, read_tensors(weights_path, state.get("model_sha256")), weights_path)
    model.eval()
    return model


def train_run(
    spec: RunSpec,
    out: Path,
    train_x: torch.Tensor,
    train_y: torch.Tensor | None,
    evaluate: Callable[[Autoencoder], dict[str, float]] | None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    stop_after: int | None = None,
) -> tuple[Autoencoder, dict[str, float]]:
    """Train `spec` into run folder `out`, with its pre-training stages; resumable at any stage."""
    if resume:
        out = prepare_run_dir(out, resume=True)
        stored = read_spec(out)
        if stored.model != spec.model:
            raise CheckpointError(f"{out} holds a {stored.model!r} run, not {spec.model!r}")
        spec = stored  # the run's own settings win on resume
    torch.manual_seed(spec.train.seed)
    model = build_model(spec.model, spec.model_config)  # a bad config fails before any folder is touched
    model.check_input(train_x)
    if not resume:
        out = prepare_run_dir(out, overwrite=overwrite)
        atomic_write_json(out / CONFIG, {**spec.to_json(), "versions": versions()})
    main_started = (out / "trainer.json").exists() or (out / PREVIOUS / "trainer.json").exists()
    if spec.pretrain and not main_started:
        _pretrain(spec, model, out, train_x, progress, resume)
    trainer = Trainer(model, train_x, spec.train, out, y=train_y, evaluate=evaluate, progress=progress,
                      desc=spec.model, stop_after=stop_after)
    result = trainer.fit(resume=resume)
    return model, result


def _pretrain(spec: RunSpec, model: Autoencoder, out: Path, x: torch.Tensor, progress: bool, resume: bool) -> None:
    """Greedy stage-by-stage pre-training; each stage is an ordinary run in out/pretrain/<stage>."""
    if spec.pretrain != "rbm":
        raise ConfigError(f"unknown pre-training {spec.pretrain!r}; known: rbm")
    from ..models.ae import DeepAutoencoder
    from ..models.rbm import RBM, hidden_features, rbm_configs_for, unroll_into

    if not isinstance(model, DeepAutoencoder):
        raise ConfigError(f"--pretrain rbm applies to the deep autoencoder (ae), not {spec.model!r}")
    cfg = spec.pretrain_train or TrainConfig()
    rbms: list[RBM] = []
    data = x
    for i, rcfg in enumerate(rbm_configs_for(model.config)):
        stage = out / "pretrain" / f"rbm{i + 1}"
        stage.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(cfg.seed + i)
        rbm = RBM(rcfg)
        # The code layer's linear units learn with a much smaller rate (0.001 vs 0.1 in the paper's code).
        stage_cfg = dataclasses.replace(cfg, lr=cfg.lr * 0.01) if rcfg.hidden_unit == "gaussian" else cfg
        state = read_json(stage / "trainer.json", "trainer state") if (stage / "trainer.json").exists() else {}
        if state.get("finished"):
            weights = stage / "model.safetensors"
            load_weights(rbm, read_tensors(weights, state.get("model_sha256")), weights)
        else:
            if not (stage / CONFIG).exists():
                stage_spec = RunSpec("rbm", to_dict(rcfg), spec.data, spec.data_dir, stage_cfg)
                atomic_write_json(stage / CONFIG, {**stage_spec.to_json(), "versions": versions()})
            Trainer(rbm, data, stage_cfg, stage, progress=progress, desc=f"rbm{i + 1}").fit(resume=resume)
        rbms.append(rbm)
        data = hidden_features(rbm, data)
    unroll_into(model, rbms)
