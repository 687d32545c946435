"""ACAI (Berthelot, Raffel, Roy & Goodfellow, ICLR 2019): an autoencoder whose decoded latent mixtures must fool a
critic that predicts the mixing coefficient."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import ConfigError
from ..nn import ARCHS, Net, encoder_decoder
from ..nn import likelihood as lik
from .base import Autoencoder, Batch, Denoiser, Progress, Update, register



@dataclass(frozen=True)
class ACAIConfig(Net):
    """Encoder/decoder (the paper's pool family by default), the critic's widths, and the weights of Sec. 2."""

    input_shape: tuple[int, ...] = (1, 32, 32)
    arch: str = "pool"
    hidden: tuple[int, ...] = (400,)  # the mlp arch's widths
    channels: tuple[int, ...] = (16, 32, 64, 128)
    latent_dim: int = 64
    activation: str = "lrelu"
    critic_channels: tuple[int, ...] = ()  # empty: the encoder's (the official advdepth = depth)
    loss: str = "mse"  # the paper's squared error with a linear output, or "bce": a logistic output, cross-entropy
    lam: float = 0.5  # lambda: weight of the critic's output on interpolants in the autoencoder's loss
    gamma: float = 0.2  # how far the critic's real examples are blended from reconstructions towards the data

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.input_shape) != 3 or any(d < 1 for d in self.input_shape):
            raise ConfigError(f"input_shape must be (C, H, W) with positive sizes, got {self.input_shape}")
        if self.arch not in ARCHS:
            raise ConfigError(f"unknown arch {self.arch!r}; use {' or '.join(ARCHS)}")
        if self.latent_dim < 1 or any(h < 1 for h in self.hidden) or any(c < 1 for c in self.channels):
            raise ConfigError("latent_dim, hidden and channels must be positive")
        if not (self.lam >= 0 and math.isfinite(self.lam)):
            raise ConfigError(f"lam must be >= 0, got {self.lam}")
        if self.loss not in ("mse", "bce"):
            raise ConfigError(f"unknown loss {self.loss!r}; use mse or bce")
        if not (0 <= self.gamma <= 1):
            raise ConfigError(f"gamma must be in [0, 1], got {self.gamma}")


@register
class ACAI(Denoiser, Autoencoder):
    """ACAI (Berthelot et al. 2019, Sec. 2): a critic regresses the mixing coefficient of decoded code mixtures.

    Autoencoder loss ||x - g(f(x))||^2 + lam ||d(x_alpha)||^2; critic loss ||d(x_alpha) - alpha||^2 +
    ||d(gamma x + (1 - gamma) g(f(x)))||^2, squared errors as means on [-1, 1] images.
    """

    name = "acai"
    Config = ACAIConfig

    def __init__(self, config: ACAIConfig) -> None:
        super().__init__(config)
        c = config
        self.encoder, self.decoder = encoder_decoder(c.arch, c.input_shape, c, c.latent_dim, c.latent_dim)
        # the critic is the encoder's network with its own weights; its score is the mean of its outputs
        critic = dataclasses.replace(c, channels=c.critic_channels or c.channels)
        self.critic = encoder_decoder(c.arch, c.input_shape, critic, c.latent_dim, c.latent_dim)[0]

    # With loss "mse" the decoder is linear at the top and its output is read on the data's own [0, 1] scale; the
    # paper works on [-1, 1] (2x - 1), so its mean squared errors are 4x ours: the factor keeps lam's balance the
    # paper's. With "bce" the output is logistic and the error the mean cross-entropy per input.
    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def _images(self, z: Tensor) -> Tensor:
        """Decodings of z, flat (B, D), as the critic sees them (unclamped for mse)."""
        out = self.decoder(z)
        return out if self.config.loss == "mse" else torch.sigmoid(out)

    def decode(self, z: Tensor) -> Tensor:
        return self._images(z).clamp(0, 1).view(-1, *self.input_shape)

    def _reconstruction(self, z: Tensor, target: Tensor) -> Tensor:
        """The reconstruction term per input, averaged over the batch and the inputs (the paper's convention)."""
        flat, out = target.flatten(1), self.decoder(z)
        per_example = 4 * lik.squared_error(out, flat) if self.config.loss == "mse" else -lik.bernoulli(out, flat)
        return per_example.mean() / flat.shape[1]

    def score(self, images: Tensor) -> Tensor:
        """The critic's estimate of the mixing coefficient, (B,)."""
        return self.critic(images.view(-1, *self.input_shape)).flatten(1).mean(1)

    def _mix(self, z: Tensor, batch: Batch) -> tuple[Tensor, Tensor]:
        """alpha in [0, 0.5] per example, and decodings of alpha z + (1 - alpha) z' with z' the batch reversed."""
        alpha = 0.5 - (batch.rand(1) - 0.5).abs()
        return alpha.squeeze(1), self._images(alpha * z + (1 - alpha) * z.flip(0))

    def autoencoder_loss(self, batch: Batch, progress: Progress) -> dict[str, Tensor]:
        z = self.encoder(batch.x)
        rec = self._reconstruction(z, batch.target)
        _, mixed = self._mix(z, batch)
        fool = self.score(mixed).pow(2).mean()
        return {"loss": rec + self.config.lam * fool, "rec": rec.detach(), "critic_on_mix": fool.detach()}

    def critic_loss(self, batch: Batch, progress: Progress) -> dict[str, Tensor]:
        with torch.no_grad():  # the critic's update reads the autoencoder, never changes it
            z = self.encoder(batch.x)
            recon = self._images(z)
            alpha, mixed = self._mix(z, batch)
            g = self.config.gamma
            blended = g * batch.target.flatten(1) + (1 - g) * recon
        on_mix = (self.score(mixed) - alpha).pow(2).mean()
        on_real = self.score(blended).pow(2).mean()
        return {"loss": on_mix + on_real, "alpha_err": on_mix.detach(), "on_real": on_real.detach()}

    def updates(self) -> list[Update]:
        ae = [*self.encoder.parameters(), *self.decoder.parameters()]
        return [Update("autoencoder", ae, self.autoencoder_loss),
                Update("critic", list(self.critic.parameters()), self.critic_loss)]
