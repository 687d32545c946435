"""The ACAI paper's lines comparison (Berthelot et al. 2019, Sec. 4): the network and recipe every family shares.

32x32 images, the paper's conv family (3x3 conv pairs, average pooling, 4 scales 16-32-64-128 channels, leaky
ReLU), 16 latent channels at 2x2 (a code of 64), Adam at 1e-4 with batches of 64.
"""

from __future__ import annotations

from typing import Any

INPUT = (1, 32, 32)
NET: dict[str, Any] = {"input_shape": INPUT, "arch": "pool", "channels": (16, 32, 64, 128), "activation": "lrelu"}
TRAIN: dict[str, Any] = {"lr": 1e-4, "batch_size": 64}
# The lines benchmark's recipe (bench/interpolation_lines.py): every family at one constant rate (--lr), batches of 64;
# the VQ-VAE's PixelCNN one epoch (sampling is not scored there)
BENCH_TRAIN: dict[str, Any] = {"lr": 1e-3, "batch_size": 64, "schedule": "constant"}
BENCH_PRIOR_TRAIN: dict[str, Any] = {"epochs": 1, "lr": 1e-3, "batch_size": 64}
# the paper's denoising baseline adds N(0, 1) noise to [-1, 1] images: sigma 0.5 on aelab's [0, 1] scale
DAE_CORRUPTION = "gaussian:0.5"


def preset(**own: Any) -> dict[str, Any]:
    """A family's lines preset: the shared network and recipe, with its own settings on top (None drops a key the
    family's network does not have)."""
    train = {**TRAIN, **own.pop("train", {})}
    return {k: v for k, v in {**NET, **own}.items() if v is not None} | {"train": train}
