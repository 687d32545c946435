"""DnCNN (Zhang, Zuo, Chen, Meng & Zhang, "Beyond a Gaussian Denoiser: Residual Learning of Deep CNN for Image
Denoising", IEEE TIP 2017): a plain stack of 3x3 convolutions that predicts the noise, not the clean image.

Sec. III-A: D layers, the first Conv+ReLU, the middle ones Conv+BN+ReLU, the last a Conv back to the image's
channels; zero padding keeps every feature map the input's size, so the network is fully convolutional and restores
a photo of any height and width. Residual learning (Eq. 1): the network R predicts v = y - x from the noisy y, the
estimate is y - R(y), and the loss is (1 / 2N) sum ||R(y_i) - (y_i - x_i)||^2, which is the squared error of
y - R(y) to the clean x. One addition for inpainting: the holes whose place is known (Batch.holes in training,
~known in `restore`) enter as one more input channel, so a single model tells a hole from dark content.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ..nn import likelihood as lik
from .base import Batch, Denoiser, Progress, Trainable, Update, register
from .capabilities import Traits

NORMS = ("batch", "none")


@dataclass(frozen=True)
class DnCNNConfig:
    """Depth and width of the convolution stack; the image channels come from the data (grey 1, colour 3)."""

    input_shape: tuple[int, ...] = (3, 40, 40)  # the training patch (C, H, W); restore takes any H, W with these C
    # 10 layers (a 21x21 receptive field, the paper's 35x35 at 17) and 48 maps: about 1/3 of the paper's
    # 17 x 64 multiply-adds per pixel (166k against 553k), so a CPU trains on a few photos in minutes
    depth: int = 10
    width: int = 48
    # the paper's batch normalisation in the middle layers: in eval mode a fixed per-channel affine map (running
    # statistics saved with the weights), so tiles restore as the whole photo does; "none" for several processes
    norm: str = "batch"

    def __post_init__(self) -> None:
        if len(self.input_shape) != 3 or any(d < 1 for d in self.input_shape):
            raise ConfigError(f"input_shape must be (C, H, W) with positive sizes, got {self.input_shape}")
        if self.depth < 2:
            raise ConfigError(f"DnCNN needs depth >= 2 (a first and a last convolution), got {self.depth}")
        if self.width < 1:
            raise ConfigError(f"width must be >= 1 feature map, got {self.width}")
        if self.norm not in NORMS:
            raise ConfigError(f"unknown norm {self.norm!r}; use {' or '.join(NORMS)}")


@register
class DnCNN(Denoiser, Trainable):
    """DnCNN (Zhang et al., IEEE TIP 2017, Eq. 1): a residual denoiser of 3x3 convolutions, fully convolutional."""

    name = "dncnn"
    Config = DnCNNConfig
    traits = Traits(inputs="images", codes="none", weighs_inputs=True)

    def __init__(self, config: DnCNNConfig) -> None:
        super().__init__(config)
        c, w, batch_norm = config.input_shape[0], config.width, config.norm == "batch"
        layers: list[nn.Module] = [nn.Conv2d(c + 1, w, 3, padding=1), nn.ReLU(inplace=True)]  # + the holes' channel
        for _ in range(config.depth - 2):  # a bias before batch norm is cancelled by its mean: left out, as the paper
            layers += [nn.Conv2d(w, w, 3, padding=1, bias=not batch_norm)]
            layers += [nn.BatchNorm2d(w)] if batch_norm else []
            layers += [nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(w, c, 3, padding=1))
        self.net = nn.Sequential(*layers)
        convs = [m for m in self.net if isinstance(m, nn.Conv2d)]
        for conv in convs[:-1]:  # He et al. 2015's initialisation, as the paper's (Sec. IV-A)
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
        # the last layer starts small: the untrained network returns about its input (a residual near 0), not the
        # input plus unit-variance noise, so early steps fit the noise instead of undoing the initial output
        nn.init.kaiming_normal_(convs[-1].weight, nonlinearity="linear")
        convs[-1].weight.data.mul_(0.1)
        for conv in convs:
            if conv.bias is not None:
                nn.init.zeros_(conv.bias)

    @property
    def halo(self) -> int:
        """Pixels of input on each side that one output pixel reads: one per 3x3 convolution (the AnySize contract)."""
        return self.config.depth

    def residual(self, x: Tensor, holes: Tensor | None = None) -> Tensor:
        """R(y): the noise the network sees in x (B, C, H, W); `holes` (bool, x's shape) the known missing inputs."""
        mask = torch.zeros_like(x[:, :1]) if holes is None else holes.to(x.dtype).mean(1, keepdim=True)
        return self.net(torch.cat([x, mask], 1))

    def forward(self, x: Tensor, holes: Tensor | None = None) -> Tensor:
        """The clean estimate y - R(y) (Eq. 1), unclamped: the loss's gradient must not stop at 0 and 1."""
        return x - self.residual(x, holes)

    def check_images(self, x: Tensor) -> None:
        """Refuse anything but (B, C, H, W) images with the model's channel count, in one line."""
        c = self.config.input_shape[0]
        if x.dim() != 4 or x.shape[1] != c or min(x.shape[2:]) < 1:
            raise ConfigError(f"model {self.name!r} restores images shaped (N, {c}, H, W) (any H, W); "
                              f"got {tuple(x.shape)}")

    def restore(self, x: Tensor, known: Tensor | None = None) -> Tensor:
        """The clean estimate of `x` at any H, W in [0, 1]; where `known` is True the input is kept as given, the rest
        (the holes) is zeroed, as training's occlusion does, and flagged in the holes' channel."""
        self.check_images(x)
        if known is not None and known.shape != x.shape:
            raise ConfigError(f"the known mask is shaped {tuple(known.shape)}, the images {tuple(x.shape)}")
        holes = None if known is None else ~known
        given = x if holes is None else x.masked_fill(holes, 0.0)
        was_training = self.training  # running statistics always: a photo's restoration must not depend on its batch
        self.eval()
        try:
            out = self(given, holes).clamp(0, 1)
        finally:
            self.train(was_training)
        return out if known is None else torch.where(known, x, out.to(x.dtype))

    def loss(self, batch: Batch, progress: Progress) -> dict[str, Tensor]:
        """Eq. 1: half the squared error of y - R(y) to the clean patch, summed over pixels, averaged over the batch
        (each destroyed input weighted by --emphasis)."""
        estimate = self(batch.x, batch.holes)
        target = batch.target
        loss = 0.5 * lik.squared_error(estimate.flatten(1), target.flatten(1), batch.input_weights()).mean()
        with torch.no_grad():
            sq_err = lik.squared_error(estimate.flatten(1), target.flatten(1)).mean()
        return {"loss": loss, "sq_err": sq_err}

    def updates(self) -> list[Update]:
        return [Update("model", list(self.parameters()), self.loss)]
