"""scikit-learn's embedded 8x8 digits (1797 images): the default dataset, needs no download.

The images are read from the CSV file that `sklearn.datasets.load_digits()` itself parses, without
importing scikit-learn (which takes seconds); if that file cannot be found, load_digits() is used.
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .dataset import Dataset, check_split, check_val_fraction, finish, refuse_empty_test, split_indices
from .registry import register_dataset

__all__ = ["load_digits", "DIGITS_TRAIN", "DIGITS_TOTAL"]

DIGITS_TOTAL = 1797
DIGITS_TRAIN = 1500
_SEED = 0


def _read_embedded_csv() -> np.ndarray | None:
    """scikit-learn's datasets/data/digits.csv.gz (64 pixels then the label per row), or None."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.float64)
    except (OSError, ValueError, EOFError):
        return None
    ok = table.shape == (DIGITS_TOTAL, 65) and table.min() >= 0 and table[:, :-1].max() <= 16
    return table if ok else None


@lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 images (float32, /16) and labels (int64), read once from scikit-learn."""
    table = _read_embedded_csv()
    if table is not None:  # the file load_digits() parses, read without importing scikit-learn (~seconds)
        data, target = table[:, :-1].reshape(-1, 8, 8), table[:, -1]
    else:
        try:
            from sklearn.datasets import load_digits as _sk_load_digits

            bunch = _sk_load_digits()
        except Exception as e:  # an sklearn install without its data files
            raise DataError(f"cannot load scikit-learn's digits ({type(e).__name__}: {e})") from None
        data, target = bunch.images, bunch.target
    images = np.asarray(data, dtype=np.float32) / np.float32(16.0)
    labels = np.asarray(target, dtype=np.int64)
    if images.shape != (DIGITS_TOTAL, 8, 8):
        raise DataError(f"scikit-learn's digits have shape {images.shape}, expected ({DIGITS_TOTAL}, 8, 8)")
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def load_digits(
    split: str = "train",
    image_size: tuple[int, int] | None = None,
    grayscale: bool | None = None,
    val_fraction: float | None = None,
) -> Dataset:
    """Digits as (N, 1, 8, 8) in [0, 1]; train = first 1500 of a seed-0 permutation, test = other 297.

    val_fraction holds out that share instead (the same permutation, so train is still its start);
    None keeps the 1500/297 split. Dataset.index is the row in scikit-learn's load_digits().
    """
    split = check_split(split)
    val_fraction = check_val_fraction(val_fraction)
    refuse_empty_test("digits", split, val_fraction)
    images, labels = _digits_arrays()
    if split == "all":
        idx = np.arange(DIGITS_TOTAL, dtype=np.int64)
    elif val_fraction is None:
        perm = np.random.default_rng(_SEED).permutation(DIGITS_TOTAL).astype(np.int64)
        idx = perm[:DIGITS_TRAIN] if split == "train" else perm[DIGITS_TRAIN:]
    else:  # split_indices draws the same seed-0 permutation, cut at the asked share
        idx = split_indices(DIGITS_TOTAL, split, _SEED, val_fraction)
    x = torch.from_numpy(np.ascontiguousarray(images[idx])).unsqueeze(1)
    y = torch.from_numpy(labels[idx])
    return finish(x, y, "digits", [str(i) for i in range(10)], split, image_size, grayscale, index=idx)


@register_dataset(
    "digits",
    description="scikit-learn's 8x8 handwritten digits 0-9 (embedded, no download)",
    shape=(1, 8, 8),
    train=DIGITS_TRAIN,
    test=DIGITS_TOTAL - DIGITS_TRAIN,
)
def _load(
    split: str,
    data_dir: str | os.PathLike | None,
    image_size: tuple[int, int] | None,
    grayscale: bool | None,
    val_fraction: float | None = None,
) -> Dataset:
    """The registry's loader: digits ignore data_dir (they ship with scikit-learn)."""
    return load_digits(split, image_size, grayscale, val_fraction)
