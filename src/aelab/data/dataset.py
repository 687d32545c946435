"""The in-memory Dataset every loader returns, and the split / resize / colour steps they share."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import DataError

__all__ = ["Dataset", "SPLITS", "check_split", "split_indices", "check_image_size", "finish"]

SPLITS = ("train", "test", "all")
SPLIT_SEED = 0
TRAIN_FRACTION_NUM, TRAIN_FRACTION_DEN = 9, 10  # 90% train


@dataclass
class Dataset:
    """Images as one float32 tensor (N, C, H, W) in [0, 1], with optional int64 labels (N,)."""

    x: torch.Tensor
    y: torch.Tensor | None
    name: str
    classes: list[str] | None = None

    def __len__(self) -> int:
        """Number of samples."""
        return int(self.x.shape[0])


def check_split(split: str) -> str:
    """The split name, lower-cased, or DataError if it is not train, test or all."""
    s = str(split).lower()
    if s not in SPLITS:
        raise DataError(f"unknown split {split!r}; expected train, test or all")
    return s


def split_indices(n: int, split: str, seed: int = SPLIT_SEED) -> np.ndarray:
    """Indices of `split` in a fixed seeded 90/10 train/test split of n samples ("all": 0..n-1).

    The train part is the first 90% of a seed-0 permutation (in permutation order), the test part
    the rest; with n >= 2 the test part has at least one sample.
    """
    split = check_split(split)
    if split == "all":
        return np.arange(n)
    perm = np.random.default_rng(seed).permutation(n)
    n_train = n * TRAIN_FRACTION_NUM // TRAIN_FRACTION_DEN
    n_train = n if n < 2 else max(1, min(n - 1, n_train))
    return perm[:n_train] if split == "train" else perm[n_train:]


def check_image_size(image_size: int | tuple[int, int] | list[int] | None) -> tuple[int, int] | None:
    """image_size as (H, W) positive ints, or None; an int means a square."""
    if image_size is None:
        return None
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        image_size = (int(image_size), int(image_size))
    try:
        h, w = image_size  # type: ignore[misc]
        h, w = int(h), int(w)
        ok = h == image_size[0] and w == image_size[1] and h > 0 and w > 0  # type: ignore[index]
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise DataError(f"image_size must be (height, width) with positive integers, got {image_size!r}")
    return h, w


def to_grayscale(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) -> (N, 1, H, W) with ITU-R 601 luma weights (what Pillow's "L" uses)."""
    w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True).clamp_(0.0, 1.0)


def set_channels(x: torch.Tensor, grayscale: bool | None) -> torch.Tensor:
    """Convert to 1 channel (grayscale=True), 3 channels (False) or leave as is (None)."""
    if grayscale is None:
        return x
    c = x.shape[1]
    if grayscale and c == 3:
        return to_grayscale(x)
    if not grayscale and c == 1:
        return x.expand(-1, 3, -1, -1).contiguous()
    return x


def resize(x: torch.Tensor, size: tuple[int, int] | None) -> torch.Tensor:
    """Bilinear, antialiased resize of (N, C, H, W) to size=(H, W), clamped to [0, 1]."""
    if size is None or tuple(x.shape[-2:]) == tuple(size) or x.shape[0] == 0:
        return x
    out = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    return out.clamp_(0.0, 1.0)


def finish(
    x: torch.Tensor,
    y: torch.Tensor | None,
    name: str,
    classes: list[str] | None,
    split: str,
    image_size: tuple[int, int] | None,
    grayscale: bool | None,
) -> Dataset:
    """Apply channel conversion and resizing, refuse an empty split, and wrap in a Dataset."""
    if x.shape[0] == 0:
        raise DataError(f"{name}: the {split!r} split is empty")
    x = resize(set_channels(x, grayscale), image_size)
    return Dataset(x=x.contiguous(), y=y, name=name, classes=classes)


def binarize(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """A fixed Bernoulli draw of intensities in [0,1] (the seeded test set of 'dynamically binarised MNIST')."""
    g = torch.Generator().manual_seed(seed)
    return torch.bernoulli(x.clamp(0, 1), generator=g)
