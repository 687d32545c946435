"""A Gaussian-mixture prior over another model's codes: ex-post density estimation (Ghosh et al., ICLR 2020, Sec. 4).

Trained as a run's `prior` stage on the codes of the trained autoencoder (`aelab train ae --prior gmm`),
it makes any deterministic autoencoder generative: sample z from the mixture, decode it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ..nn import draws, gaussian_log_density
from .base import Batch, DensityModel, Progress, Update, register



@dataclass
class GMMConfig:
    """Number of mixture components over codes shaped `input_shape` (what the stage below produces)."""

    input_shape: tuple[int, ...] = (1, 1, 2)
    components: int = 10
    min_std: float = 1e-3  # a floor on each standard deviation: a collapsing component makes the density blow up

    def __post_init__(self) -> None:
        if len(self.input_shape) < 1 or any(d < 1 for d in self.input_shape):
            raise ConfigError(f"input_shape must have positive sizes, got {self.input_shape}")
        if self.components < 1:
            raise ConfigError(f"components must be >= 1, got {self.components}")
        if not (self.min_std > 0 and math.isfinite(self.min_std)):
            raise ConfigError(f"min_std must be a positive number, got {self.min_std}")


@register
class GaussianMixture(DensityModel):
    """p(z) = sum_k pi_k N(z | mu_k, diag(sigma_k^2)), fitted by maximum likelihood with the trainer."""

    name = "gmm"
    Config = GMMConfig

    def __init__(self, config: GMMConfig) -> None:
        super().__init__(config)
        k, d = config.components, math.prod(config.input_shape)
        self.logits = nn.Parameter(torch.zeros(k))
        self.means = nn.Parameter(torch.randn(k, d))
        self.log_stds = nn.Parameter(torch.zeros(k, d))

    def prepare(self, x: Tensor) -> None:
        """Means at k random codes, widths at the codes' spread: the usual data-dependent start of EM."""
        flat = x.flatten(1)
        idx = torch.randperm(len(flat))[: self.config.components]
        self.means[: len(idx)].copy_(flat[idx])
        self.log_stds.copy_(flat.std(0).clamp_min(self.config.min_std).log().expand_as(self.log_stds))

    def _log_stds(self) -> Tensor:
        return self.log_stds.clamp(min=math.log(self.config.min_std))

    def log_prob(self, x: Tensor) -> Tensor:
        z = x.flatten(1).unsqueeze(1)  # (B, 1, d) against (K, d)
        per_component = gaussian_log_density(z, self.means, self._log_stds()).sum(2)
        return torch.logsumexp(torch.log_softmax(self.logits, 0) + per_component, dim=1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        k = draws.categorical(torch.softmax(self.logits.detach(), 0), n, generator)
        eps = draws.randn(n, self.means.shape[1], device=self.means.device, generator=generator)
        z = self.means[k] + self._log_stds()[k].exp() * eps
        return z.view(n, *self.input_shape)

    def loss(self, batch: Batch, progress: Progress) -> dict[str, Tensor]:
        """Negative log-likelihood of the batch's codes, per example."""
        nll = -self.log_prob(batch.x).mean()
        return {"loss": nll, "nll": nll.detach()}

    def updates(self) -> list[Update]:
        return [Update("model", list(self.parameters()), self.loss)]
