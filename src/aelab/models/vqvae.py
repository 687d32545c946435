"""VQ-VAE (van den Oord, Vinyals & Kavukcuoglu, NeurIPS 2017) and its gated PixelCNN prior over the code grid.

The encoder maps an image to a grid of vectors, each replaced by its nearest codebook row (nn/quantizer.py);
the decoder maps the grid back. The prior is a second stage: a gated PixelCNN (van den Oord et al. 2016,
nn/pixelcnn.py) trained on the index grids of the training images, from which `sample` draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ..nn import GatedPixelCNN, Net, PoolDecoder, PoolEncoder, VectorQuantizer, check_conv_shape, pool_grid
from ..nn.collective import ALONE
from ..nn.likelihood import decoder_likelihood
from .base import Autoencoder, Batch, Denoiser, DensityModel, Progress, Update, reconstruction_terms, register
from .capabilities import Traits


LN2 = math.log(2.0)


LIKELIHOODS = ("bernoulli", "gaussian")
VQ_ARCHS = ("resnet", "pool")


@dataclass
class VQVAEConfig:
    """The encoder/decoder widths, the codebook and the prior's size."""

    RENAMED: ClassVar[dict[str, str]] = {"code_dim": "latent_dim"}

    input_shape: tuple[int, ...] = (1, 28, 28)
    hidden: int = 128
    res_hidden: int = 32
    res_blocks: int = 2
    num_codes: int = 512  # K
    latent_dim: int = 64  # D, the size of each codebook vector
    beta: float = 0.25  # commitment weight (eq. 3)
    ema: bool = False  # codebook by exponential moving averages (Appendix A.1) instead of its loss term
    decay: float = 0.99
    restart_after: int = 0  # training steps a code may go unused before it is moved to an encoder output (0: never)
    likelihood: str = "bernoulli"  # p(x|z): Bernoulli (cross-entropy) or Gaussian with fixed sigma
    sigma: float = 0.1  # the Gaussian decoder's standard deviation (data in [0, 1])
    prior_channels: int = 64
    prior_layers: int = 12
    prior_kernel: int = 7
    arch: str = "resnet"  # the paper's strided convs and residual blocks, or "pool" (the ACAI family, `channels`)
    channels: tuple[int, ...] = (16, 32, 64, 128)  # the pool arch's widths, one per halving

    def __post_init__(self) -> None:
        if len(self.input_shape) != 3 or any(d < 1 for d in self.input_shape):
            raise ConfigError(f"input_shape must be (C, H, W) with positive sizes, got {self.input_shape}")
        if self.arch not in VQ_ARCHS:
            raise ConfigError(f"unknown arch {self.arch!r}; use {' or '.join(VQ_ARCHS)}")
        if self.arch == "pool" and (not self.channels or min(self.channels) < 1):
            raise ConfigError("the pool arch needs positive channels, one per halving")
        self.grid  # a one-line error for an image the encoder cannot halve
        if min(self.hidden, self.res_hidden, self.num_codes, self.latent_dim) < 1 or self.res_blocks < 0:
            raise ConfigError("hidden, res_hidden, num_codes and latent_dim must be >= 1, res_blocks >= 0")
        if self.hidden < 2:
            raise ConfigError(f"hidden must be >= 2 (the first layer has hidden // 2 channels), got {self.hidden}")
        if self.likelihood not in LIKELIHOODS:
            raise ConfigError(f"unknown likelihood {self.likelihood!r}; use {' or '.join(LIKELIHOODS)}")
        if not (self.sigma > 0 and math.isfinite(self.sigma)):
            raise ConfigError(f"sigma must be a positive number, got {self.sigma}")

    @property
    def grid(self) -> tuple[int, int]:
        """(h, w) of the code grid: the image halved twice (resnet) or once per channels entry (pool)."""
        if self.arch == "pool":
            return pool_grid(self.input_shape, len(self.channels))
        return check_conv_shape(self.input_shape, 2)


class Residual(nn.Module):
    """x + conv1x1(relu(conv3x3(relu(x)))): the paper's residual block (Sec. 4.1)."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, hidden, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(hidden, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def _residual_stack(channels: int, hidden: int, blocks: int) -> list[nn.Module]:
    return [Residual(channels, hidden) for _ in range(blocks)] + [nn.ReLU()]


@register
class VQVAE(Denoiser, Autoencoder):
    """x -> conv encoder -> z_e (D x h x w) -> nearest codebook rows z_q -> conv decoder -> p(x | z_q) (eq. 3)."""

    name = "vqvae"
    Config = VQVAEConfig
    traits = Traits(inputs="images", codes="grid", weighs_inputs=True)

    def __init__(self, config: VQVAEConfig) -> None:
        super().__init__(config)
        c, h = config.input_shape[0], config.hidden
        self.quantizer = VectorQuantizer(config.num_codes, config.latent_dim, beta=config.beta, ema=config.ema,
                                         decay=config.decay, restart_after=config.restart_after)
        if config.arch == "pool":
            net = Net(channels=config.channels, activation="lrelu")  # the ACAI paper's family as it is
            self.encoder = PoolEncoder(config.input_shape, net, config.latent_dim)
            self.decoder = PoolDecoder(config.latent_dim, net, config.input_shape)
            return
        self.encoder = nn.Sequential(
            nn.Conv2d(c, h // 2, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(h // 2, h, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(h, h, 3, padding=1),
            *_residual_stack(h, config.res_hidden, config.res_blocks),
            nn.Conv2d(h, config.latent_dim, 1),
        )
        self.decoder = nn.Sequential(
            nn.Conv2d(config.latent_dim, h, 3, padding=1),
            *_residual_stack(h, config.res_hidden, config.res_blocks),
            nn.ConvTranspose2d(h, h // 2, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(h // 2, c, 4, stride=2, padding=1),
        )

    # --- the model interface ----------------------------------------------------------------
    def encode(self, x: Tensor) -> Tensor:
        """The quantised vectors z_q, (B, D, h, w)."""
        return self.quantizer.lookup(self.encode_indices(x))

    def encode_indices(self, x: Tensor) -> Tensor:
        """The grid of code indices (B, h, w)."""
        return self.quantizer.nearest(self.encoder(x))

    @property
    def num_codes(self) -> int:
        """Rows of the codebook: every index is below this."""
        return self.quantizer.num_codes

    def decode_logits(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    def decode(self, z: Tensor) -> Tensor:
        """Images from a grid of vectors (B, D, h, w), each snapped to its nearest codebook row first: the decoder
        knows only the codebook (an interpolation between codes moves in jumps, as Berthelot et al. 2019 found)."""
        return self.decode_indices(self.quantizer.nearest(z))

    def decode_indices(self, indices: Tensor) -> Tensor:
        """Images from a grid of code indices (B, h, w)."""
        return torch.sigmoid(self.decoder(self.quantizer.lookup(indices.long())))

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))

    def stage_output(self, x: Tensor) -> Tensor:
        """What the prior trains on: each image's grid of code indices."""
        return self.encode_indices(x)

    def from_stage_output(self, s: Tensor) -> Tensor:
        return self.decode_indices(s)

    def stage_output_config(self) -> dict[str, Any]:
        return {"input_shape": list(self.config.grid), "num_classes": self.config.num_codes}

    # --- the objective ----------------------------------------------------------------------
    def nll_given_codes(self, logits: Tensor, x: Tensor, weight: Tensor | None = None) -> Tensor:
        """-log p(x | z_q) per example in nats, summed over pixels (each weighted by `weight` when given)."""
        p = decoder_likelihood(self.config.likelihood, torch.tensor(math.log(self.config.sigma)))
        return -p.log_prob(logits.flatten(1), x.flatten(1), weight)

    def loss(self, batch: Batch, progress: Progress) -> dict[str, Tensor]:
        """Eq. 3 per example, averaged over the batch: -log p(x|z_q) + ||sg[z_e] - e||^2 + beta ||z_e - sg[e]||^2
        (the codebook terms summed over the grid, as the reconstruction is over the pixels)."""
        z_e = self.encoder(batch.x)
        z_q, indices, vq_loss = self.quantizer(z_e, ranks=batch.ranks or ALONE)
        rec = self.nll_given_codes(self.decoder(z_q), batch.target, batch.input_weights()).mean()
        vq = vq_loss * z_e[0].numel()  # the quantiser's losses are means over elements
        stats = self.quantizer.usage(indices)
        return {"loss": rec + vq, "rec": rec.detach(), "vq": vq.detach(), "usage": stats["usage"],
                "perplexity": stats["perplexity"]}

    def updates(self) -> list[Update]:
        return [Update("model", [p for p in self.parameters() if p.requires_grad], self.loss)]

    def eval_terms(self, x: Tensor) -> dict[str, Tensor]:
        """The reconstruction terms, -log p(x|z_q), and with a prior the bound on -log p(x) in nats and bits/dim."""
        indices = self.encode_indices(x)
        logits = self.decoder(self.quantizer.lookup(indices))
        terms = {**reconstruction_terms(torch.sigmoid(logits), x), "rec_nll": self.nll_given_codes(logits, x)}
        if self.prior is not None:
            # log p(x) >= log p(x|z_q) + log p(z_q): q(z|x) is one-hot, so the ELBO's KL is -log p(z_q) (Sec. 3.2)
            bound = terms["rec_nll"] - self.prior.log_prob(indices)
            terms["nll_bound"] = bound
            terms["bits_per_dim"] = bound / (x[0].numel() * LN2)
        return terms


@dataclass
class PixelCNNConfig:
    """A gated PixelCNN over (h, w) grids of `num_classes` codes."""

    input_shape: tuple[int, ...] = (7, 7)
    num_classes: int = 512
    channels: int = 64
    layers: int = 12
    kernel: int = 7

    def __post_init__(self) -> None:
        if len(self.input_shape) != 2 or min(self.input_shape) < 1:
            raise ConfigError(f"input_shape must be a grid (h, w), got {self.input_shape}")


@register
class PixelCNNPrior(DensityModel):
    """p(z) = prod_i p(z_i | z_<i) over a grid of codes in raster order (van den Oord et al. 2016, eq. 1)."""

    name = "pixelcnn"
    Config = PixelCNNConfig
    traits = Traits(inputs="codes", codes="none", stage_of="the prior over a VQ-VAE's code indices (aelab train vqvae)")

    def __init__(self, config: PixelCNNConfig) -> None:
        super().__init__(config)
        self.net = GatedPixelCNN(config.num_classes, config.channels, config.layers, config.kernel)

    def example_input(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return torch.randint(0, self.config.num_classes, (n, *self.config.input_shape), generator=generator)

    def log_prob(self, x: Tensor) -> Tensor:
        return self.net.log_prob(x.long())

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return self.net.sample(n, tuple(self.config.input_shape), generator=generator)

    def loss(self, batch: Batch, progress: Progress) -> dict[str, Tensor]:
        """Negative log-likelihood per grid, and per code in bits."""
        nll = -self.log_prob(batch.x).mean()
        return {"loss": nll, "nll": nll.detach(), "bits_per_code": nll.detach() / (batch.x[0].numel() * LN2)}

    def updates(self) -> list[Update]:
        return [Update("model", list(self.parameters()), self.loss)]

    def eval_terms(self, x: Tensor) -> dict[str, Tensor]:
        nll = -self.log_prob(x)
        return {"nll": nll, "bits_per_code": nll / (x[0].numel() * LN2)}
