"""Fully connected stacks."""

from __future__ import annotations

from torch import nn

from ..errors import ConfigError

_ACTIVATIONS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh, "gelu": nn.GELU,
                "lrelu": lambda: nn.LeakyReLU(0.2)}


def activation(name: str) -> nn.Module:
    """An activation module by name."""
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ConfigError(f"unknown activation {name!r}; known: {', '.join(sorted(_ACTIVATIONS))}") from None


def mlp(sizes: list[int], act: str, last_act: str | None = None) -> nn.Sequential:
    """Linear layers through `sizes`, `act` between them, `last_act` (or nothing) after the last."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        last = i == len(sizes) - 2
        if not last:
            layers.append(activation(act))
        elif last_act is not None:
            layers.append(activation(last_act))
    return nn.Sequential(*layers)
