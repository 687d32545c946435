"""Recipes of DnCNN (Zhang et al., IEEE TIP 2017): a residual denoiser trained on patches of a user's photos."""

from __future__ import annotations

from typing import Any

from .registry import Family, register

# Every run of the family trains as a denoiser: the paper's sigma = 25 of 255 (its Table II's middle level) when
# --corrupt is not given; Adam at 1e-3 with the cosine schedule instead of the paper's SGD 0.1 -> 1e-4 over 50
# epochs (the same decay in shape, without tuning a momentum); 64 patches a step (the paper: 128 of 40x40)
TRAIN: dict[str, Any] = {"corrupt": "gaussian:0.098", "batch_size": 64, "lr": 1e-3, "epochs": 30}

PRESETS: dict[str, dict] = {
    "tiny": {"input_shape": (1, 8, 8), "depth": 3, "width": 8},
    # a user's photos (--data patches:FOLDER --patch 40, the paper's patch for sigma 25): the config's defaults
    "photos": {"depth": 10, "width": 48},
    # the paper's DnCNN-S (Sec. IV-A): 17 layers of 64 maps, about 3.3x the multiply-adds of "photos"
    "paper": {"depth": 17, "width": 64, "train": {"epochs": 50, "batch_size": 128}},
}

register(Family("dncnn", PRESETS, train=TRAIN))
