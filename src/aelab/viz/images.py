"""Image grids and PNG encoding with Pillow only (no torchvision); `load_image` is the data layer's decoder."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..data.images import read_image as load_image  # one decoder for files, shared with the folder loader
from ..errors import ConfigError, DataError
from ..fsio import atomic_write_bytes

__all__ = ["make_grid", "save_image", "png_bytes", "load_image", "to_uint8"]


def _as_float_array(images: Tensor | np.ndarray) -> np.ndarray:
    """(N, C, H, W) float32 array in [0,1] from a tensor or array; a single (C, H, W) image gets N=1."""
    if isinstance(images, Tensor):
        arr = images.detach().to("cpu", torch.float32).numpy()
    else:
        arr = np.asarray(images)
        if arr.dtype == np.uint8:
            arr = arr.astype(np.float32) / 255.0
        else:
            arr = arr.astype(np.float32, copy=False)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[1] not in (1, 3):
        raise DataError(f"images must be shaped (N, C, H, W) with C = 1 or 3, got {tuple(arr.shape)}")
    if arr.shape[0] == 0:
        raise DataError("no images to draw")
    return arr


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Floats in [0,1] to uint8 pixels (clipped, NaN -> 0, rounded)."""
    x = np.nan_to_num(np.asarray(x, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def make_grid(
    images: Tensor | np.ndarray,
    nrow: int = 8,
    pad: int = 2,
    pad_value: float = 1.0,
    scale: int = 1,
) -> np.ndarray:
    """Tile (N, C, H, W) images in [0,1] into one (H', W', C) uint8 picture, `nrow` images per row.

    Each image is first enlarged `scale` times (nearest neighbour); `pad` pixels of
    `pad_value` separate the images and surround the grid, so the result is
    (rows * (H*scale + pad) + pad, cols * (W*scale + pad) + pad, C) with
    cols = min(nrow, N) and rows = ceil(N / cols). Unused cells are `pad_value`.
    """
    if int(nrow) < 1 or int(scale) < 1 or int(pad) < 0:
        raise ConfigError(f"make_grid needs nrow >= 1, scale >= 1, pad >= 0 (got {nrow}, {scale}, {pad})")
    nrow, pad, scale = int(nrow), int(pad), int(scale)
    arr = to_uint8(_as_float_array(images))
    n, c, h, w = arr.shape
    if scale > 1:
        arr = arr.repeat(scale, axis=2).repeat(scale, axis=3)
        h, w = h * scale, w * scale
    cols = min(nrow, n)
    rows = -(-n // cols)
    fill = to_uint8(np.float32(pad_value))
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), fill, dtype=np.uint8)
    hwc = arr.transpose(0, 2, 3, 1)
    for i in range(n):
        r, k = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + k * (w + pad)
        grid[top : top + h, left : left + w] = hwc[i]
    return grid


def _to_pil(array_or_grid: Tensor | np.ndarray, nrow: int = 8, scale: int = 1, pad: int = 2) -> Image.Image:
    """A Pillow image from a uint8 (H, W[, C]) picture, or from float (C, H, W) / (N, C, H, W) images."""
    if isinstance(array_or_grid, np.ndarray) and array_or_grid.dtype == np.uint8 and array_or_grid.ndim in (2, 3):
        pic = array_or_grid
        if pic.ndim == 3 and pic.shape[2] not in (1, 3, 4):
            raise DataError(f"a uint8 picture must be (H, W) or (H, W, C) with C in 1, 3, 4; got {pic.shape}")
    else:
        pic = make_grid(array_or_grid, nrow=nrow, pad=pad, scale=scale)
        if pic.shape[0] == 0:
            raise DataError("empty picture")
    if pic.ndim == 3 and pic.shape[2] == 1:
        pic = pic[:, :, 0]
    return Image.fromarray(np.ascontiguousarray(pic))


def png_bytes(images: Tensor | np.ndarray, nrow: int = 8, scale: int = 1, pad: int = 2) -> bytes:
    """PNG-encoded bytes of a grid of (N, C, H, W) images in [0,1] (or of a uint8 (H, W, C) picture)."""
    buf = io.BytesIO()
    _to_pil(images, nrow=nrow, scale=scale, pad=pad).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def save_image(
    array_or_grid: Tensor | np.ndarray, path: str | os.PathLike[str], nrow: int = 8, scale: int = 1, pad: int = 2
) -> Path:
    """Write a PNG: a uint8 (H, W[, C]) picture as is, float (N, C, H, W) images in [0,1] as a grid."""
    return atomic_write_bytes(path, png_bytes(array_or_grid, nrow=nrow, scale=scale, pad=pad))
