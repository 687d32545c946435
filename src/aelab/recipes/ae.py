"""Recipes of the deep autoencoder (Hinton & Salakhutdinov, Science 2006) and of its RBM pre-training."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from ..errors import ConfigError
from . import lines, priors
from .registry import Family, register
from .stages import DATA, Stage
from .train import TrainConfig

# Science 2006's RBMs (supporting text: CD-1, SGD with momentum 0.9, a constant rate), shortened to 10 epochs.
PRETRAIN_TRAIN: dict[str, Any] = {"epochs": 10, "lr": 0.1, "batch_size": 100, "optimizer": "sgd", "momentum": 0.9,
                                  "schedule": "constant"}

# The paper's architectures (Science 2006, Fig. 2 and Fig. 3).
PRESETS: dict[str, dict] = {
    "tiny": {"input_shape": (1, 8, 8), "hidden": (16,), "latent_dim": 3},
    # The embedded 8x8 digits: the paper's logistic units at a size the data supports; RBM pre-training
    # (--pretrain rbm) then beats training from random weights, as in the paper (0.78 vs 1.39 sq_err).
    "digits": {"input_shape": (1, 8, 8), "hidden": (256, 128), "latent_dim": 8, "train": {"epochs": 100, "lr": 3e-3}},
    "hinton2006": {"input_shape": (1, 28, 28), "hidden": (1000, 500, 250), "latent_dim": 30},
    "hinton2006-2d": {"input_shape": (1, 28, 28), "hidden": (1000, 500, 250), "latent_dim": 2},
    # The ACAI paper's baseline autoencoder on its lines data: its conv family, no critic (cross-entropy: a squared
    # error through the logistic output stalls at blank images, where the paper's linear output does not)
    "lines": lines.preset(latent_dim=64, loss="bce"),
    # MNIST at the size of the other families' codes (bench/representation.py, bench/alae.py): ELU units, since the
    # paper's logistic units learn little in a few epochs without RBM pre-training
    "mnist-elu": {"input_shape": (1, 28, 28), "hidden": (1000, 500), "latent_dim": 32, "activation": "elu",
                  "train": {"lr": 1e-3, "batch_size": 100}},
}


def pretrain_train(seed: int = 0, **given: Any) -> TrainConfig:
    """The RBMs' training: PRETRAIN_TRAIN with what the caller gives on top, seeded like the run."""
    return TrainConfig(**{**PRETRAIN_TRAIN, **{k: v for k, v in given.items() if v is not None}}, seed=seed)


def layer_sizes(config: dict[str, Any]) -> list[int]:
    """Encoder widths from input to code, e.g. [784, 1000, 500, 250, 30]."""
    return [math.prod(config["input_shape"]), *config["hidden"], config["latent_dim"]]


def check_unrollable(config: dict[str, Any], settings: str) -> None:
    """RBMs unroll into plain logistic layers: refuse a network with anything else between them."""
    if config["activation"] != "sigmoid":
        raise ConfigError(f"RBM pre-training needs logistic (sigmoid) hidden units; use {settings}")
    if config["norm"] != "none":
        raise ConfigError(f"RBM pre-training unrolls into layers without normalisation; this network has "
                          f"norm={config['norm']}")


def rbm_stack(sizes: list[int], input_shape: Any, train: TrainConfig, counts: bool = False,
              gaussian_code: bool = True) -> list[Stage]:
    """Greedy layer-wise RBMs rbm1..rbmN, each trained on the hidden means of the one below (Science 2006, Fig. 1).

    The code layer's linear units learn with a rate 100 times smaller (0.001 vs 0.1 in the paper's code); word counts
    reach the first hidden layer N times over (N words a document), so their RBM's rate is 100 times smaller too
    (constrained-Poisson visible units, Semantic hashing 2009, Eq. 3).
    """
    stages = []
    for i, n_out in enumerate(sizes[1:]):
        gaussian = gaussian_code and i == len(sizes) - 2
        poisson = counts and i == 0
        cfg: dict[str, Any] = {"latent_dim": n_out, "hidden_unit": "gaussian" if gaussian else "bernoulli"}
        if poisson:
            cfg.update(visible_unit="poisson", init_std=0.01)
        if i == 0:
            cfg["input_shape"] = tuple(input_shape)
        lr = train.lr * 0.01 if gaussian or poisson else train.lr
        stages.append(Stage(f"rbm{i + 1}", "rbm", cfg, dataclasses.replace(train, lr=lr, seed=train.seed + i),
                            input=DATA if i == 0 else f"rbm{i}"))
    return stages


def rbm_pretraining(config: dict[str, Any], train: TrainConfig) -> list[Stage]:
    """The stack that pre-trains an autoencoder: one RBM per encoder layer, Gaussian at the code."""
    if config["arch"] != "mlp":
        raise ConfigError(f"RBM pre-training needs the fully connected architecture; this autoencoder is "
                          f"{config['arch']!r}")
    check_unrollable(config, "--set activation=sigmoid")
    return rbm_stack(layer_sizes(config), config["input_shape"], train)


register(Family("ae", PRESETS, {**priors.PLANS, "pretrain": {"rbm": rbm_pretraining}}))
register(Family("rbm", {"tiny": {"input_shape": (1, 8, 8), "latent_dim": 12}}, dict(priors.PLANS)))
