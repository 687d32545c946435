"""Recipes of ALAE (Pidhorskyi et al. 2020): the official MNIST MLP model, a scaled-down StyleALAE, lines, digits."""

from __future__ import annotations

from . import lines
from .registry import Family, register

# The official recipe (defaults.py: ADAM_BETA_0 = 0, ADAM_BETA_1 = 0.99; no decay steps: a constant rate).
RECIPE = {"betas": (0.0, 0.99), "schedule": "constant"}

PRESETS: dict[str, dict] = {
    "tiny": {"input_shape": (1, 8, 8), "hidden": (16,), "latent_dim": 4, "mapping_layers": 2},
    "tiny-style": {"input_shape": (1, 8, 8), "arch": "style", "channels": (8, 4), "latent_dim": 4,
                   "mapping_layers": 2, "grow_epochs": 1.0},
    # configs/mnist_fc.yaml: latent 50, 6 mapping layers, EncoderFC/GeneratorFC (1024, 1024), lr 0.002 at the top
    # level (LEARNING_RATES[3]), batch 128 (LOD_2_BATCH_1GPU); the official 600 epochs are left to --epochs
    "mnist": {"input_shape": (1, 28, 28), "arch": "mlp", "hidden": (1024, 1024), "latent_dim": 50,
              "mapping_layers": 6, "dis_layers": 3, "gamma": 10.0,
              "train": {**RECIPE, "lr": 0.002, "batch_size": 128}},
    # configs/mnist.yaml scaled down: 4 levels 4..32 (MNIST zero-padded to 32x32, as the official tfrecords), latent
    # 32, 4 mapping layers, a new level every 10 epochs faded in over 5, lr 0.0015, batch 64 at 32x32; widths
    # (32, 16, 8, 4) instead of the official (256, 256, 128, 64): a step of 64 at 32x32 takes about half a second of
    # one CPU core (small-channel convolutions run far below the core's peak, so time falls slowly with width)
    "mnist-style": {"input_shape": (1, 28, 28), "arch": "style", "channels": (32, 16, 8, 4), "latent_dim": 32,
                    "mapping_layers": 4, "grow_epochs": 10.0,
                    "train": {**RECIPE, "lr": 0.0015, "batch_size": 64, "epochs": 60}},
    # the ACAI paper's lines (32x32): the StyleALAE at the top level only (no growing: the benchmark's budget is a
    # few epochs), a w of 64 as the other families' 16 channels at 2x2
    "lines": {"input_shape": lines.INPUT, "arch": "style", "channels": (32, 16, 8, 4), "latent_dim": 64,
              "mapping_layers": 4, "train": {**RECIPE, "lr": 0.0015, "batch_size": 64}},
    # the embedded 8x8 digits (1,500 training images): the MNIST model at a quarter of the width; a GAN needs steps:
    # 100 epochs give noise, 500 (12,000 steps, about 4 minutes on one core) recognisable digits
    "digits": {"input_shape": (1, 8, 8), "arch": "mlp", "hidden": (256, 256), "latent_dim": 16, "mapping_layers": 4,
               "train": {**RECIPE, "lr": 0.002, "batch_size": 64, "epochs": 500}},
}

register(Family("alae", PRESETS))
