"""The network settings the MLP and conv families share (`Net`), and the layers that follow each hidden layer."""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import nn

from ..errors import ConfigError

_ACTIVATIONS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh, "gelu": nn.GELU,
                "lrelu": lambda: nn.LeakyReLU(0.2)}
NORMS = ("none", "batch", "layer")


def activation(name: str) -> nn.Module:
    """An activation module by name."""
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ConfigError(f"unknown activation {name!r}; known: {', '.join(sorted(_ACTIVATIONS))}") from None


@dataclass(frozen=True)
class Net:
    """The body of an MLP or conv network: widths, the hidden units' activation, their normalisation and dropout.

    The model configs of ae, vae, vaegan, acai and semhash are Nets (each with its own defaults), so these keys
    sit flat in their config.json beside the family's own.
    """

    hidden: tuple[int, ...] = ()  # the fully connected (mlp) widths, input side first
    channels: tuple[int, ...] = ()  # the conv and pool widths, one per halving of the image
    activation: str = "relu"
    norm: str = "none"  # before each hidden activation: "batch" or "layer" (on feature maps: one group of all channels)
    dropout: float = 0.0  # the share of each hidden layer's outputs zeroed in training, after its activation

    def __post_init__(self) -> None:
        activation(self.activation)  # a one-line error for an unknown name
        if self.norm not in NORMS:
            raise ConfigError(f"unknown norm {self.norm!r}; use {', '.join(NORMS)}")
        if not (math.isfinite(self.dropout) and 0 <= self.dropout < 1):
            raise ConfigError(f"dropout is a share of the units in [0, 1), got {self.dropout}")

    def after_hidden(self, width: int, maps: bool = False) -> list[nn.Module]:
        """What follows a hidden layer of `width` units (`maps`: channels of feature maps): norm, activation,
        dropout."""
        layers: list[nn.Module] = []
        if self.norm == "batch":
            layers.append(nn.BatchNorm2d(width) if maps else nn.BatchNorm1d(width))
        elif self.norm == "layer":  # a layer norm over (C, H, W) of a feature map is one group of all its channels
            layers.append(nn.GroupNorm(1, width) if maps else nn.LayerNorm(width))
        layers.append(activation(self.activation))
        if self.dropout:
            layers.append(nn.Dropout(self.dropout))
        return layers


def has_batch_norm(module: nn.Module) -> bool:
    """Whether `module` holds batch normalisation, whose statistics are those of each process's own batches."""
    return any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in module.modules())
