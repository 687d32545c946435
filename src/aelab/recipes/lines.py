"""The ACAI paper's lines comparison (Berthelot et al. 2019, Sec. 4): the network and recipe every family shares.

32x32 images, the paper's conv family (3x3 conv pairs, average pooling, 4 scales 16-32-64-128 channels, leaky
ReLU), 16 latent channels at 2x2 (a code of 64), Adam at 1e-4 with batches of 64.
"""

from __future__ import annotations

from typing import Any

INPUT = (1, 32, 32)
NET: dict[str, Any] = {"input_shape": INPUT, "arch": "pool", "channels": (16, 32, 64, 128), "activation": "lrelu"}
TRAIN: dict[str, Any] = {"lr": 1e-4, "batch_size": 64}


def preset(**own: Any) -> dict[str, Any]:
    """A family's lines preset: the shared network and recipe, with its own settings on top (None drops a key the
    family's network does not have)."""
    train = {**TRAIN, **own.pop("train", {})}
    return {k: v for k, v in {**NET, **own}.items() if v is not None} | {"train": train}
