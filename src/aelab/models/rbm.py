"""Restricted Boltzmann machines trained with CD-1, stacked to pre-train a deep autoencoder.

Hinton & Salakhutdinov (Science 2006), supporting text: greedy layer-wise RBMs, logistic units
except the code layer, whose hidden units are linear with unit-variance Gaussian noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError
from ..nn import likelihood as lik
from .base import Autoencoder, Batch, Progress, Update, register


@dataclass
class RBMConfig:
    """One RBM: visible shape, hidden width (latent_dim: its hidden layer is the code of its stage) and unit types."""

    RENAMED: ClassVar[dict[str, str]] = {"n_hidden": "latent_dim"}

    input_shape: tuple[int, ...] = (1, 28, 28)
    latent_dim: int = 1000
    hidden_unit: str = "bernoulli"  # "bernoulli" (logistic) or "gaussian" (linear, unit variance)
    # "bernoulli" (pixels in [0, 1]) or "poisson": word counts under the constrained Poisson model
    # (Salakhutdinov & Hinton, Semantic hashing 2009, Eq. 3): rates N * softmax(b + W^T h), N the document's length
    visible_unit: str = "bernoulli"
    weight_cost: float = 0.0002  # L2 on weights only, as in the paper's code
    init_std: float = 0.1

    def __post_init__(self) -> None:
        if self.hidden_unit not in ("bernoulli", "gaussian"):
            raise ConfigError(f"unknown hidden_unit {self.hidden_unit!r}; use bernoulli or gaussian")
        if self.visible_unit not in ("bernoulli", "poisson"):
            raise ConfigError(f"unknown visible_unit {self.visible_unit!r}; use bernoulli or poisson")
        if self.latent_dim < 1 or not self.input_shape or any(d < 1 for d in self.input_shape):
            raise ConfigError("an RBM needs latent_dim >= 1 and an input_shape of positive sizes")


@register
class RBM(Autoencoder):
    """Binary-visible RBM; CD-1 as the surrogate loss F(v_data) - F(sg[v_model]) (free energies)."""

    name = "rbm"
    Config = RBMConfig

    def __init__(self, config: RBMConfig) -> None:
        super().__init__(config)
        n_vis = math.prod(config.input_shape)
        self.weight = nn.Parameter(torch.randn(config.latent_dim, n_vis) * config.init_std)
        self.hidden_bias = nn.Parameter(torch.zeros(config.latent_dim))
        self.visible_bias = nn.Parameter(torch.zeros(n_vis))

    @property
    def gaussian(self) -> bool:
        return self.config.hidden_unit == "gaussian"

    def hidden_mean(self, v: Tensor) -> Tensor:
        """E[h | v]: logistic probabilities, or the linear mean for Gaussian units."""
        a = F.linear(v, self.weight, self.hidden_bias)
        return a if self.gaussian else torch.sigmoid(a)

    def sample_hidden(self, mean: Tensor, batch: Batch | None = None) -> Tensor:
        """A draw of h given its mean (Bernoulli, or mean + N(0, 1)), from the batch's noise when given."""
        if self.gaussian:
            return mean + (torch.randn_like(mean) if batch is None else batch.randn_like(mean))
        return torch.bernoulli(mean) if batch is None else batch.bernoulli(mean)

    @property
    def poisson(self) -> bool:
        return self.config.visible_unit == "poisson"

    def visible_logits(self, h: Tensor) -> Tensor:
        """The visible units' total inputs b + W^T h."""
        return F.linear(h, self.weight.t(), self.visible_bias)

    def visible_prob(self, h: Tensor) -> Tensor:
        """p(v = 1 | h); for counts, the share of the document's words each word is expected to take."""
        a = self.visible_logits(h)
        return torch.softmax(a, dim=1) if self.poisson else torch.sigmoid(a)

    def visible_mean(self, h: Tensor, v: Tensor) -> Tensor:
        """E[v | h] for data like `v`: the probabilities, or for counts the Poisson rates, which sum to v's length."""
        p = self.visible_prob(h)
        return p * v.sum(1, keepdim=True) if self.poisson else p

    def free_energy(self, v: Tensor, pre: Tensor | None = None) -> Tensor:
        """F(v) with the hidden units summed (or integrated) out, per example; `pre` = W v + c if known."""
        a = F.linear(v, self.weight, self.hidden_bias) if pre is None else pre
        hidden_term = 0.5 * a.pow(2).sum(1) if self.gaussian else F.softplus(a).sum(1)
        return -(v @ self.visible_bias) - hidden_term

    def encode(self, x: Tensor) -> Tensor:
        return self.hidden_mean(x.flatten(1))

    def decode(self, z: Tensor) -> Tensor:
        return self.visible_prob(z).view(-1, *self.input_shape)

    def cd1_loss(self, batch: Batch, progress: Progress) -> dict[str, Tensor]:
        """CD-1: its gradient is the paper's <v h>_data - <v h>_recon update (plus weight cost)."""
        v = batch.x.flatten(1)
        pre = F.linear(v, self.weight, self.hidden_bias)  # shared by the sample and F(v_data)
        with torch.no_grad():
            h = self.sample_hidden(pre if self.gaussian else torch.sigmoid(pre), batch)
            v_neg = self.visible_mean(h, v)  # mean-field reconstruction, as in the papers' code
        gap = self.free_energy(v, pre).mean() - self.free_energy(v_neg).mean()
        loss = gap + 0.5 * self.config.weight_cost * self.weight.pow(2).sum()
        with torch.no_grad():  # how well the mean-field reconstruction scores the data, logged only
            if self.poisson:
                ce = lik.word_cross_entropy(self.visible_logits(h), v).mean()
                return {"loss": loss, "free_energy_gap": gap.detach(), "word_ce": ce}
            recon = lik.squared_error(v_neg, v).mean()
        return {"loss": loss, "free_energy_gap": gap.detach(), "sq_err": recon}

    def updates(self) -> list[Update]:
        return [Update("model", list(self.parameters()), self.cd1_loss)]

    def stage_output(self, x: Tensor) -> Tensor:
        """E[h | v] as examples of shape (1, 1, latent_dim): the data of the next RBM in a stack."""
        return self.hidden_mean(x.flatten(1)).view(len(x), 1, 1, -1)


@torch.no_grad()
def unroll_into(model: nn.Module, rbms: list[RBM]) -> None:
    """Copy a stack into an autoencoder's `linear_layers()`: encoder W, decoder the transposes (Science 2006, Fig. 1)."""
    enc, dec = model.linear_layers()  # type: ignore[operator]
    if len(rbms) != len(enc):
        raise ConfigError(f"{len(rbms)} RBMs cannot initialise an autoencoder with {len(enc)} encoder layers")
    for layer, rbm in zip(enc, rbms):
        layer.weight.copy_(rbm.weight)
        layer.bias.copy_(rbm.hidden_bias)
    for layer, rbm in zip(dec, reversed(rbms)):
        layer.weight.copy_(rbm.weight.t())
        layer.bias.copy_(rbm.visible_bias)
