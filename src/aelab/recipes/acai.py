"""Recipes of ACAI (Berthelot et al. 2019): the paper's lines model and its MNIST model of Tables 2 and 3."""

from __future__ import annotations

from . import lines, priors
from .registry import Family, register

PRESETS: dict[str, dict] = {
    "tiny": {"input_shape": (1, 8, 8), "channels": (4, 8), "latent_dim": 8},
    # The paper's lines model (Sec. 4, official runs/acai.sh): depth 16, 4 scales, 16 latent channels at 2x2
    "lines": lines.preset(latent_dim=64),
    # MNIST as the paper's Table 2/3 (padded to 32x32 inside the network): 3 scales, a 4x4 grid, 32 latents
    "mnist": {"input_shape": (1, 28, 28), "channels": (16, 32, 64), "latent_dim": 32, "train": dict(lines.TRAIN)},
}

register(Family("acai", PRESETS, dict(priors.PLANS)))
