"""Priors over a trained model's codes: the Gaussian mixture (Ghosh et al., ICLR 2020, Sec. 4) and its recipe."""

from __future__ import annotations

from typing import Any

from .registry import Family, register
from .stages import MAIN, Stage
from .train import TrainConfig

PRIOR_TRAIN: dict[str, Any] = {"epochs": 50, "lr": 1e-2, "batch_size": 256, "schedule": "cosine"}  # small and fast
GMM_COMPONENTS = 10

register(Family("gmm", presets={"tiny": {"input_shape": (1, 1, 4), "components": 3}}))


def gmm_prior(config: dict[str, Any], train: TrainConfig) -> list[Stage]:
    """The `prior` stage: a mixture fitted to the codes of the run's main stage."""
    return [Stage("prior", "gmm", {"components": GMM_COMPONENTS}, train, input=MAIN)]


PLANS = {"prior": {"gmm": gmm_prior}}  # every autoencoder takes it


def prior_train(seed: int = 0, **given: Any) -> TrainConfig:
    """A prior stage's training: PRIOR_TRAIN with what the caller gives on top, seeded like the run."""
    return TrainConfig(**{**PRIOR_TRAIN, **{k: v for k, v in given.items() if v is not None}}, seed=seed)
