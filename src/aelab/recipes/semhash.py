"""Recipes of semantic hashing (Salakhutdinov & Hinton 2009): documents, digits and MNIST, and RBM pre-training."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from . import priors
from .ae import check_unrollable, layer_sizes, rbm_stack
from .registry import Family, register
from .stages import Stage
from .train import TrainConfig

PRESETS: dict[str, dict] = {
    "tiny": {"input_shape": (1, 8, 8), "input_kind": "binary", "hidden": (16,), "latent_dim": 8, "activation": "elu"},
    "digits": {"input_shape": (1, 8, 8), "input_kind": "binary", "hidden": (256, 128), "latent_dim": 16, "activation": "elu",
               "train": {"epochs": 30, "lr": 3e-3}},
    # The paper's 20 Newsgroups architecture, 2000-500-500-(code), logistic, full noise from the start: on documents
    # this trained best of the variants tried (32 bits, 30 epochs: mAP 0.294 vs 0.15-0.18 with ELU or log counts;
    # 60 epochs: 0.312).
    "20newsgroups": {"input_shape": (2000,), "input_kind": "counts", "hidden": (500, 500), "latent_dim": 32,
                     "noise_ramp": 0.0, "train": {"epochs": 60, "lr": 3e-3}},
    # Straight-through on MNIST, chosen on validation (train[:50k], 2000 queries from train[50k:]): mAP
    # .433/.468/.511/.507 vs ITQ .421/.442/.464/.481 at 16/32/64/128 bits (10 epochs; the test set in BENCHMARKS.md).
    "mnist": {"input_shape": (1, 28, 28), "input_kind": "binary", "hidden": (1000, 500), "latent_dim": 32,
              "binarize": "straight-through", "noise_ramp": 0.0, "train": {"epochs": 10, "lr": 3e-3}},
}


def rbm_pretraining(config: dict[str, Any], train: TrainConfig) -> list[Stage]:
    """Greedy RBMs rbm1..rbmN: constrained-Poisson visible units at the bottom for counts, logistic code units."""
    check_unrollable(config, "--set activation=sigmoid")
    if config["log_counts"]:
        raise ConfigError("RBM pre-training needs the counts themselves; use --set log_counts=false")
    return rbm_stack(layer_sizes(config), config["input_shape"], train,
                     counts=config["input_kind"] == "counts", gaussian_code=False)


register(Family("semhash", PRESETS, {**priors.PLANS, "pretrain": {"rbm": rbm_pretraining}}))
