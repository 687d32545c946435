"""Variational autoencoder (Kingma & Welling, ICLR 2014): Gaussian q(z|x), reparameterised, ELBO of Eq. 10."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ..nn import draws
from ..nn import ARCHS, LOG_2PI, Net, encoder_decoder, gaussian_kl, reparameterize
from ..nn.likelihood import DECODER_LIKELIHOODS, Likelihood, decoder_likelihood
from .base import Autoencoder, Batch, Denoiser, Progress, Update, ramp, register
from .capabilities import Traits

LIKELIHOODS = tuple(DECODER_LIKELIHOODS)  # bernoulli, gaussian, categorical256
SIGMA_DEFAULT = 0.1  # the Gaussian decoder's standard deviation when the config leaves sigma unset
# Decoder rows per call in log_weights at one output per input (the IWAE's chunks of at most 20,000 pass whole); a
# 256-way categorical's 256 logits a pixel take as much memory in 1/256 of the rows (MNIST: 78 rows, 63 MB).
DECODER_ROWS = 20_000



@dataclass(frozen=True)
class VAEConfig(Net):
    """Architecture, latent size, decoder likelihood and the KL weight beta."""

    input_shape: tuple[int, ...] = (1, 28, 28)
    arch: str = "mlp"  # "mlp" (widths in `hidden`) or "conv" (stride-2 4x4 convs with `channels`)
    hidden: tuple[int, ...] = (200, 200)
    channels: tuple[int, ...] = (32, 64)
    latent_dim: int = 50
    activation: str = "tanh"
    likelihood: str = "bernoulli"  # "bernoulli" for [0,1] data, "gaussian" for real values, "categorical256" for 8-bit
    sigma: float | None = None  # Gaussian decoder's standard deviation (its initial value if learned); None: 0.1
    learn_sigma: bool = False  # Gaussian decoder only
    beta: float = 1.0  # weight of the KL term (beta-VAE when != 1; the ELBO is reported with beta = 1)
    kl_warmup: float = 0.0  # epochs over which the KL weight ramps linearly from 0 to beta (Bowman et al. 2016)

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.input_shape) != 3 or any(d < 1 for d in self.input_shape):
            raise ConfigError(f"input_shape must be (C, H, W) with positive sizes, got {self.input_shape}")
        if self.arch not in ARCHS:
            raise ConfigError(f"unknown arch {self.arch!r}; use {' or '.join(ARCHS)}")
        if self.likelihood not in LIKELIHOODS:
            raise ConfigError(f"unknown likelihood {self.likelihood!r}; use {' or '.join(LIKELIHOODS)}")
        if self.latent_dim < 1 or any(h < 1 for h in self.hidden) or any(c < 1 for c in self.channels):
            raise ConfigError("latent_dim, hidden and channels must be positive")
        if self.arch == "conv" and not self.channels:
            raise ConfigError("a conv VAE needs at least one entry in channels")
        if self.sigma is not None and not (self.sigma > 0 and math.isfinite(self.sigma)):
            raise ConfigError(f"sigma must be a positive number, got {self.sigma}")
        # 0.1 passes without a Gaussian: it was the default before sigma could be left unset, so every saved
        # Bernoulli run's config.json records it; any other value was chosen by someone and would be ignored.
        if self.likelihood != "gaussian" and self.sigma not in (None, SIGMA_DEFAULT):
            raise ConfigError(f"sigma={self.sigma} applies to the Gaussian decoder only, and likelihood is "
                              f"{self.likelihood!r} (set likelihood=gaussian, or leave sigma unset)")
        if self.likelihood != "gaussian" and self.learn_sigma:
            raise ConfigError(f"learn_sigma applies to the Gaussian decoder only, and likelihood is "
                              f"{self.likelihood!r} (set likelihood=gaussian, or leave learn_sigma unset)")
        if not (self.beta >= 0 and math.isfinite(self.beta)):
            raise ConfigError(f"beta must be >= 0, got {self.beta}")
        if not (self.kl_warmup >= 0 and math.isfinite(self.kl_warmup)):
            raise ConfigError(f"kl_warmup must be >= 0 epochs, got {self.kl_warmup}")


class GaussianCodeMixin:
    """posterior / encode / decode / sample for a model with `encoder` -> (mu, logvar) and a logistic `decoder`."""

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def encode(self, x: Tensor) -> Tensor:
        return self.posterior(x)[0]

    def decode(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self.decoder(z)).view(-1, *self.input_shape)

    @property
    def noise_shape(self) -> tuple[int, ...]:
        return (self.config.latent_dim,)

    def sample_from(self, noise: Tensor) -> Tensor:
        """Decoder means at given draws from the prior N(0, I): sampling as a plain network of its noise."""
        return self.decode(noise)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Decoder means at n draws from the prior N(0, I)."""
        device = next(self.parameters()).device
        return self.sample_from(draws.randn(n, self.config.latent_dim, device=device, generator=generator))


@register
class VAE(GaussianCodeMixin, Denoiser, Autoencoder):
    """VAE (Kingma & Welling 2014): maximises the ELBO E_q[log p(x|z)] - beta * KL(q(z|x) || p(z)), Eq. 10."""

    name = "vae"
    traits = Traits(weighs_inputs=True)
    Config = VAEConfig

    def __init__(self, config: VAEConfig) -> None:
        super().__init__(config)
        self.encoder, self.decoder = encoder_decoder(config.arch, config.input_shape, config, 2 * config.latent_dim,
                                                     config.latent_dim, DECODER_LIKELIHOODS[config.likelihood].outputs)
        if config.likelihood == "gaussian" and config.learn_sigma:
            self.log_sigma = nn.Parameter(torch.tensor(math.log(self.sigma)))

    # --- the distributions ---------------------------------------------------------------
    @property
    def sigma(self) -> float:
        """The Gaussian decoder's standard deviation as configured (its initial value if learned)."""
        return SIGMA_DEFAULT if self.config.sigma is None else self.config.sigma

    def current_log_sigma(self) -> Tensor:
        if hasattr(self, "log_sigma"):
            return self.log_sigma.clamp(min=math.log(1e-3))  # a floor: a vanishing sigma makes the density blow up
        return torch.tensor(math.log(self.sigma))

    def decoder_likelihood(self) -> Likelihood:
        """p(x|z) as configured, a Gaussian's with the current sigma."""
        return decoder_likelihood(self.config.likelihood, self.current_log_sigma())

    def log_px_given_z(self, x: Tensor, out: Tensor, weight: Tensor | None = None) -> Tensor:
        """log p(x|z) per example, summed over all pixels (each weighted by `weight` (B, D) when given), from the
        decoder output `out`."""
        return self.decoder_likelihood().log_prob(out, x.flatten(1), weight)

    def decode(self, z: Tensor) -> Tensor:
        """The decoder's mean: pixel probabilities, or a categorical's expected intensity."""
        return self.decoder_likelihood().mean(self.decoder(z)).view(-1, *self.input_shape)

    # --- the objective -------------------------------------------------------------------
    def elbo_terms(self, x: Tensor, batch: Batch | None = None, target: Tensor | None = None,
                   weight: Tensor | None = None) -> dict[str, Tensor]:
        """Per-example: rec = -log p(x|z) (one z), kl = KL(q||p), nelbo = rec + kl, in nats. A denoiser encodes the
        corrupted x and scores the clean `target` (Vincent et al.'s criterion inside the ELBO)."""
        mu, logvar = self.posterior(x)
        z = reparameterize(mu, logvar, None if batch is None else batch.randn_like(mu))
        rec = -self.log_px_given_z(x if target is None else target, self.decoder(z), weight)
        kl = gaussian_kl(mu, logvar).sum(1)
        return {"rec": rec, "kl": kl, "nelbo": rec + kl}

    def loss(self, batch: Batch, progress: Progress) -> dict[str, Tensor]:
        """Negative beta-ELBO averaged over the batch, beta ramped in over `kl_warmup` epochs."""
        t = {k: v.mean() for k, v in self.elbo_terms(batch.x, batch, batch.target, batch.input_weights()).items()}
        beta = self.config.beta * ramp(progress, self.config.kl_warmup)
        loss = t["rec"] + beta * t["kl"]
        return {"loss": loss, "nelbo": t["nelbo"].detach(), "rec": t["rec"].detach(), "kl": t["kl"].detach()}

    def updates(self) -> list[Update]:
        return [Update("model", list(self.parameters()), self.loss)]

    def eval_terms(self, x: Tensor) -> dict[str, Tensor]:
        return {**super().eval_terms(x), **self.elbo_terms(x)}

    def log_weights(self, x: Tensor, k: int) -> Tensor:
        mu, logvar = self.posterior(x)
        std = (0.5 * logvar).exp()
        eps = torch.randn(x.shape[0], k, mu.shape[1], device=mu.device, dtype=mu.dtype)
        z = mu.unsqueeze(1) + std.unsqueeze(1) * eps
        log_q = -(0.5 * eps.pow(2) + 0.5 * logvar.unsqueeze(1) + 0.5 * LOG_2PI).sum(2)
        log_pz = -(0.5 * z.pow(2) + 0.5 * LOG_2PI).sum(2)
        rows, x_rep = z.reshape(-1, mu.shape[1]), x.flatten(1).repeat_interleave(k, dim=0)
        step = max(1, DECODER_ROWS // self.decoder_likelihood().outputs)
        log_px = torch.cat([self.log_px_given_z(x_rep[i:i + step], self.decoder(rows[i:i + step]))
                            for i in range(0, max(len(rows), 1), step)])
        return log_px.view(x.shape[0], k) + log_pz - log_q
