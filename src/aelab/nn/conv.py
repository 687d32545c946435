"""Convolutional encoder / decoder stacks: stride-2 4x4 convolutions, halving (doubling) the size each layer."""

from __future__ import annotations

import math

from torch import Tensor, nn

from ..errors import ConfigError
from .net import Net


def check_conv_shape(input_shape: tuple[int, ...], n_layers: int) -> tuple[int, int]:
    """The spatial size after `n_layers` halvings, or a one-line error if the image does not divide."""
    _, h, w = input_shape
    f = 2**n_layers
    if h % f or w % f:
        raise ConfigError(f"a conv net with {n_layers} stride-2 layers needs height and width divisible by {f}; "
                          f"got {h}x{w} (use fewer channels entries or the mlp architecture)")
    return h // f, w // f


def conv_stack(c_in: int, net: Net) -> nn.Sequential:
    """Stride-2 4x4 convolutions through `net.channels`, each followed by `net`'s norm, activation and dropout."""
    layers: list[nn.Module] = []
    for c in net.channels:
        layers += [nn.Conv2d(c_in, c, 4, stride=2, padding=1), *net.after_hidden(c, maps=True)]
        c_in = c
    return nn.Sequential(*layers)


class ConvEncoder(nn.Module):
    """(B, C, H, W) -> features (B, out_dim): conv 4x4/2 per entry of `net.channels`, then a linear layer."""

    def __init__(self, input_shape: tuple[int, ...], net: Net, out_dim: int) -> None:
        super().__init__()
        h, w = check_conv_shape(input_shape, len(net.channels))
        self.features = conv_stack(input_shape[0], net)
        self.flat_dim = net.channels[-1] * h * w
        self.head = nn.Linear(self.flat_dim, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x).flatten(1))


class ConvDecoder(nn.Module):
    """(B, in_dim) -> (B, C*H*W) pre-activations: a linear layer, then a transposed conv 4x4/2 per channels entry."""

    def __init__(self, in_dim: int, net: Net, output_shape: tuple[int, ...]) -> None:
        super().__init__()
        h, w = check_conv_shape(output_shape, len(net.channels))
        widths = list(net.channels[::-1])  # widest at the smallest size, mirroring the encoder
        self.start = (widths[0], h, w)
        self.head = nn.Sequential(nn.Linear(in_dim, math.prod(self.start)), *net.after_hidden(math.prod(self.start)))
        layers: list[nn.Module] = []
        for i, c in enumerate(widths):
            c_out = widths[i + 1] if i + 1 < len(widths) else output_shape[0]
            layers.append(nn.ConvTranspose2d(c, c_out, 4, stride=2, padding=1))
            if i + 1 < len(widths):
                layers += net.after_hidden(c_out, maps=True)
        self.body = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.body(self.head(z).view(-1, *self.start)).flatten(1)
