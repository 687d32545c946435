"""The ACAI paper's conv family (Berthelot et al. 2019, Sec. 4.1): pairs of 3x3 convolutions, average pooling
down and nearest upsampling up, leaky ReLU 0.2; every model in its comparison shares it."""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError
from .net import Net


def pool_grid(input_shape: tuple[int, ...], scales: int) -> tuple[int, int]:
    """The latent's (h, w) after `scales` halvings of the image zero-padded to a multiple of 2^scales."""
    _, h, w = input_shape
    if scales < 1:
        raise ConfigError("the pool architecture needs at least one channels entry (one scale)")
    f = 2**scales
    if h < f or w < f:
        raise ConfigError(f"the pool architecture with {scales} scales needs images of at least {f}x{f}; got {h}x{w}")
    return -(-h // f), -(-w // f)


def _padding(input_shape: tuple[int, ...], grid: tuple[int, int], scales: int) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) zero padding that centres the image in the grid's full size (MNIST: 28 -> 32,
    as the paper pads it)."""
    dh, dw = grid[0] * 2**scales - input_shape[1], grid[1] * 2**scales - input_shape[2]
    return dw // 2, dw - dw // 2, dh // 2, dh - dh // 2


def _conv(c_in: int, c_out: int, k: int) -> nn.Conv2d:
    conv = nn.Conv2d(c_in, c_out, k, padding=k // 2)
    # He initialisation for leaky ReLU 0.2, as the official layers.py: std 1 / sqrt((1 + 0.2^2) fan_in)
    nn.init.normal_(conv.weight, std=1.0 / math.sqrt((1 + 0.2**2) * c_in * k * k))
    nn.init.zeros_(conv.bias)
    return conv


def _block(c_in: int, c_out: int, net: Net) -> list[nn.Module]:
    return [_conv(c_in, c_out, 3), *net.after_hidden(c_out, maps=True), _conv(c_out, c_out, 3),
            *net.after_hidden(c_out, maps=True)]


class _Upsample(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(x, scale_factor=2, mode="nearest")


class PoolEncoder(nn.Module):
    """(B, C, H, W) -> (B, out_channels, H / 2^s, W / 2^s), s = len(net.channels): a 1x1 conv, then per scale two 3x3
    convs of that scale's width and a 2x2 average pool, then a 3x3 conv of twice the last width and a linear 3x3."""

    def __init__(self, input_shape: tuple[int, ...], net: Net, out_channels: int) -> None:
        super().__init__()
        channels = net.channels
        self.grid = pool_grid(input_shape, len(channels))
        self.pad = _padding(input_shape, self.grid, len(channels))
        layers: list[nn.Module] = [_conv(input_shape[0], channels[0], 1)]
        c = channels[0]
        for width in channels:
            layers += [*_block(c, width, net), nn.AvgPool2d(2)]
            c = width
        layers += [_conv(c, 2 * c, 3), *net.after_hidden(2 * c, maps=True), _conv(2 * c, out_channels, 3)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(F.pad(x, self.pad) if any(self.pad) else x)


class PoolDecoder(nn.Module):
    """(B, in_channels, h, w) -> (B, C, H, W) pre-activations: per scale, widest first, two 3x3 convs and a nearest
    2x upsampling, then a 3x3 conv of the first width and a linear 3x3 conv to the image's channels; the padding
    the encoder added is cropped."""

    def __init__(self, in_channels: int, net: Net, output_shape: tuple[int, ...]) -> None:
        super().__init__()
        channels = net.channels
        self.grid = pool_grid(output_shape, len(channels))
        self.pad = _padding(output_shape, self.grid, len(channels))
        self.size = tuple(output_shape[1:])
        out_channels = output_shape[0]
        layers: list[nn.Module] = []
        c = in_channels
        for width in channels[::-1]:
            layers += [*_block(c, width, net), _Upsample()]
            c = width
        layers += [_conv(c, channels[0], 3), *net.after_hidden(channels[0], maps=True),
                   _conv(channels[0], out_channels, 3)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self._crop(self.net(z))

    def _crop(self, y: Tensor) -> Tensor:
        left, _, top, _ = self.pad
        return y[..., top:top + self.size[0], left:left + self.size[1]]


def _latent_channels(dim: int, grid: tuple[int, int], what: str) -> int:
    cells = grid[0] * grid[1]
    if dim % cells:
        raise ConfigError(f"the pool architecture keeps its code as a {grid[0]}x{grid[1]} grid: {what} {dim} must be "
                          f"a multiple of {cells}")
    return dim // cells


class FlatPoolEncoder(PoolEncoder):
    """PoolEncoder whose (B, c, h, w) output is flattened to (B, out_dim), channel-major (out_dim = c * h * w)."""

    def __init__(self, input_shape: tuple[int, ...], net: Net, out_dim: int, what: str = "the code size") -> None:
        grid = pool_grid(input_shape, len(net.channels))
        super().__init__(input_shape, net, _latent_channels(out_dim, grid, what))

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x).flatten(1)


class FlatPoolDecoder(PoolDecoder):
    """PoolDecoder from a flat code (B, in_dim), read as (B, in_dim / (h w), h, w); flat output (B, C*H*W)."""

    def __init__(self, in_dim: int, net: Net, output_shape: tuple[int, ...], what: str = "the code size") -> None:
        grid = pool_grid(output_shape, len(net.channels))
        super().__init__(_latent_channels(in_dim, grid, what), net, output_shape)
        self.start = (in_dim // (grid[0] * grid[1]), *grid)

    def forward(self, z: Tensor) -> Tensor:
        return self._crop(self.net(z.view(-1, *self.start))).flatten(1)
