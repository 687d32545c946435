"""VAE-GAN (Larsen et al., ICML 2016): reconstruction as a Gaussian on discriminator features, Alg. 1."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError
from ..nn import ARCHS, ConvDiscriminator, Net, encoder_decoder, gaussian_kl, reparameterize
from .base import Autoencoder, Batch, Denoiser, Progress, Update, register
from .vae import GaussianCodeMixin


@dataclass(frozen=True)
class VAEGANConfig(Net):
    """Encoder/decoder as in `vae`, a conv discriminator, and the weights of Algorithm 1."""

    input_shape: tuple[int, ...] = (1, 28, 28)
    arch: str = "conv"
    hidden: tuple[int, ...] = (400,)
    channels: tuple[int, ...] = (32, 64)
    latent_dim: int = 32
    activation: str = "relu"
    dis_channels: tuple[int, ...] = (32, 64)
    dis_hidden: int = 256
    gamma: float = 1.0  # weight of the feature reconstruction against the GAN loss in the decoder's update
    beta: float = 1.0  # weight of the KL prior term in the encoder's update

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.input_shape) != 3 or any(d < 1 for d in self.input_shape):
            raise ConfigError(f"input_shape must be (C, H, W) with positive sizes, got {self.input_shape}")
        if self.arch not in ARCHS:
            raise ConfigError(f"unknown arch {self.arch!r}; use {' or '.join(ARCHS)}")
        if self.latent_dim < 1 or self.dis_hidden < 1 or not self.dis_channels:
            raise ConfigError("latent_dim and dis_hidden must be positive and dis_channels non-empty")
        for name in ("gamma", "beta"):
            v = getattr(self, name)
            if not (v >= 0 and math.isfinite(v)):
                raise ConfigError(f"{name} must be >= 0, got {v}")


def _real(logits: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))


def _fake(logits: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))


@register
class VAEGAN(GaussianCodeMixin, Denoiser, Autoencoder):
    """VAE-GAN (Larsen et al. 2016): Enc on KL + L_llike^Dis_l, Dec on gamma*L_llike - L_GAN, Dis on L_GAN (Alg. 1)."""

    name = "vaegan"
    # a Denoiser without weighs_inputs: its reconstruction is judged in the discriminator's features
    Config = VAEGANConfig

    def __init__(self, config: VAEGANConfig) -> None:
        super().__init__(config)
        self.encoder, self.decoder = encoder_decoder(config.arch, config.input_shape, config, 2 * config.latent_dim,
                                                     config.latent_dim)
        self.discriminator = ConvDiscriminator(config.input_shape, config.dis_channels, config.dis_hidden)

    def feature_nll(self, x: Tensor, x_rec: Tensor) -> Tensor:
        """-log N(Dis_l(x) | Dis_l(x_rec), I) per example, up to a constant (Eq. 5 of the paper)."""
        return 0.5 * (self.discriminator.features(x) - self.discriminator.features(x_rec)).pow(2).sum(1)

    # --- Algorithm 1, one update per network; each recomputes after the previous one -------
    def encoder_loss(self, batch: Batch, progress: Progress) -> dict[str, Tensor]:
        """L_prior + L_llike^Dis_l: only the encoder's parameters are stepped."""
        mu, logvar = self.posterior(batch.x)
        x_rec = self.decode(reparameterize(mu, logvar, batch.randn_like(mu)))
        kl = gaussian_kl(mu, logvar).sum(1).mean()
        llike = self.feature_nll(batch.target, x_rec).mean()
        return {"loss": self.config.beta * kl + llike, "kl": kl.detach(), "feat_rec": llike.detach()}

    def decoder_loss(self, batch: Batch, progress: Progress) -> dict[str, Tensor]:
        """gamma * L_llike - L_GAN, with the non-saturating generator loss on reconstructions and prior samples."""
        with torch.no_grad():
            mu, logvar = self.posterior(batch.x)
            z = reparameterize(mu, logvar, batch.randn_like(mu))
        x_rec = self.decode(z)
        x_p = self.decode(batch.randn(self.config.latent_dim))  # samples from the prior
        f_rec = self.discriminator.features(x_rec)
        llike = 0.5 * (self.discriminator.features(batch.target) - f_rec).pow(2).sum(1).mean()
        gan = _real(self.discriminator.logit(f_rec)) + _real(self.discriminator(x_p))
        return {"loss": self.config.gamma * llike + gan, "feat_rec": llike.detach(), "gen_gan": gan.detach()}

    def discriminator_loss(self, batch: Batch, progress: Progress) -> dict[str, Tensor]:
        """-L_GAN: real images against reconstructions and prior samples (no L_llike, as in the paper)."""
        with torch.no_grad():
            mu, logvar = self.posterior(batch.x)
            x_rec = self.decode(reparameterize(mu, logvar, batch.randn_like(mu)))
            x_p = self.decode(batch.randn(self.config.latent_dim))
        real = self.discriminator(batch.target)  # a denoiser's real images are the clean ones
        loss = _real(real) + _fake(self.discriminator(x_rec)) + _fake(self.discriminator(x_p))
        return {"loss": loss, "d_real": torch.sigmoid(real).mean().detach()}

    def updates(self) -> list[Update]:
        return [
            Update("encoder", list(self.encoder.parameters()), self.encoder_loss),
            Update("decoder", list(self.decoder.parameters()), self.decoder_loss),
            Update("discriminator", list(self.discriminator.parameters()), self.discriminator_loss),
        ]

    def eval_terms(self, x: Tensor) -> dict[str, Tensor]:
        mu, logvar = self.posterior(x)
        x_rec = self.decode(mu)
        d_fake = torch.sigmoid(self.discriminator(self.sample(x.shape[0])))
        return {
            **super().eval_terms(x),
            "kl": gaussian_kl(mu, logvar).sum(1),
            "feat_rec": self.feature_nll(x, x_rec),
            "d_real": torch.sigmoid(self.discriminator(x)),
            "d_sample": d_fake,
        }
