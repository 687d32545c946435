"""How to train (TrainConfig): the one definition that the trainer, run folders, recipes and the CLI's flags read."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .corruption import parse_corruption
from ..errors import ConfigError

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine")
PRECISIONS = ("fp32", "bf16", "fp16")
SEED_MAX = 2**32 - 1  # every generator derives from (seed, epoch, step): this keeps them inside 64 bits
UPDATE_OPTION_KEYS = ("optimizer", "lr", "momentum", "weight_decay", "betas")


def _f(default: Any, help: str, **more: Any) -> Any:
    return field(default=default, metadata={"help": help, **more})


@dataclass
class TrainConfig:
    """How to train: epochs, batch, optimiser, schedule, and how often to evaluate and save."""

    epochs: int = _f(30, "passes over the training data", min=1)
    batch_size: int = _f(100, "examples per step", min=1)
    optimizer: str = _f("adam", "optimiser of every update", choices=OPTIMIZERS)
    lr: float = _f(1e-3, "peak learning rate", min=0.0, exclusive=True)
    momentum: float = _f(0.9, "SGD momentum")
    weight_decay: float = _f(0.0, "weight decay (L2 for adam/sgd, decoupled for adamw)", min=0.0)
    betas: tuple[float, float] = _f((0.9, 0.999), "Adam's beta1,beta2")
    schedule: str = _f("cosine", "learning-rate schedule after warm-up", choices=SCHEDULES)
    warmup_steps: int = _f(0, "steps of linear learning-rate warm-up", min=0)
    grad_clip: float = _f(0.0, "clip each update's gradient norm to this (0: off)", min=0.0)
    eval_every: int = _f(0, "steps between evaluations (0: each epoch)", min=0)
    checkpoint_every: int = _f(0, "steps between checkpoints (0: each epoch)", min=0)
    log_every: int = _f(50, "steps between training-loss lines in metrics.jsonl", min=1)
    seed: int = _f(0, "seed of the initial weights, shuffles and draws", min=0, max=SEED_MAX)
    precision: str = _f("fp32", "autocast precision of the updates; fp16 adds a gradient scaler per update",
                        choices=PRECISIONS)
    binarize: bool = _f(False, "dynamic binarisation: a fresh Bernoulli draw of each batch; evaluation on a fixed draw")
    corrupt: str = _f("", "train as a denoiser: corrupt each batch on the fly and restore the clean input; terms "
                      "joined by '+': gaussian:SIGMA, masking:P, saltpepper:P, occlude:S (or HxW), mask:PATH")
    emphasis: float = _f(1.0, "loss weight of the inputs a corruption destroyed, relative to the others "
                         "(Vincent et al. 2010's emphasised denoising)", min=0.0, exclusive=True)
    validation: float = _f(0.0, "share of the training items held out to choose the epoch: the model is scored on "
                           "them after each epoch (a hasher by retrieval) and the best epoch's weights are kept",
                           min=0.0, max=0.5)
    restart_epoch: int = _f(0, "epoch where the learning-rate schedule starts again: set when a finished run is "
                            "extended with --epochs", min=0, cli=False)
    update_options: dict[str, dict] = field(default_factory=dict, metadata={
        "help": "per-update overrides, e.g. discriminator.lr=1e-4", "flag": "update-opt"})

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"batch size must be >= 1, got {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"learning rate must be a positive number, got {self.lr}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; known: {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule {self.schedule!r}; known: {', '.join(SCHEDULES)}")
        if min(self.eval_every, self.checkpoint_every, self.warmup_steps, self.log_every - 1) < 0:
            raise ConfigError("eval_every, checkpoint_every and warmup_steps must be >= 0, log_every >= 1")
        if self.grad_clip < 0 or self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise ConfigError("grad_clip and weight_decay must be >= 0 and momentum in [0, 1)")
        if not 0 <= self.restart_epoch < self.epochs:
            raise ConfigError(f"restart_epoch must be in [0, epochs), got {self.restart_epoch} of {self.epochs}")
        if not 0 <= self.validation <= 0.5:
            raise ConfigError(f"validation is the share of training items held out, in [0, 0.5], got {self.validation}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {self.precision!r}; known: {', '.join(PRECISIONS)}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(f"betas must be two numbers in [0, 1), got {self.betas}")
        if not (self.emphasis > 0 and math.isfinite(self.emphasis)):
            raise ConfigError(f"emphasis must be a positive number, got {self.emphasis}")
        spec = parse_corruption(self.corrupt)
        self.corrupt = spec.text() if spec else ""  # canonical, a mask's path made absolute
        if self.emphasis != 1.0 and not (spec and spec.destroys):
            raise ConfigError("emphasis weighs the inputs a corruption destroys: give --corrupt with masking, "
                              "saltpepper, occlude or mask")
        for name, opts in self.update_options.items():
            if not isinstance(opts, dict):
                raise ConfigError(f"update_options[{name!r}] must be an object of settings")
            bad = set(opts) - set(UPDATE_OPTION_KEYS)
            if bad:
                raise ConfigError(f"update_options[{name!r}]: unknown key(s) {', '.join(sorted(bad))}; "
                                  f"known: {', '.join(UPDATE_OPTION_KEYS)}")

    def option(self, update: str, key: str) -> Any:
        """A setting for one update, its override first."""
        return self.update_options.get(update, {}).get(key, getattr(self, key))
