"""Recipes of semantic hashing (Salakhutdinov & Hinton 2009): documents, digits and MNIST, and RBM pre-training."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from . import priors
from .ae import check_unrollable, layer_sizes, rbm_stack
from .registry import Family, register
from .stages import Stage
from .train import TrainConfig

# The paper's fine-tuning (no neighbourhood targets), its logistic units, on raw counts: the seed's recipe.
PAPER = {"targets": "none", "activation": "sigmoid", "dropout": 0.0, "tfidf": False}
# Every run holds out 10% of its training items and keeps the epoch whose codes retrieve them best.
TRAIN = {"validation": 0.1, "epochs": 10}

PRESETS: dict[str, dict] = {
    "tiny": {"input_shape": (1, 8, 8), "input_kind": "binary", "hidden": (16,), "latent_dim": 8, "activation": "elu"},
    "digits": {"input_shape": (1, 8, 8), "input_kind": "binary", "hidden": (256, 128), "latent_dim": 16, "activation": "elu",
               "train": {"epochs": 30, "lr": 3e-3}},
    # MNIST's intensities, the default recipe (neighbourhood targets); 5 epochs, the kept one chosen on validation
    # (bench/semantic_hashing.py --datasets mnist, BENCHMARKS.md: above ITQ on mAP and P@100 at 16-128 bits)
    "mnist": {"input_shape": (1, 28, 28), "input_kind": "binary", "train": {"epochs": 5}},
    # The paper's own model (targets "none"): its 20 Newsgroups architecture, 2000-500-500-(code), logistic, full
    # noise from the start; on documents this trained best of its variants (32 bits, 30 epochs: mAP 0.294 vs
    # 0.15-0.18 with ELU or log counts; 60 epochs: 0.312).
    "20newsgroups-paper": {"input_shape": (2000,), "input_kind": "counts", "hidden": (500, 500), "latent_dim": 32,
                           **PAPER, "noise_ramp": 0.0, "train": {"epochs": 60, "lr": 3e-3, "validation": 0.0}},
    # The paper's model straight through on MNIST, chosen on validation (train[:50k], 2000 queries from
    # train[50k:]): mAP .433/.468/.511/.507 vs ITQ .421/.442/.464/.481 at 16/32/64/128 bits (10 epochs).
    "mnist-paper": {"input_shape": (1, 28, 28), "input_kind": "binary", "hidden": (1000, 500), "latent_dim": 32,
                    **PAPER, "activation": "sigmoid", "binarize": "straight-through", "noise_ramp": 0.0,
                    "train": {"epochs": 10, "lr": 3e-3, "validation": 0.0}},
}


def rbm_pretraining(config: dict[str, Any], train: TrainConfig) -> list[Stage]:
    """Greedy RBMs rbm1..rbmN: constrained-Poisson visible units at the bottom for counts, logistic code units."""
    paper = "the paper's recipe: --set activation=sigmoid dropout=0 tfidf=false targets=none"
    check_unrollable(config, paper)
    if config["input_kind"] == "counts" and (config["log_counts"] or config["tfidf"]):
        raise ConfigError(f"RBM pre-training reads the word counts themselves, not their TF-IDF or logs; use {paper}")
    return rbm_stack(layer_sizes(config), config["input_shape"], train,
                     counts=config["input_kind"] == "counts", gaussian_code=False)


register(Family("semhash", PRESETS, {**priors.PLANS, "pretrain": {"rbm": rbm_pretraining}}, train=TRAIN))
