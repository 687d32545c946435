"""Sampling noise made where the model is: on its device, from the caller's generator when one is given.

A generator is tied to a device; a caller's generator on another device (a CPU generator for a GPU model, to get the
same numbers everywhere) draws on its own device and the draws are moved: the one case that copies.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _where(generator: torch.Generator | None, device: torch.device) -> torch.device:
    return generator.device if generator is not None else device


def randn(*shape: int, device: torch.device, generator: torch.Generator | None = None,
          dtype: torch.dtype | None = None) -> Tensor:
    """N(0, 1) draws of `shape` on `device`."""
    return torch.randn(*shape, generator=generator, device=_where(generator, device), dtype=dtype).to(device)


def rand(*shape: int, device: torch.device, generator: torch.Generator | None = None,
         dtype: torch.dtype | None = None) -> Tensor:
    """Uniform [0, 1) draws of `shape` on `device`."""
    return torch.rand(*shape, generator=generator, device=_where(generator, device), dtype=dtype).to(device)


def categorical(probs: Tensor, n: int, generator: torch.Generator | None = None) -> Tensor:
    """n draws (long) from the categorical distribution `probs` (K,), on probs' device."""
    p = probs.detach().to(_where(generator, probs.device))
    return torch.multinomial(p, n, replacement=True, generator=generator).to(probs.device)
