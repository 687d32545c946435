"""A .npy array as a Dataset, with optional labels from a sibling `<stem>.labels.npy`.

Accepted shapes: (N, D) -> (N, 1, 1, D); (N, H, W) -> (N, 1, H, W); (N, C, H, W) with C in
(1, 3); (N, H, W, C) with C in (1, 3) -> NCHW. uint8 is divided by 255; any other data must
already be finite and within [0, 1]. Pickled (object) arrays are refused. The file is
memory-mapped, so only the split's rows are held in memory (as float32), and a split that does
not fit is a one-line error with the size it needs.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .dataset import (
    Dataset,
    allocate,
    check_split_args,
    finish,
    format_bytes,
    refuse_empty_test,
    split_indices,
)

from .stream import StreamedImages, streams

__all__ = ["load_npy", "labels_path_for"]

_CHUNK_BYTES = 64 * 2**20  # the block size for checks and copies of a mapped file


def labels_path_for(path: Path) -> Path:
    """The sibling labels file of an array file: data.npy -> data.labels.npy."""
    return path.with_name(f"{path.stem}.labels.npy")


def _load(path: Path, what: str, mmap: bool = False) -> np.ndarray:
    """The array in a .npy file; mmap=True maps it instead of reading it (nothing is read until used)."""
    try:
        try:
            arr = np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
        except OSError:
            if not mmap or not path.is_file():
                raise
            arr = np.load(path, allow_pickle=False)  # a file system that cannot map files: read it whole
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except ValueError as e:
        if "allow_pickle" in str(e) or "object" in str(e).lower():
            raise DataError(f"{path}: object (pickled) arrays are refused; save a numeric {what} array") from None
        if "mmap length" in str(e):
            raise DataError(f"{path}: truncated .npy file (shorter than its header says)") from None
        raise DataError(f"{path}: not a valid .npy file ({e})".replace("\n", " ")) from None
    except MemoryError:
        size = format_bytes(path.stat().st_size)
        raise DataError(f"{path}: reading this {size} .npy file needs more memory than is free") from None
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read .npy file ({type(e).__name__}: {e})".replace("\n", " ")) from None
    if not isinstance(arr, np.ndarray):  # np.load of an .npz gives an NpzFile
        raise DataError(f"{path}: expected a single .npy array, found {type(arr).__name__}")
    return arr


def _to_nchw(arr: np.ndarray, path: Path) -> np.ndarray:
    """A view of arr as (N, C, H, W); nothing is copied, so a mapped file stays on disk."""
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


def _rows_per_block(arr: np.ndarray) -> int:
    """Rows in a ~64 MiB block: whole-array temporaries of a file larger than memory would not fit."""
    row_bytes = arr.itemsize * int(np.prod(arr.shape[1:], dtype=np.int64))
    return max(1, _CHUNK_BYTES // max(1, row_bytes))


def _check_values(arr: np.ndarray, path: Path) -> None:
    """Refuse a dtype, or values that are not finite numbers in [0, 1] (uint8 and bool always pass)."""
    kind = arr.dtype.kind
    if arr.dtype == np.uint8 or kind == "b":
        return
    if kind not in "uif":
        raise DataError(f"{path}: dtype {arr.dtype} not supported; expected uint8, or numbers in [0, 1]")
    step = _rows_per_block(arr)
    bad, lo, hi = 0, None, None
    for a in range(0, arr.shape[0], step):
        block = np.asarray(arr[a : a + step])
        if kind == "f":
            bad += int(block.size - np.count_nonzero(np.isfinite(block)))
            if bad:  # the message counts them all, but min/max mean nothing any more
                continue
        b_lo, b_hi = block.min(), block.max()
        lo = b_lo if lo is None else min(lo, b_lo)
        hi = b_hi if hi is None else max(hi, b_hi)
    if bad:
        raise DataError(f"{path}: {bad} value(s) are NaN or infinite; data must be finite and in [0, 1]")
    if lo < 0 or hi > 1:
        raise DataError(
            f"{path}: values range from {lo:g} to {hi:g}; {arr.dtype} data must be scaled to [0, 1] (uint8 is divided by 255)"
        )


def _take_unit_float(arr: np.ndarray, idx: np.ndarray, label: str) -> np.ndarray:
    """Rows idx of an (N, C, H, W) view as one new C-contiguous float32 array in [0, 1] (uint8 / 255).

    Filled block by block into one allocation, so the peak is the split as float32 plus a block;
    the numbers are those of `arr[idx].astype(np.float32) / np.float32(255)`, bit for bit.
    """
    shape = (len(idx), *arr.shape[1:])
    out = allocate(label, shape, f"{len(idx)} samples of {'x'.join(map(str, arr.shape[1:]))}")
    step = _rows_per_block(arr)
    for a in range(0, len(idx), step):
        out[a : a + step] = arr[idx[a : a + step]]
        if arr.dtype == np.uint8:
            out[a : a + step] /= np.float32(255.0)
    return out


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


def _streamed(path: Path, x: np.ndarray, y: np.ndarray | None, idx: np.ndarray, label: str,
              image_size: tuple[int, int] | None, grayscale: bool | None) -> Dataset:
    """The split left on disk; resizing or changing channels would need it in memory, so they are refused."""
    c, h, w = x.shape[1:]
    if (image_size is not None and tuple(image_size) != (h, w)) or (grayscale is True and c == 3) \
            or (grayscale is False and c == 1):
        raise DataError(f"{label}: {len(idx)} images are read from disk as training runs (more than half this "
                        f"machine's memory as float32), so --image-size and --grayscale cannot convert them; "
                        f"save the file converted")
    return Dataset(x=StreamedImages(path, idx), y=torch.from_numpy(y[idx]) if y is not None else None, name=label,
                   index=idx)


def load_npy(
    path: str | os.PathLike,
    split: str = "train",
    image_size: tuple[int, int] | None = None,
    grayscale: bool | None = None,
    name: str | None = None,
    val_fraction: float | None = None,
    stream: bool | None = None,
) -> Dataset:
    """A .npy array as (N, C, H, W) in [0, 1]; a seeded split holding out val_fraction (None: 10%);
    labels from <stem>.labels.npy; Dataset.index is each row's row in the file.

    stream=True leaves the training split on disk, read batch by batch (data/stream.py); None does so when it would
    take more than half of this machine's memory as float32. A test split is always read into memory."""
    split, val_fraction, label = check_split_args(path, split, name, val_fraction)
    refuse_empty_test(label, split, val_fraction)
    path = Path(path)
    arr = _load(path, "image", mmap=True)
    if arr.size == 0:
        raise DataError(f"{path}: empty array of shape {arr.shape}")
    x = _to_nchw(arr, path)
    _check_values(x, path)
    y = _load_labels(path, len(x))
    idx = split_indices(len(x), split, val_fraction=val_fraction)
    if split != "test" and streams(stream, len(idx), x.shape[1:]):
        return _streamed(path, x, y, idx, label, image_size, grayscale)
    xs = torch.from_numpy(_take_unit_float(x, idx, label))
    ys = torch.from_numpy(y[idx]) if y is not None else None
    return finish(xs, ys, label, None, split, image_size, grayscale, index=idx)
