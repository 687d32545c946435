"""Recipes of the VAE-GAN (Larsen et al. 2016): the digits and the lines comparison."""

from __future__ import annotations

from . import lines
from .registry import Family, register

PRESETS: dict[str, dict] = {
    "tiny": {"input_shape": (1, 8, 8), "channels": (4, 8), "latent_dim": 2, "dis_channels": (4, 8), "dis_hidden": 8},
    # The embedded 8x8 digits: with the conv default the discriminator wins at once and the KL collapses;
    # a small MLP pair, a one-layer critic and a strong feature term train stably and sample digits.
    "digits": {"input_shape": (1, 8, 8), "arch": "mlp", "hidden": (128, 128), "activation": "tanh",
               "latent_dim": 8, "dis_channels": (32,), "dis_hidden": 64, "gamma": 10.0, "beta": 0.1,
               "train": {"epochs": 100}},
    # the ACAI paper's lines comparison: its conv family for encoder and decoder
    "lines": lines.preset(latent_dim=64, dis_channels=(16, 32, 64), dis_hidden=128),
    # MNIST (bench/vaegan_mnist.py, bench/alae.py): stride-2 conv 16-32 for encoder, decoder and discriminator, ReLU,
    # 32 latents; Adam with beta1 0.5 at a constant 3e-4, about 4 minutes an epoch on a 2-core CPU
    "mnist-16-32": {"input_shape": (1, 28, 28), "arch": "conv", "channels": (16, 32), "latent_dim": 32,
                    "activation": "relu", "dis_channels": (16, 32), "dis_hidden": 128,
                    "train": {"epochs": 8, "lr": 3e-4, "batch_size": 64, "betas": (0.5, 0.999),
                              "schedule": "constant"}},
}

register(Family("vaegan", PRESETS))
