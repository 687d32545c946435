"""Interpolation in code space: decode points on the segment between two encoded examples."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..batching import model_device
from ..errors import ConfigError
from ..models.base import Autoencoder

__all__ = ["interpolate", "interpolate_pairs"]


def interpolate(model: Autoencoder, x_from: Tensor, x_to: Tensor, steps: int) -> Tensor:
    """Decodings of (1 - t) enc(x_from) + t enc(x_to) for `steps` values of t from 0 to 1: (steps, C, H, W).

    x_from and x_to are single examples shaped like the model's input (C, H, W).
    """
    return interpolate_pairs(model, x_from[None], x_to[None], steps)[0]


@torch.no_grad()
def interpolate_pairs(
    model: Autoencoder, x_from: Tensor, x_to: Tensor, steps: int = 16, batch_size: int = 64
) -> Tensor:
    """Decodings of (1 - α) enc(x_from[i]) + α enc(x_to[i]), α = linspace(0, 1, steps): (P, steps, C, H, W) on the CPU.

    x_from and x_to are P examples each, shaped like the model's input; the pairs are encoded
    and decoded `batch_size` pairs (batch_size * steps decodings) at a time, in eval mode.
    A model whose decoder returns flat vectors has them reshaped to the input's shape.
    """
    if steps < 2:
        raise ConfigError(f"an interpolation needs at least 2 steps, got {steps}")
    if x_from.shape != x_to.shape:
        shapes = f"{tuple(x_from.shape)} and {tuple(x_to.shape)}"
        raise ConfigError(f"the two ends of the interpolations differ in shape: {shapes}")
    if len(x_from) == 0:
        raise ConfigError("no pairs to interpolate between")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    param = next(model.parameters(), None)
    device = model_device(model)
    dtype = param.dtype if param is not None else torch.float32
    like = tuple(x_from.shape[1:])
    was_training = model.training
    model.eval()
    try:
        out = []
        for i in range(0, len(x_from), batch_size):
            pair = torch.cat([x_from[i : i + batch_size], x_to[i : i + batch_size]]).to(device, dtype)
            model.check_input(pair)
            za, zb = model.encode(pair).chunk(2)
            n = len(za)
            # t as (1, steps, 1, ...) against codes as (n, 1, ...): the same (1 - t) za + t zb as one pair,
            # so that t = 0 and t = 1 give exactly the two codes (the ends are the reconstructions)
            t = torch.linspace(0, 1, steps, device=za.device, dtype=za.dtype).view(1, steps, *([1] * (za.dim() - 1)))
            z = ((1 - t) * za[:, None] + t * zb[:, None]).flatten(0, 1)
            y = model.decode(z).cpu()
            if tuple(y.shape[1:]) != like and y[0].numel() == math.prod(like):
                y = y.reshape(len(y), *like)
            out.append(y.view(n, steps, *y.shape[1:]))
        return torch.cat(out)
    finally:
        model.train(was_training)
