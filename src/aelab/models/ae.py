"""Deep autoencoder of Hinton & Salakhutdinov (Science 2006): logistic hidden units, linear code."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ..nn import ARCHS, Net, encoder_decoder, mlp
from ..nn import likelihood as lik
from .base import Autoencoder, Batch, Denoiser, Progress, Trainable, Update, register
from .capabilities import Traits
from .rbm import RBM, unroll_into



@dataclass(frozen=True)
class AEConfig(Net):
    """Layer sizes and units of a deep autoencoder."""

    RENAMED: ClassVar[dict[str, str]] = {"code_dim": "latent_dim"}

    input_shape: tuple[int, ...] = (1, 28, 28)
    hidden: tuple[int, ...] = (1000, 500, 250)
    latent_dim: int = 30
    activation: str = "sigmoid"
    loss: str = "bce"  # cross-entropy (the paper's fine-tuning loss) or "mse"
    arch: str = "mlp"  # the paper's fully connected layers; "conv" or "pool" use `channels` (no RBM pre-training)
    channels: tuple[int, ...] = (32, 64)

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.input_shape) != 3 or any(d < 1 for d in self.input_shape):
            raise ConfigError(f"input_shape must be (C, H, W) with positive sizes, got {self.input_shape}")
        if self.arch not in ARCHS:
            raise ConfigError(f"unknown arch {self.arch!r}; use {' or '.join(ARCHS)}")
        if self.arch != "mlp" and not self.channels:
            raise ConfigError(f"a {self.arch} autoencoder needs at least one entry in channels")
        if self.latent_dim < 1 or any(h < 1 for h in self.hidden):
            raise ConfigError(f"layer sizes must be positive, got hidden={self.hidden} latent_dim={self.latent_dim}")
        if self.loss not in ("bce", "mse"):
            raise ConfigError(f"unknown loss {self.loss!r}; use bce or mse")

    @property
    def sizes(self) -> list[int]:
        """Encoder widths from input to code, e.g. [784, 1000, 500, 250, 30]."""
        return [math.prod(self.input_shape), *self.hidden, self.latent_dim]


def reconstruction_loss(logits: Tensor, x: Tensor, kind: str, weight: Tensor | None = None) -> dict[str, Tensor]:
    """Per-batch losses summed over pixels and averaged over the batch (the paper's convention); `weight` (B, D)
    weighs each input's term in the loss (the logged bce / sq_err stay unweighted)."""
    flat = x.flatten(1)
    with torch.no_grad():
        sq_err = lik.squared_error(torch.sigmoid(logits), flat).mean()
    if kind == "mse":
        return {"loss": lik.squared_error(torch.sigmoid(logits), flat, weight).mean(), "sq_err": sq_err}
    loss = -lik.bernoulli(logits, flat, weight).mean()
    with torch.no_grad():
        bce = loss if weight is None else -lik.bernoulli(logits, flat).mean()
    return {"loss": loss, "bce": bce.detach(), "sq_err": sq_err}


@register
class DeepAutoencoder(Denoiser, Autoencoder):
    """Science 2006 deep autoencoder: x -> logistic layers -> linear code -> logistic layers -> x."""

    name = "ae"
    Config = AEConfig
    traits = Traits(weighs_inputs=True)

    def __init__(self, config: AEConfig) -> None:
        super().__init__(config)
        c = config
        if c.arch == "mlp":  # plain Sequentials of Linear layers: the RBMs unroll into them, checkpoints keep their keys
            self.encoder, self.decoder = mlp(c.sizes, c), mlp(c.sizes[::-1], c)
        else:
            self.encoder, self.decoder = encoder_decoder(c.arch, c.input_shape, c, c.latent_dim, c.latent_dim)

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x.flatten(1) if self.config.arch == "mlp" else x.view(-1, *self.input_shape))

    def decode_logits(self, z: Tensor) -> Tensor:
        """Decoder output before the final logistic unit, flat (B, D)."""
        return self.decoder(z)

    def decode(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self.decode_logits(z)).view(-1, *self.input_shape)

    def loss(self, batch: Batch, progress: Progress) -> dict[str, Tensor]:
        """Reconstruction loss of one batch (of the clean input from the corrupted one, for a denoiser)."""
        return reconstruction_loss(self.decode_logits(self.encode(batch.x)), batch.target, self.config.loss,
                                   batch.input_weights())

    def updates(self) -> list[Update]:
        return [Update("model", list(self.parameters()), self.loss)]

    def initialise_from(self, stages: dict[str, Trainable]) -> None:
        """Unroll the pre-trained RBM stack, if the run has one (Science 2006, Fig. 1)."""
        rbms = [m for m in stages.values() if isinstance(m, RBM)]
        if rbms:
            unroll_into(self, rbms)

    def linear_layers(self) -> tuple[list[nn.Linear], list[nn.Linear]]:
        """The encoder's and decoder's Linear layers, input side first / code side first."""
        enc = [m for m in self.encoder if isinstance(m, nn.Linear)]
        dec = [m for m in self.decoder if isinstance(m, nn.Linear)]
        return enc, dec
