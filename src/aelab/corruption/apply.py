"""Applying a corruption spec to a batch, with draws from the trainer's seeded noise (so a resume stays exact),
and filling holes with a model (inpainting)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError, DataError
from ..recipes.corruption import CorruptionSpec, Term, parse_corruption


class Draws(Protocol):
    """Random numbers shaped (batch rows, *shape): the trainer's `Noise`, or `SeededDraws`."""

    def rand(self, *shape: int) -> Tensor: ...

    def randn(self, *shape: int) -> Tensor: ...


class SeededDraws:
    """Draws for n rows from one seeded generator on the data's device: evaluation and the commands corrupt the same
    way every time (on one kind of device: a CUDA generator draws other numbers than the CPU's)."""

    def __init__(self, seed: int, n: int, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.gen = torch.Generator(self.device).manual_seed(int(seed))
        self.n = n

    def rand(self, *shape: int) -> Tensor:
        return torch.rand(self.n, *shape, generator=self.gen, device=self.device)

    def randn(self, *shape: int) -> Tensor:
        return torch.randn(self.n, *shape, generator=self.gen, device=self.device)


@dataclass
class Corrupted:
    """A corrupted batch: the input a model sees, the inputs destroyed (bool, x's shape, None: none), and of those
    the holes whose place is known (a box or a user's mask: an inpainter keeps everything else)."""

    x: Tensor
    missing: Tensor | None
    holes: Tensor | None


@functools.lru_cache(maxsize=8)
def load_masks(path: str) -> Tensor:
    """Masks (N, H, W) bool from an image (white = missing), a folder of images, or a .npy of (N, H, W) / (H, W)."""
    from ..data.images import list_images, read_image

    p = Path(path)
    if p.suffix.lower() == ".npy":
        try:
            a = np.load(p, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise DataError(f"cannot read masks from {p}: {e}") from None
        if a.ndim == 2:
            a = a[None]
        if a.ndim != 3 or a.shape[0] == 0:
            raise DataError(f"masks in {p} must be shaped (H, W) or (N, H, W), got {a.shape}")
        return torch.from_numpy(np.asarray(a) > 0.5)
    files = list_images(p) if p.is_dir() else [p]
    if not files:
        raise DataError(f"no mask images in {p}")
    masks = [read_image(f, grayscale=True)[0] > 0.5 for f in files]
    if len({m.shape for m in masks}) > 1:
        raise DataError(f"the masks in {p} differ in size ({sorted({tuple(m.shape) for m in masks})}); give one size")
    return torch.stack(masks)


def _spatial(x: Tensor, term: Term) -> tuple[int, int]:
    if x.dim() != 4:
        raise ConfigError(f"corruption {term.text()} needs images (N, C, H, W); this data is shaped "
                          f"{tuple(x.shape[1:])} per example")
    return x.shape[2], x.shape[3]


def _exact_fraction(x: Tensor, fraction: float, draws: Draws) -> Tensor:
    """Exactly round(fraction * d) of each example's d inputs, chosen at random (Vincent et al. 2008, Sec. 2.3)."""
    flat = draws.rand(*x.shape[1:]).flatten(1)
    k = int(round(fraction * flat.shape[1]))
    chosen = torch.zeros_like(flat, dtype=torch.bool)
    if k:
        chosen.scatter_(1, flat.topk(k, dim=1, largest=False).indices, True)
    return chosen.view(x.shape)


def _apply_term(term: Term, x: Tensor, draws: Draws) -> tuple[Tensor, Tensor | None]:
    """(corrupted x, the inputs this term destroyed or None)."""
    if term.kind == "gaussian":
        sigma: Tensor | float = term.amount
        if term.high:  # each example its own sigma
            sigma = (term.amount + (term.high - term.amount) * draws.rand()).to(x.dtype).view(-1, *[1] * (x.dim() - 1))
        return (x + sigma * draws.randn(*x.shape[1:]).to(x.dtype)).clamp(0, 1), None
    if term.kind == "masking":
        m = _exact_fraction(x, term.amount, draws)
        return x.masked_fill(m, 0.0), m
    if term.kind == "saltpepper":
        m = _exact_fraction(x, term.amount, draws)
        salt = (draws.rand(*x.shape[1:]) < 0.5).to(x.dtype)
        return torch.where(m, salt, x), m
    H, W = _spatial(x, term)
    if term.kind == "occlude":
        h, w = term.size
        if h > H or w > W:
            raise ConfigError(f"corruption {term.text()}: a {h}x{w} occluder does not fit {H}x{W} images")
        u = draws.rand(2)
        top = (u[:, 0] * (H - h + 1)).long().clamp_max(H - h)[:, None]
        left = (u[:, 1] * (W - w + 1)).long().clamp_max(W - w)[:, None]
        rows = torch.arange(H, device=x.device)[None, :]
        cols = torch.arange(W, device=x.device)[None, :]
        inside = ((rows >= top) & (rows < top + h))[:, :, None] & ((cols >= left) & (cols < left + w))[:, None, :]
    else:  # a user's mask
        masks = load_masks(term.path)
        if tuple(masks.shape[1:]) != (H, W):
            raise DataError(f"the masks in {term.path} are {masks.shape[1]}x{masks.shape[2]} but the images are {H}x{W}")
        pick = (draws.rand() * len(masks)).long().clamp_max(len(masks) - 1)
        inside = masks.to(x.device)[pick]
    m = inside[:, None, :, :].expand_as(x)
    return x.masked_fill(m, 0.0), m


class Corruption:
    """A corruption as a Python object: `Corruption("masking:0.3")(x, draws)` -> Corrupted.

    emphasis: the loss weight of destroyed inputs relative to the others (1: plain denoising; Vincent et al. 2010,
    Sec. 4.3, "emphasised denoising" with alpha = emphasis, beta = 1)."""

    def __init__(self, spec: CorruptionSpec | str, emphasis: float = 1.0) -> None:
        parsed = parse_corruption(spec) if isinstance(spec, str) else spec
        if parsed is None:
            raise ConfigError("an empty corruption spec corrupts nothing")
        if not emphasis > 0:
            raise ConfigError(f"emphasis must be > 0, got {emphasis}")
        self.spec, self.emphasis = parsed, float(emphasis)

    def __repr__(self) -> str:
        return f"Corruption({self.spec.text()!r}, emphasis={self.emphasis:g})"

    def __call__(self, x: Tensor, draws: Draws) -> Corrupted:
        missing = holes = None
        for term in self.spec.terms:
            x, m = _apply_term(term, x, draws)
            if m is not None:
                missing = m if missing is None else missing | m
                if term.known_positions:
                    holes = m if holes is None else holes | m
        return Corrupted(x, missing, holes)

    def check(self, shape: tuple[int, ...]) -> None:
        """A one-line error now, before training, when the terms cannot apply to examples of this shape."""
        self(torch.full((1, *shape), 0.5), SeededDraws(0, 1))


def inpaint(reconstruct: Callable[[Tensor], Tensor], x: Tensor, holes: Tensor, iterations: int = 1) -> Tensor:
    """Fill the holes of x with the model's output, keeping every known input; iterations > 1 feed the filled
    image back in, so later passes see the first guess instead of zeros."""
    if iterations < 1:
        raise ConfigError(f"inpainting needs at least one pass, got {iterations}")
    current = x.masked_fill(holes, 0.0)
    for _ in range(iterations):
        current = torch.where(holes, reconstruct(current).to(x.dtype), x)
    return current
