"""Recipes of the VAE (Kingma & Welling 2014): the digits, Burda et al.'s MNIST model, lines, a conv MNIST model."""

from __future__ import annotations

from . import lines
from .registry import Family, register

PRESETS: dict[str, dict] = {
    "tiny": {"input_shape": (1, 8, 8), "hidden": (16,), "latent_dim": 2},
    # The embedded 8x8 digits (1,500 training images): the 200-200/z=50 default collapses there (KL ~1 nat). Grey levels
    # with a Gaussian decoder, 8 latents: all active, digit-like samples, about 10 s on 2 cores.
    "digits": {"input_shape": (1, 8, 8), "hidden": (128, 128), "latent_dim": 8, "likelihood": "gaussian",
               "sigma": 0.1, "train": {"epochs": 100, "lr": 3e-3}},
    # Burda et al. 2016's one-stochastic-layer VAE on binarised MNIST: 200-200 tanh, 50 latents.
    "iwae-mnist": {"input_shape": (1, 28, 28), "arch": "mlp", "hidden": (200, 200), "latent_dim": 50,
                   "activation": "tanh", "likelihood": "bernoulli"},
    # the same at 32 latents, the code size of the other families (bench/representation.py, bench/alae.py)
    "iwae-mnist-32": {"input_shape": (1, 28, 28), "arch": "mlp", "hidden": (200, 200), "latent_dim": 32,
                      "activation": "tanh", "likelihood": "bernoulli", "train": {"lr": 1e-3, "batch_size": 100}},
    # The ACAI paper's lines comparison (Berthelot et al. 2019, Sec. 4): its conv family, 16 latent channels at 2x2
    "lines": lines.preset(latent_dim=64, likelihood="bernoulli"),
    "conv-mnist": {"input_shape": (1, 28, 28), "arch": "conv", "channels": (32, 64), "latent_dim": 16,
                   "activation": "relu", "likelihood": "bernoulli"},
    # the VAE-GAN's `mnist-16-32` encoder and decoder with a Bernoulli pixel likelihood (Larsen et al.'s comparison,
    # bench/vaegan_mnist.py): Adam's default betas
    "mnist-16-32": {"input_shape": (1, 28, 28), "arch": "conv", "channels": (16, 32), "latent_dim": 32,
                    "activation": "relu", "likelihood": "bernoulli",
                    "train": {"epochs": 8, "lr": 3e-4, "batch_size": 64, "schedule": "constant"}},
}

register(Family("vae", PRESETS))
