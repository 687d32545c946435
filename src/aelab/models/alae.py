"""ALAE (Pidhorskyi, Adjeroh & Doretto, CVPR 2020): an autoencoder whose latent space is learned adversarially.

Four networks: F maps z ~ N(0, I) to w, G maps w to an image, E maps an image to w, D scores a w; D∘E is the
discriminator of images. Algorithm 1 trains them in three updates per batch (the names of `updates()`):
  discriminator (E, D): softplus(D(E(G(F(z))))) + softplus(-D(E(x))) + gamma/2 ||grad_x D(E(x))||^2   (step I, R1)
  generator     (F, G): softplus(-D(E(G(F(z)))))                                                        (step II)
  latent        (E, G): ||F(z) - E(G(F(z)))||^2, in w space, F held fixed                               (step III)
Defaults are the official MNIST MLP model (configs/mnist_fc.yaml, net.py); `arch="style"` is a small StyleALAE.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError
from ..nn import draws
from ..nn.style import (LatentDiscriminator, Mapping, MLPEncoder, MLPGenerator, NoiseFn, StyleEncoder, StyleGenerator,
                        growth, image_at)
from .base import Autoencoder, Batch, Progress, Update, register
from .capabilities import Traits

ARCHS = ("mlp", "style")
OUTPUTS = ("linear", "tanh")



@dataclass
class ALAEConfig:
    """The four networks of ALAE and the R1 weight; defaults: the official MNIST MLP model (configs/mnist_fc.yaml)."""

    input_shape: tuple[int, ...] = (1, 28, 28)
    arch: str = "mlp"  # "mlp": EncoderFC/GeneratorFC; "style": StyleALAE (AdaIN generator, statistics encoder)
    latent_dim: int = 50  # size of z and of w (LATENT_SPACE_SIZE)
    mapping_layers: int = 6  # layers of F (MAPPING_LAYERS)
    hidden: tuple[int, ...] = (1024, 1024)  # widths of the mlp E and G (net.py EncoderFC, GeneratorFC)
    channels: tuple[int, ...] = (32, 16, 8, 4)  # style: level widths from 4x4 up (official 256, 256, 128, 64, cut)
    noise: bool = True  # style: per-layer noise inputs in G (learned strengths, starting at zero)
    grow_epochs: float = 0.0  # style: epochs per level of progressive growing (EPOCHS_PER_LOD); 0: top level only
    dis_layers: int = 3  # layers of D (model.py builds MappingD with mapping_layers=3)
    gamma: float = 10.0  # R1 weight (losses.py r1_gamma)
    # G's last activation: "linear" as the official GeneratorFC and ToRGB; "tanh" bounds it to [-1, 1] (bench/alae.py,
    # the mnist model after 20 epochs: sample Fréchet 38.6 against 271.9 linear, no salt noise on the background)
    output: str = "linear"

    def __post_init__(self) -> None:
        if len(self.input_shape) != 3 or any(d < 1 for d in self.input_shape):
            raise ConfigError(f"input_shape must be (C, H, W) with positive sizes, got {self.input_shape}")
        if self.arch not in ARCHS:
            raise ConfigError(f"unknown arch {self.arch!r}; use {' or '.join(ARCHS)}")
        if self.output not in OUTPUTS:
            raise ConfigError(f"unknown output {self.output!r}; use {' or '.join(OUTPUTS)}")
        if min(self.latent_dim, self.mapping_layers, self.dis_layers) < 1:
            raise ConfigError("latent_dim, mapping_layers and dis_layers must be >= 1")
        if any(h < 1 for h in self.hidden) or not self.channels or any(c < 1 for c in self.channels):
            raise ConfigError("hidden widths must be positive and channels a non-empty list of positive widths")
        if not (self.gamma >= 0 and math.isfinite(self.gamma)):
            raise ConfigError(f"gamma must be >= 0, got {self.gamma}")
        if not (self.grow_epochs >= 0 and math.isfinite(self.grow_epochs)):
            raise ConfigError(f"grow_epochs must be >= 0, got {self.grow_epochs}")
        side = 4 * 2 ** (len(self.channels) - 1)
        if self.arch == "style" and max(self.input_shape[1:]) > side:
            raise ConfigError(f"the style arch with {len(self.channels)} channels entries makes {side}x{side} images, "
                              f"smaller than the {self.input_shape[1]}x{self.input_shape[2]} input; add a level")


@contextlib.contextmanager
def _frozen(*modules: nn.Module) -> Iterator[None]:
    """No parameter gradients for `modules` inside (their update would discard them anyway); gradients still flow
    through them to their inputs."""
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


@register
class ALAE(Autoencoder):
    """ALAE (Pidhorskyi et al. 2020, Sec. 3, Algorithm 1): steps I (E, D; R1), II (F, G) and III (E, G in w space).

    Images enter the networks on [-1, 1] (2x - 1, as the official x / 127.5 - 1); G's output is linear there as the
    official GeneratorFC and ToRGB (`output="tanh"` bounds it), and `decode` maps it back, (y + 1) / 2 clamped to
    [0, 1]. With the linear output the MLP model's samples carry salt noise on MNIST's background for many epochs.

    arch "style" is a scaled-down StyleALAE (Sec. 5): G from a learned constant 4x4 input through one block per level
    (AdaIN from w at every layer, per-layer noise), E its mirror summing linear maps of every layer's instance
    (mean, std) into w; images are zero-padded to the top level's side (MNIST 28 -> 32, as the official data) and
    cropped back. With grow_epochs > 0 it grows progressively as the paper's does, scaled down: level i (4 * 2^i
    pixels) starts at epoch i * grow_epochs and fades in over half of that (Progress.epoch drives it; the level and
    alpha of the last step are kept in the `growth` buffer, and decode/encode/sample use them). Left out of the
    official training: style mixing, the truncation trick, the averaged generator, per-level batch sizes and rates,
    and the optimiser reset at each new level.
    """

    name = "alae"
    Config = ALAEConfig
    traits = Traits(inputs="images", shares_update_params=True)  # Algorithm 1 steps E in I and III, G in II and III

    def __init__(self, config: ALAEConfig) -> None:
        super().__init__(config)
        c = config
        self.levels = len(c.channels) if c.arch == "style" else 1
        self.side = 4 * 2 ** (self.levels - 1)
        self.mapping = Mapping(c.latent_dim, c.mapping_layers)  # F
        self.discriminator = LatentDiscriminator(c.latent_dim, c.dis_layers)  # D
        if c.arch == "mlp":
            self.encoder: nn.Module = MLPEncoder(c.input_shape, c.hidden, c.latent_dim)  # E
            self.generator: nn.Module = MLPGenerator(c.latent_dim, c.hidden, c.input_shape)  # G
        else:
            self.encoder = StyleEncoder(c.channels, c.latent_dim, c.input_shape[0])
            self.generator = StyleGenerator(c.channels, c.latent_dim, c.input_shape[0])
            # (level, alpha) of the last training step: what decode, encode and sample use between and after steps
            self.register_buffer("growth", torch.tensor([float(self.levels - 1), 1.0]))
            _, h, w = c.input_shape
            self.pad = ((self.side - w) // 2, self.side - w - (self.side - w) // 2,
                        (self.side - h) // 2, self.side - h - (self.side - h) // 2)

    # --- where growing stands -------------------------------------------------------------------------------------
    def grow(self, progress: Progress) -> tuple[int, float]:
        """(level, alpha) at `progress`, recorded in the `growth` buffer; (0, 1.0) for the mlp arch."""
        if self.config.arch == "mlp":
            return 0, 1.0
        level, alpha = growth(progress.epoch, self.config.grow_epochs, self.levels)
        with torch.no_grad():
            self.growth.copy_(torch.tensor([float(level), alpha]))
        return level, alpha

    def stage(self) -> tuple[int, float]:
        """The (level, alpha) of the last training step (the top level, 1.0 before any)."""
        if self.config.arch == "mlp":
            return 0, 1.0
        return int(self.growth[0]), float(self.growth[1])

    # --- between data and networks --------------------------------------------------------------------------------
    def to_network(self, x: Tensor, level: int, alpha: float) -> Tensor:
        """Data in [0, 1] as E sees it at (level, alpha): padded to the top side, on [-1, 1], pooled to the level."""
        if self.config.arch == "mlp":
            return 2 * x - 1
        return image_at(2 * F.pad(x, self.pad) - 1, level, self.levels - 1, alpha)

    def to_images(self, y: Tensor) -> Tensor:
        """G's output at any level -> data in [0, 1] of the input shape (upsampled, cropped, rescaled, clamped)."""
        if self.config.arch == "style":
            if y.shape[-1] < self.side:
                y = F.interpolate(y, size=(self.side, self.side), mode="nearest")
            left, _, top, _ = self.pad
            y = y[..., top : top + self.input_shape[1], left : left + self.input_shape[2]]
        return ((y + 1) / 2).clamp(0, 1)

    def generate(self, w: Tensor, level: int, alpha: float, noise: NoiseFn | None) -> Tensor:
        """G(w) on the network's scale at (level, alpha)."""
        y = self.generator(w, level, alpha, noise if self.config.noise else None)
        return torch.tanh(y) if self.config.output == "tanh" else y

    def critic(self, x: Tensor, level: int, alpha: float) -> Tensor:
        """D(E(x)) per example, (B,), for x on the network's scale: the discriminator of images."""
        return self.discriminator(self.encoder(x, level, alpha))

    def r1_penalty(self, x: Tensor, scores: Tensor) -> Tensor:
        """||grad_x D(E(x))||^2 per example (Mescheder et al. 2018's R1), differentiable; `scores` = critic(x)."""
        (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
        return grad.pow(2).flatten(1).sum(1)

    # --- Algorithm 1 ----------------------------------------------------------------------------------------------
    def _noise(self, batch: Batch) -> NoiseFn:
        return lambda *shape: batch.randn(*shape)  # drawn through the batch: reproducible and resumable

    def discriminator_loss(self, batch: Batch, progress: Progress) -> dict[str, Tensor]:
        """Step I (E, D): softplus(D∘E(fake)) + softplus(-D∘E(x)) + gamma/2 ||grad_x D∘E(x)||^2 on real x only."""
        level, alpha = self.grow(progress)
        with torch.no_grad():  # the fakes are data for this update: F and G are not its to change
            fake = self.generate(self.mapping(batch.randn(self.config.latent_dim)), level, alpha, self._noise(batch))
        real = self.to_network(batch.x, level, alpha).detach().requires_grad_(self.config.gamma > 0)
        d_real = self.critic(real, level, alpha)
        d_fake = self.critic(fake, level, alpha)
        loss = F.softplus(d_fake) + F.softplus(-d_real)
        terms = {}
        if self.config.gamma > 0:
            r1 = self.r1_penalty(real, d_real)
            loss = loss + 0.5 * self.config.gamma * r1
            terms["r1"] = r1.mean().detach()
        return {"loss": loss.mean(), **terms, "d_real": d_real.mean().detach(), "d_fake": d_fake.mean().detach()}

    def generator_loss(self, batch: Batch, progress: Progress) -> dict[str, Tensor]:
        """Step II (F, G): the non-saturating softplus(-D∘E(G(F(z))))."""
        level, alpha = self.grow(progress)
        z = batch.randn(self.config.latent_dim)
        with _frozen(self.encoder, self.discriminator):
            d_fake = self.critic(self.generate(self.mapping(z), level, alpha, self._noise(batch)), level, alpha)
        return {"loss": F.softplus(-d_fake).mean(), "d_fake": d_fake.mean().detach()}

    def latent_loss(self, batch: Batch, progress: Progress) -> dict[str, Tensor]:
        """Step III (E, G): the mean of (F(z) - E(G(F(z))))^2 over batch and w's dimensions; never pixels."""
        level, alpha = self.grow(progress)
        z = batch.randn(self.config.latent_dim)
        # Algorithm 1 steps E and G only: F's output is a fixed target (the official code detaches the target but
        # lets G's input carry gradient into F, whose optimiser then steps; we keep to the paper)
        with torch.no_grad():
            w = self.mapping(z)
        w_rec = self.encoder(self.generate(w, level, alpha, self._noise(batch)), level, alpha)
        err = (w_rec - w).pow(2).mean()
        return {"loss": err, "w_err": err.detach()}

    def updates(self) -> list[Update]:
        e, d = list(self.encoder.parameters()), list(self.discriminator.parameters())
        f, g = list(self.mapping.parameters()), list(self.generator.parameters())
        # E is stepped by two updates and G by two: each update has its own Adam state (the official code shares one
        # optimiser over (E, D) and one over (F, G) between the adversarial steps and the latent step)
        return [Update("discriminator", e + d, self.discriminator_loss),
                Update("generator", f + g, self.generator_loss),
                Update("latent", g + e, self.latent_loss)]

    # --- the autoencoder and the sampler --------------------------------------------------------------------------
    def _fixed_noise(self, n: int, generator: torch.Generator | None) -> NoiseFn:
        device = self.mapping.net.layers[0].weight.device
        return lambda *shape: draws.randn(n, *shape, device=device, generator=generator)

    def encode(self, x: Tensor) -> Tensor:
        """w = E(x), at the level of the last training step."""
        level, alpha = self.stage()
        return self.encoder(self.to_network(x, level, alpha), level, alpha)

    def decode(self, w: Tensor) -> Tensor:
        """G(w) as images in [0, 1]; the style arch's noise is one fixed draw (seed 0), so decoding is a function."""
        level, alpha = self.stage()
        noise = self._fixed_noise(w.shape[0], torch.Generator(w.device).manual_seed(0))
        return self.to_images(self.generate(w, level, alpha, noise))

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """G(F(z)) for n draws z ~ N(0, I) from `generator` (as is the style arch's noise), in [0, 1]."""
        level, alpha = self.stage()
        device = self.mapping.net.layers[0].weight.device
        with torch.no_grad():
            z = draws.randn(n, self.config.latent_dim, device=device, generator=generator)
            return self.to_images(self.generate(self.mapping(z), level, alpha, self._fixed_noise(n, generator)))

    def eval_terms(self, x: Tensor) -> dict[str, Tensor]:
        """The reconstruction terms, D∘E's score of the data, and the latent cycle error of its codes per example."""
        w = self.encode(x)
        w_cycle = self.encode(self.decode(w))
        return {**super().eval_terms(x), "d_real": torch.sigmoid(self.discriminator(w)),
                "w_cycle_err": (w_cycle - w).pow(2).mean(1)}
