"""Interpolation in code space: decode points on the segment between two encoded examples."""

from __future__ import annotations

import torch
from torch import Tensor

from ..errors import ConfigError
from ..models.base import Autoencoder


@torch.no_grad()
def interpolate(model: Autoencoder, x_from: Tensor, x_to: Tensor, steps: int) -> Tensor:
    """Decodings of (1 - t) enc(x_from) + t enc(x_to) for `steps` values of t from 0 to 1: (steps, C, H, W).

    x_from and x_to are single examples shaped like the model's input (C, H, W).
    """
    if steps < 2:
        raise ConfigError(f"an interpolation needs at least 2 steps, got {steps}")
    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters())
        pair = torch.stack([x_from, x_to]).to(param.device, param.dtype)
        model.check_input(pair)
        za, zb = model.encode(pair)
        t = torch.linspace(0, 1, steps, device=param.device).view(-1, *([1] * za.dim()))
        return model.decode((1 - t) * za + t * zb).cpu()
    finally:
        model.train(was_training)
