"""Gated PixelCNN (van den Oord et al. 2016): an autoregressive prior over a (H, W) grid of discrete codes.

Causality is built from shifts, not weight masks. The vertical stack convolves with a (k//2+1, k)
kernel padded only above, so its features at row i see rows <= i; they reach the horizontal stack only
after a one-row down-shift (`_down_shift`), so the horizontal stack at row i sees rows < i through them.
The horizontal stack convolves with a (1, k//2+1) kernel padded only on the left, so column j sees
columns <= j (type 'B'); the first layer's input is also shifted right by one column (`_right_shift`),
so a position never sees its own code (type 'A'). Position (i, j) thus depends on exactly the codes
before it in raster order, with no blind spot (Sec. 2.2, Fig. 2).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError, DataError
from . import draws


def _down_shift(x: Tensor) -> Tensor:
    """Move (B, C, H, W) features down one row, zeros in row 0: row i then holds what row i-1 held."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1, :]


def _right_shift(x: Tensor) -> Tensor:
    """Move (B, C, H, W) features right one column, zeros in column 0: column j then holds column j-1."""
    return F.pad(x, (1, 0, 0, 0))[:, :, :, :-1]


def _gate(x: Tensor) -> Tensor:
    """tanh(W_f * x) ⊙ σ(W_g * x) on the two halves of the channels (van den Oord et al. 2016, Eq. 2)."""
    f, g = x.chunk(2, dim=1)
    return torch.tanh(f) * torch.sigmoid(g)


def _check_int(name: str, value: object, low: int) -> int:
    """`value` as an int >= `low`, or a one-line ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"GatedPixelCNN {name} must be an integer >= {low}; got {value!r}")
    return value


class GatedBlock(nn.Module):
    """One layer of both stacks (van den Oord et al. 2016, Fig. 2), with the label bias of Eq. 4."""

    def __init__(self, c_in: int, channels: int, kernel: int, first: bool, conditional_classes: int = 0) -> None:
        super().__init__()
        self.p = kernel // 2
        self.first = first  # type 'A': the horizontal input is right-shifted and there is no residual
        self.v_conv = nn.Conv2d(c_in, 2 * channels, (self.p + 1, kernel))
        self.h_conv = nn.Conv2d(c_in, 2 * channels, (1, self.p + 1))
        self.v_to_h = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.h_out = nn.Conv2d(channels, channels, 1)
        # V^T h of Eq. 4: one learned bias per label for each stack's gate, added before the nonlinearity
        self.cond = nn.Embedding(conditional_classes, 4 * channels) if conditional_classes else None

    def forward(self, v: Tensor, h: Tensor, label: Tensor | None = None) -> tuple[Tensor, Tensor]:
        # vertical: pad p rows above (none below) and p columns each side, so row i covers rows i-p..i
        v_pre = self.v_conv(F.pad(v, (self.p, self.p, self.p, 0)))
        # horizontal: pad p columns on the left only, so column j covers j-p..j ('B'), or j-p-1..j-1 ('A')
        h_in = _right_shift(h) if self.first else h
        h_pre = self.h_conv(F.pad(h_in, (self.p, 0, 0, 0)))
        # v_pre at row i has seen row i itself; the down-shift keeps the current row out of the horizontal stack
        h_pre = h_pre + self.v_to_h(_down_shift(v_pre))
        if self.cond is not None:
            bias_v, bias_h = self.cond(label)[:, :, None, None].chunk(2, dim=1)
            v_pre, h_pre = v_pre + bias_v, h_pre + bias_h
        h_new = self.h_out(_gate(h_pre))
        # the residual would hand position j its own code in the first layer, so only later layers have it
        return _gate(v_pre), (h_new if self.first else h + h_new)


class GatedPixelCNN(nn.Module):
    """p(c) = prod_ij p(c_ij | c_<ij) over a (H, W) grid of codes in {0..K-1} (van den Oord et al. 2016, Eq. 1-2, 4).

    The prior of VQ-VAE (van den Oord et al. 2017, Sec. 3.2): `forward(indices)` gives logits
    (B, K, H, W), `log_prob` the summed log-likelihood, `sample` draws grids in raster order.
    """

    def __init__(self, num_classes: int, channels: int = 64, layers: int = 12, kernel: int = 7,
                 embed_dim: int | None = None, conditional_classes: int = 0) -> None:
        super().__init__()
        self.num_classes = _check_int("num_classes", num_classes, 2)
        self.channels = _check_int("channels", channels, 1)
        self.layers = _check_int("layers", layers, 1)
        _check_int("kernel", kernel, 3)
        if kernel % 2 == 0:
            raise ConfigError(f"GatedPixelCNN kernel must be odd (3, 5, 7, ...); got {kernel}")
        self.kernel = kernel
        self.embed_dim = channels if embed_dim is None else _check_int("embed_dim", embed_dim, 1)
        self.conditional_classes = _check_int("conditional_classes", conditional_classes, 0)
        self.embedding = nn.Embedding(num_classes, self.embed_dim)
        self.blocks = nn.ModuleList(
            GatedBlock(self.embed_dim if i == 0 else channels, channels, kernel, first=i == 0,
                       conditional_classes=conditional_classes)
            for i in range(layers))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 1), nn.ReLU(),
                                  nn.Conv2d(channels, num_classes, 1))

    def _check_indices(self, indices: Tensor) -> None:
        """One-line DataError unless `indices` is an integer (B, H, W) tensor with values in [0, K)."""
        if not isinstance(indices, Tensor) or indices.dtype.is_floating_point or indices.dtype.is_complex \
                or indices.dtype == torch.bool:
            raise DataError(f"GatedPixelCNN takes integer code indices; got "
                            f"{indices.dtype if isinstance(indices, Tensor) else type(indices).__name__}")
        if indices.dim() != 3 or indices.numel() == 0:
            raise DataError(f"GatedPixelCNN takes a non-empty (B, H, W) grid of code indices; got shape "
                            f"{tuple(indices.shape)}")
        lo, hi = int(indices.min()), int(indices.max())
        if lo < 0 or hi >= self.num_classes:
            raise DataError(f"code indices must lie in [0, {self.num_classes - 1}]; got values in [{lo}, {hi}]")

    def _check_labels(self, labels: Tensor | None, batch: int) -> None:
        """One-line error unless `labels` fit the model: (B,) integers in [0, classes) iff it is conditional."""
        if self.conditional_classes == 0:
            if labels is not None:
                raise ConfigError("this GatedPixelCNN is unconditional (conditional_classes=0); do not pass labels")
            return
        if labels is None:
            raise ConfigError(f"this GatedPixelCNN is conditional on {self.conditional_classes} classes; pass labels")
        if not isinstance(labels, Tensor) or labels.dtype.is_floating_point or labels.dim() != 1 \
                or len(labels) != batch:
            raise DataError(f"labels must be an integer tensor of shape ({batch},); got "
                            f"{tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__}")
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= self.conditional_classes:
            raise DataError(f"labels must lie in [0, {self.conditional_classes - 1}]; got values in [{lo}, {hi}]")

    def embed(self, indices: Tensor) -> Tensor:
        """(B, H, W) code indices -> (B, embed_dim, H, W) input features."""
        self._check_indices(indices)
        return self.embedding(indices).permute(0, 3, 1, 2)

    def forward_embedded(self, emb: Tensor, labels: Tensor | None = None) -> Tensor:
        """(B, embed_dim, H, W) input features -> logits (B, K, H, W); logits at (i, j) depend on emb before (i, j)."""
        if emb.dim() != 4 or emb.shape[1] != self.embed_dim:
            raise DataError(f"GatedPixelCNN features must be (B, {self.embed_dim}, H, W); got {tuple(emb.shape)}")
        self._check_labels(labels, emb.shape[0])
        v = h = emb
        for block in self.blocks:
            v, h = block(v, h, labels)
        return self.head(h)

    def forward(self, indices: Tensor, labels: Tensor | None = None) -> Tensor:
        """(B, H, W) code indices -> logits (B, K, H, W) of p(c_ij | c_<ij)."""
        return self.forward_embedded(self.embed(indices), labels)

    def log_prob(self, indices: Tensor, labels: Tensor | None = None) -> Tensor:
        """log p(c) in nats per grid (B,): the sum over positions of log-softmax at the true codes (Eq. 1)."""
        logits = self(indices, labels)
        return -F.cross_entropy(logits, indices, reduction="none").sum(dim=(1, 2))

    def nll_bits_per_code(self, indices: Tensor, labels: Tensor | None = None) -> Tensor:
        """-log2 p(c) / (H W) per grid (B,): the bits/dim of the code grid."""
        log_p = self.log_prob(indices, labels)  # validates indices before their shape is read
        return -log_p / (indices.shape[1] * indices.shape[2] * math.log(2))

    @torch.no_grad()
    def sample(self, n: int, shape: tuple[int, int], generator: torch.Generator | None = None,
               labels: Tensor | None = None, temperature: float = 1.0) -> Tensor:
        """n grids (n, H, W) drawn in raster order, one forward pass per position; same generator state, same grids."""
        _check_int("sample count n", n, 1)
        if len(shape) != 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
            raise ConfigError(f"sample shape must be (H, W) with positive integers; got {shape!r}")
        if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
            raise ConfigError(f"sample temperature must be a finite number > 0; got {temperature!r}")
        device = self.embedding.weight.device
        self._check_labels(labels, n)
        if labels is not None:
            labels = labels.to(device)
        height, width = shape
        grid = torch.zeros(n, height, width, dtype=torch.long, device=device)
        for i in range(height):
            for j in range(width):
                # rows below i cannot affect row i (no padding below), so the grid is cut after row i
                logits = self(grid[:, : i + 1], labels)[:, :, i, j].double() / temperature
                cdf = logits.softmax(dim=1).cumsum(dim=1)
                # inverse-CDF with uniforms from the caller's generator (on its device: the same draws for a CPU one)
                u = draws.rand(n, 1, device=device, generator=generator, dtype=torch.float64)
                grid[:, i, j] = (cdf < u * cdf[:, -1:]).sum(dim=1).clamp(max=self.num_classes - 1)
        return grid
