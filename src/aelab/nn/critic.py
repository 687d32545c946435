"""Discriminators: a convolutional feature stack (whose output is Dis_l) and a logit head."""

from __future__ import annotations

from torch import Tensor, nn

from .conv import check_conv_shape, conv_stack
from .net import Net, activation


class ConvDiscriminator(nn.Module):
    """x -> stride-2 4x4 convs (`features`, the layer Larsen et al. reconstruct in) -> hidden -> one logit."""

    def __init__(self, input_shape: tuple[int, ...], channels: tuple[int, ...], hidden: int, act: str = "lrelu") -> None:
        super().__init__()
        h, w = check_conv_shape(input_shape, len(channels))
        self.convs = conv_stack(input_shape[0], Net(channels=channels, activation=act))
        self.head = nn.Sequential(nn.Linear(channels[-1] * h * w, hidden), activation(act), nn.Linear(hidden, 1))

    def features(self, x: Tensor) -> Tensor:
        """Dis_l(x): the last convolutional layer's activations, flattened (B, F)."""
        return self.convs(x).flatten(1)

    def logit(self, features: Tensor) -> Tensor:
        """The real-vs-fake logit (B,) from `features`."""
        return self.head(features).squeeze(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.logit(self.features(x))
