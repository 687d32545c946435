"""ALAE's networks (Pidhorskyi et al., CVPR 2020): equalised-learning-rate layers, the MLP pair of its MNIST model,
and a scaled-down StyleALAE: a style-modulated generator (AdaIN from w at every layer, a learned constant input,
optional noise) and an encoder that reads w off the instance statistics of each of its layers.

Resolution levels: level i of a style network works at 4 * 2^i pixels a side (4, 8, 16, 32, ...); `growth` turns
training progress into the active level and the blending factor of progressive growing.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SLOPE = 0.2  # every leaky ReLU of the official net.py
# noise(shape) -> (B, *shape) draws; the generator asks for one (1, H, W) map per layer (or none: no noise)
NoiseFn = Callable[..., Tensor]


class EqualLinear(nn.Module):
    """A linear layer with the equalised learning rate of Karras et al. (2018), as the official lreq.Linear.

    Weights are stored as N(0, 1/lrmul) and scaled by gain / sqrt(fan_in) * lrmul at run time, so that Adam (whose
    steps are scale-free) moves every layer at the same relative speed; lrmul < 1 slows a layer down (the official
    F and D use 0.1). With Adam's beta1 = 0 this is exactly the official implicit form with its LREQAdam.
    """

    def __init__(self, n_in: int, n_out: int, gain: float = math.sqrt(2.0), lrmul: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in) / lrmul)
        self.bias = nn.Parameter(torch.zeros(n_out))
        self.scale = gain / math.sqrt(n_in) * lrmul
        self.lrmul = lrmul

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.scale, self.bias * self.lrmul)


class EqualConv2d(nn.Module):
    """A 'same'-padded convolution with the equalised learning rate (official lreq.Conv2d); no bias when `bias` is
    False (the style blocks add theirs after the noise)."""

    def __init__(self, c_in: int, c_out: int, k: int, gain: float = math.sqrt(2.0), bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, k, k))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.scale = gain / math.sqrt(c_in * k * k)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.weight.shape[-1] // 2)


def pixel_norm(z: Tensor, eps: float = 1e-8) -> Tensor:
    """z scaled to unit mean square per example (StyleGAN's input normalisation of the mapping network)."""
    return z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + eps)


def lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, SLOPE)


class MLP(nn.Module):
    """EqualLinear layers through `sizes` with leaky ReLU 0.2 between them, and after the last when `last_act`."""

    def __init__(self, sizes: list[int], last_act: bool, lrmul: float = 1.0) -> None:
        super().__init__()
        self.layers = nn.ModuleList(EqualLinear(a, b, lrmul=lrmul) for a, b in zip(sizes[:-1], sizes[1:]))
        self.last_act = last_act

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1 or self.last_act:
                x = lrelu(x)
        return x


class Mapping(nn.Module):
    """F: z -> w, pixel norm then `layers` x (EqualLinear with lrmul 0.1, leaky ReLU), as the official MappingF."""

    def __init__(self, latent_dim: int, layers: int) -> None:
        super().__init__()
        self.net = MLP([latent_dim] * (layers + 1), last_act=True, lrmul=0.1)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(pixel_norm(z))


class LatentDiscriminator(nn.Module):
    """D: w -> score, `layers` EqualLinear layers (lrmul 0.1) with no activation between them, as the official
    MappingD: the non-linearity of the image discriminator D∘E is all in E."""

    def __init__(self, latent_dim: int, layers: int) -> None:
        super().__init__()
        self.net = nn.Sequential(*[EqualLinear(latent_dim, latent_dim, lrmul=0.1) for _ in range(layers - 1)],
                                 EqualLinear(latent_dim, 1, lrmul=0.1))

    def forward(self, w: Tensor) -> Tensor:
        return self.net(w).squeeze(1)


class MLPEncoder(nn.Module):
    """E of the official MNIST model (EncoderFC): flat image -> hidden -> w, leaky ReLU after every layer (w is
    then on the same side of the activation as F's output, which also ends with one)."""

    def __init__(self, input_shape: tuple[int, ...], hidden: tuple[int, ...], latent_dim: int) -> None:
        super().__init__()
        self.net = MLP([math.prod(input_shape), *hidden, latent_dim], last_act=True)

    def forward(self, x: Tensor, level: int = 0, alpha: float = 1.0) -> Tensor:
        return self.net(x.flatten(1))


class MLPGenerator(nn.Module):
    """G of the official MNIST model (GeneratorFC): w -> hidden -> image, a linear output (no tanh)."""

    def __init__(self, latent_dim: int, hidden: tuple[int, ...], output_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(output_shape)
        self.net = MLP([latent_dim, *hidden, math.prod(output_shape)], last_act=False)

    def forward(self, w: Tensor, level: int = 0, alpha: float = 1.0, noise: NoiseFn | None = None) -> Tensor:
        return self.net(w).view(-1, *self.shape)


# --- StyleALAE -----------------------------------------------------------------------------------------------------
class Blur(nn.Module):
    """The [1, 2, 1] x [1, 2, 1] / 16 low-pass filter around every resampling (official net.Blur)."""

    def __init__(self) -> None:
        super().__init__()
        k = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("kernel", (k[:, None] * k[None, :] / 16).view(1, 1, 3, 3), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        c = x.shape[1]
        return F.conv2d(x, self.kernel.expand(c, 1, 3, 3), padding=1, groups=c)


def upsample(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


def downsample(x: Tensor) -> Tensor:
    return F.avg_pool2d(x, 2)


class StyleMod(nn.Module):
    """AdaIN's affine part: y = x * (1 + scale(w)) + shift(w) per channel (official style_mod, gain 1)."""

    def __init__(self, latent_dim: int, channels: int) -> None:
        super().__init__()
        self.affine = EqualLinear(latent_dim, 2 * channels, gain=1.0)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        scale, shift = self.affine(w)[:, :, None, None].chunk(2, dim=1)
        return x * (1 + scale) + shift


class DecodeBlock(nn.Module):
    """One generator level (official DecodeBlock, unfused): [upsample, conv 3x3, blur], then twice: noise, bias,
    leaky ReLU, instance norm, style modulation by w; a 3x3 conv between the two."""

    def __init__(self, c_in: int, c_out: int, latent_dim: int, first: bool) -> None:
        super().__init__()
        self.first = first
        if not first:
            self.conv_1 = EqualConv2d(c_in, c_out, 3, bias=False)
            self.blur = Blur()
        self.conv_2 = EqualConv2d(c_out, c_out, 3, bias=False)
        # per-channel noise strengths start at zero, as the official ones: noise is learned in, never forced
        self.noise_1 = nn.Parameter(torch.zeros(1, c_out, 1, 1))
        self.noise_2 = nn.Parameter(torch.zeros(1, c_out, 1, 1))
        self.bias_1 = nn.Parameter(torch.zeros(1, c_out, 1, 1))
        self.bias_2 = nn.Parameter(torch.zeros(1, c_out, 1, 1))
        self.style_1 = StyleMod(latent_dim, c_out)
        self.style_2 = StyleMod(latent_dim, c_out)

    def _inject(self, x: Tensor, weight: Tensor, bias: Tensor, noise: NoiseFn | None) -> Tensor:
        if noise is not None:
            x = x + weight * noise(1, x.shape[2], x.shape[3]).to(x.dtype)
        return F.instance_norm(lrelu(x + bias), eps=1e-8)

    def forward(self, x: Tensor, w: Tensor, noise: NoiseFn | None) -> Tensor:
        if not self.first:
            x = self.blur(self.conv_1(upsample(x)))
        x = self.style_1(self._inject(x, self.noise_1, self.bias_1, noise), w)
        x = self.conv_2(x)
        return self.style_2(self._inject(x, self.noise_2, self.bias_2, noise), w)


class StyleGenerator(nn.Module):
    """G: w -> image at level `level` (4 * 2^level a side); channels[i] is level i's width.

    A learned constant 4x4 input (ones, as official), the same w injected at every layer (no style mixing), a 1x1
    to-image conv per level (gain 0.03, official ToRGB); while a level grows in (alpha < 1) its output is blended
    with the level below's, upsampled: (1 - alpha) * up(rgb_{level-1}) + alpha * rgb_level (official decode2).
    """

    def __init__(self, channels: tuple[int, ...], latent_dim: int, out_channels: int) -> None:
        super().__init__()
        self.const = nn.Parameter(torch.ones(1, channels[0], 4, 4))
        self.blocks = nn.ModuleList(DecodeBlock(channels[max(i - 1, 0)], c, latent_dim, first=i == 0)
                                    for i, c in enumerate(channels))
        self.to_rgb = nn.ModuleList(EqualConv2d(c, out_channels, 1, gain=0.03) for c in channels)

    def forward(self, w: Tensor, level: int, alpha: float = 1.0, noise: NoiseFn | None = None) -> Tensor:
        x = self.const.expand(w.shape[0], -1, -1, -1)
        for i in range(level):
            x = self.blocks[i](x, w, noise)
        if level > 0 and alpha < 1:
            prev = upsample(self.to_rgb[level - 1](x))
            return torch.lerp(prev, self.to_rgb[level](self.blocks[level](x, w, noise)), alpha)
        return self.to_rgb[level](self.blocks[level](x, w, noise))


def instance_stats(x: Tensor) -> Tensor:
    """(B, 2C): each channel's spatial mean and standard deviation (the eps keeps sqrt's gradient finite)."""
    mean = x.mean((2, 3), keepdim=True)
    std = ((x - mean).pow(2).mean((2, 3), keepdim=True) + 1e-8).sqrt()
    return torch.cat([mean, std], 1).flatten(1)


class EncodeBlock(nn.Module):
    """One encoder level (official EncodeBlock, unfused): conv 3x3, bias, leaky ReLU -> statistics -> instance norm;
    blur, conv 3x3, average pool, bias, leaky ReLU -> statistics -> instance norm. Each layer's (mean, std) is mapped
    to w-space by a linear layer of its own; the block returns the normalised map and the sum of the two."""

    def __init__(self, c_in: int, c_out: int, latent_dim: int) -> None:
        super().__init__()
        self.conv_1 = EqualConv2d(c_in, c_in, 3)
        self.blur = Blur()
        self.conv_2 = EqualConv2d(c_in, c_out, 3)
        self.style_1 = EqualLinear(2 * c_in, latent_dim)
        self.style_2 = EqualLinear(2 * c_out, latent_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = lrelu(self.conv_1(x))
        w = self.style_1(instance_stats(x))
        x = lrelu(downsample(self.conv_2(self.blur(F.instance_norm(x)))))
        w = w + self.style_2(instance_stats(x))
        return F.instance_norm(x), w


class StyleEncoder(nn.Module):
    """E: image at level `level` -> w, the mirror of StyleGenerator (official EncoderDefault, scaled down).

    The block of level i reads 4 * 2^i pixels with channels[i] and halves them into channels[i - 1]; w is the sum
    over every layer of its linear map of that layer's instance statistics. While a level grows in, its block's
    contribution to w is weighted alpha and its output is blended with the image's next level down, as official.
    """

    def __init__(self, channels: tuple[int, ...], latent_dim: int, in_channels: int) -> None:
        super().__init__()
        self.from_rgb = nn.ModuleList(EqualConv2d(in_channels, c, 1) for c in channels)
        self.blocks = nn.ModuleList(EncodeBlock(c, channels[max(i - 1, 0)], latent_dim) for i, c in enumerate(channels))

    def forward(self, x: Tensor, level: int, alpha: float = 1.0) -> Tensor:
        h, w = self.blocks[level](lrelu(self.from_rgb[level](x)))
        if level > 0 and alpha < 1:
            w = alpha * w
            h = torch.lerp(lrelu(self.from_rgb[level - 1](downsample(x))), h, alpha)
        for i in range(level - 1, -1, -1):
            h, s = self.blocks[i](h)
            w = w + s
        return w


def growth(epoch: float, grow_epochs: float, levels: int) -> tuple[int, float]:
    """(level, alpha) of progressive growing after `epoch` epochs: a new level every `grow_epochs` epochs, faded in
    over the first half of its epochs by the official smooth ramp alpha = (1 + sin(pi t - pi/2)) / 2 (lod_driver.py).

    grow_epochs = 0 trains at the top level from the start (the official EPOCHS_PER_LOD = 0).
    """
    if grow_epochs <= 0:
        return levels - 1, 1.0
    level = min(levels - 1, int(epoch // grow_epochs))
    t = (epoch - level * grow_epochs) / (grow_epochs / 2)
    if level == 0 or t >= 1:
        return level, 1.0
    return level, 0.5 + 0.5 * math.sin(math.pi * t - math.pi / 2)


def image_at(x: Tensor, level: int, top: int, alpha: float = 1.0) -> Tensor:
    """A top-level image (B, C, R, R) as level `level` sees it: average-pooled down (the official data at each
    level); while the level grows in, blended with its own next level down, upsampled (official train_alae.py)."""
    for _ in range(top - level):
        x = downsample(x)
    if level > 0 and alpha < 1:
        x = torch.lerp(upsample(downsample(x)), x, alpha)
    return x
