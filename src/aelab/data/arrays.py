"""A .npy array as a Dataset, with optional labels from a sibling `<stem>.labels.npy`.

Accepted shapes: (N, D) -> (N, 1, 1, D); (N, H, W) -> (N, 1, H, W); (N, C, H, W) with C in
(1, 3); (N, H, W, C) with C in (1, 3) -> NCHW. uint8 is divided by 255; any other data must
already be finite and within [0, 1]. Pickled (object) arrays are refused.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .dataset import Dataset, check_split, finish, split_indices

__all__ = ["load_npy", "labels_path_for"]


def labels_path_for(path: Path) -> Path:
    """The sibling labels file of an array file: data.npy -> data.labels.npy."""
    return path.with_name(f"{path.stem}.labels.npy")


def _load(path: Path, what: str) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except ValueError as e:
        if "allow_pickle" in str(e) or "object" in str(e).lower():
            raise DataError(f"{path}: object (pickled) arrays are refused; save a numeric {what} array") from None
        raise DataError(f"{path}: not a valid .npy file ({e})".replace("\n", " ")) from None
    except (OSError, EOFError, zlib.error, MemoryError) as e:
        raise DataError(f"{path}: cannot read .npy file ({type(e).__name__}: {e})".replace("\n", " ")) from None
    if not isinstance(arr, np.ndarray):  # np.load of an .npz gives an NpzFile
        raise DataError(f"{path}: expected a single .npy array, found {type(arr).__name__}")
    return arr


def _to_nchw(arr: np.ndarray, path: Path) -> np.ndarray:
    s = arr.shape
    if arr.ndim == 2:
        return arr.reshape(s[0], 1, 1, s[1])
    if arr.ndim == 3:
        return arr[:, None]
    if arr.ndim == 4:
        if s[1] in (1, 3):
            return arr
        if s[3] in (1, 3):
            return arr.transpose(0, 3, 1, 2)
    raise DataError(
        f"{path}: array shape {s} not understood; expected (N, D), (N, H, W), (N, C, H, W) or (N, H, W, C) with C 1 or 3"
    )


def _to_unit_float(arr: np.ndarray, path: Path) -> np.ndarray:
    kind = arr.dtype.kind
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / np.float32(255.0)
    if kind == "b":
        return arr.astype(np.float32)
    if kind not in "uif":
        raise DataError(f"{path}: dtype {arr.dtype} not supported; expected uint8, or numbers in [0, 1]")
    if kind == "f" and not np.all(np.isfinite(arr)):
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise DataError(f"{path}: {bad} value(s) are NaN or infinite; data must be finite and in [0, 1]")
    lo, hi = arr.min(), arr.max()
    if lo < 0 or hi > 1:
        raise DataError(
            f"{path}: values range from {lo:g} to {hi:g}; {arr.dtype} data must be scaled to [0, 1] (uint8 is divided by 255)"
        )
    return arr.astype(np.float32)


def _load_labels(path: Path, n: int) -> np.ndarray | None:
    lp = labels_path_for(path)
    if not lp.is_file():
        return None
    y = _load(lp, "integer labels")
    if y.ndim != 1 or y.dtype.kind not in "ui":
        raise DataError(f"{lp}: expected integer labels of shape (N,), found {y.dtype} {y.shape}")
    if len(y) != n:
        raise DataError(f"{lp}: {len(y)} labels for {n} samples in {path.name}")
    if len(y) and y.min() < 0:
        raise DataError(f"{lp}: labels must be >= 0, found {y.min()}")
    return y.astype(np.int64)


def load_npy(
    path: str | os.PathLike,
    split: str = "train",
    image_size: tuple[int, int] | None = None,
    grayscale: bool | None = None,
    name: str | None = None,
) -> Dataset:
    """A .npy array as (N, C, H, W) in [0, 1]; 90/10 seeded split; labels from <stem>.labels.npy."""
    split = check_split(split)
    path = Path(path)
    arr = _load(path, "image")
    if arr.size == 0:
        raise DataError(f"{path}: empty array of shape {arr.shape}")
    x = _to_unit_float(_to_nchw(arr, path), path)
    y = _load_labels(path, len(x))
    idx = split_indices(len(x), split)
    xs = torch.from_numpy(np.ascontiguousarray(x[idx]))
    ys = torch.from_numpy(y[idx]) if y is not None else None
    return finish(xs, ys, name if name is not None else str(path), None, split, image_size, grayscale)
