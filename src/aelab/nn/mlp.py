"""Fully connected stacks."""

from __future__ import annotations

from torch import nn

from .net import Net, activation


def mlp(sizes: list[int], net: Net, last_act: str | None = None) -> nn.Sequential:
    """Linear layers through `sizes`, each hidden one followed by `net`'s norm, activation and dropout; `last_act`
    (or nothing) after the last."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        last = i == len(sizes) - 2
        if not last:
            layers += net.after_hidden(b)
        elif last_act is not None:
            layers.append(activation(last_act))
    return nn.Sequential(*layers)
