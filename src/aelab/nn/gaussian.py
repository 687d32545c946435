"""Diagonal Gaussian latents: the reparameterised draw, the KL to N(0, I) and the log-density."""

from __future__ import annotations

import math

import torch
from torch import Tensor

LOG_2PI = math.log(2 * math.pi)


def reparameterize(mu: Tensor, logvar: Tensor, eps: Tensor | None = None) -> Tensor:
    """z = mu + sigma * eps, eps ~ N(0, I): differentiable in mu and sigma (Kingma & Welling 2014, Eq. 4)."""
    return mu + (0.5 * logvar).exp() * (torch.randn_like(mu) if eps is None else eps)


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per dimension (Kingma & Welling 2014, Appendix B)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def gaussian_log_density(x: Tensor, mu: Tensor, log_std: Tensor) -> Tensor:
    """log N(x | mu, exp(log_std)^2) per dimension (broadcasting)."""
    return -(0.5 * ((x - mu) / log_std.exp()).pow(2) + log_std + 0.5 * LOG_2PI)
