"""Recipes of the VQ-VAE (van den Oord et al. 2017) and of its gated PixelCNN prior, trained as every run's second
stage."""

from __future__ import annotations

from typing import Any

from . import lines
from .registry import Family, register
from .stages import MAIN, Stage
from .train import TrainConfig

PRESETS: dict[str, dict] = {
    "tiny": {"input_shape": (1, 8, 8), "hidden": 16, "res_hidden": 8, "num_codes": 8, "latent_dim": 4,
             "prior_channels": 8, "prior_layers": 2, "prior_kernel": 3},
    # EMA codebook and dead-code restarts: with the codebook loss alone, 30 epochs on digits used 2 of 64 codes
    "digits": {"input_shape": (1, 8, 8), "hidden": 64, "res_hidden": 32, "num_codes": 64, "latent_dim": 16,
               "ema": True, "restart_after": 20, "prior_channels": 32, "prior_layers": 4, "prior_kernel": 3,
               "train": {"epochs": 30, "lr": 2e-3}},
    # The paper's network (Sec. 4.1) at the size of the reference example for 32x32 images: two stride-2 4x4
    # convolutions, two residual 3x3 blocks; 28x28 gives a 7x7 grid of codes, 32x32 an 8x8 one.
    "mnist": {"input_shape": (1, 28, 28), "hidden": 128, "res_hidden": 32, "num_codes": 512, "latent_dim": 64,
              "ema": True, "restart_after": 100, "train": {"epochs": 30, "lr": 2e-4}},
    # The ACAI paper's lines comparison (Berthelot et al. 2019, Sec. 4): its conv family, codes at 2x2
    "lines": lines.preset(activation=None, latent_dim=16, num_codes=512, ema=True, restart_after=100,
                          prior_channels=32, prior_layers=4, prior_kernel=3),
    "cifar": {"input_shape": (3, 32, 32), "hidden": 128, "res_hidden": 32, "num_codes": 512, "latent_dim": 64,
              "ema": True, "restart_after": 100, "likelihood": "gaussian", "train": {"epochs": 30, "lr": 2e-4}},
}

# The paper's networks at a CPU's size (bench/vqvae.py's "cpu" recipe, bench/representation.py): the paper-sized ones
# cost about 2 min (VQ-VAE, hidden 128) and 7.5 min (PixelCNN, 64 channels, 12 layers, 7x7 kernels) an epoch of MNIST
# on a 2-core CPU; this halves the VQ-VAE's width and shrinks the prior (measured 0.17 s against 0.96 s a step of 128
# grids), keeping K = 512 codes of D = 64 and the training rules.
CPU: dict[str, Any] = {"hidden": 64, "prior_channels": 32, "prior_layers": 8, "prior_kernel": 5}
# bench/vqvae.py's recipes (--recipe): config on top of the `mnist` / `cifar` presets, epochs of the VQ-VAE and its prior
RECIPES: dict[str, dict[str, Any]] = {"cpu": {"set": CPU, "epochs": 15, "prior_epochs": 15},
                                      "paper": {"set": {}, "epochs": 30, "prior_epochs": 30}}
PRIOR_TRAIN: dict[str, Any] = {"lr": 1e-3, "batch_size": 128}  # the PixelCNN over MNIST's 7x7 (photos' 8x8) code grids


def pixelcnn_prior(config: dict[str, Any], train: TrainConfig) -> list[Stage]:
    """The prior over the grid of code indices, sized by the VQ-VAE's prior_* settings."""
    cfg = {"channels": config["prior_channels"], "layers": config["prior_layers"], "kernel": config["prior_kernel"]}
    return [Stage("prior", "pixelcnn", cfg, train, input=MAIN)]


register(Family("vqvae", PRESETS, {"prior": {"pixelcnn": pixelcnn_prior}}, default_prior="pixelcnn"))
register(Family("pixelcnn", {"tiny": {"input_shape": (2, 2), "num_classes": 8, "channels": 8, "layers": 2,
                                      "kernel": 3}}))
