"""Datasets stored as the four standard MNIST IDX files (raw or .gz), found on disk; and MNIST itself.

Search order: data_dir, $AELAB_DATA, ~/.cache/aelab; in each base folder, `base/<name>/`
first and then `base/` itself. Files are never downloaded here (see fetch.py).
`register_idx_dataset` makes another dataset in this layout (see fashion_mnist.py) loadable by name.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .dataset import Dataset, check_split, finish
from .fetch import CHECKS
from .idx import read_idx
from .paths import data_folders
from .registry import register_dataset

__all__ = ["load_idx_dataset", "locate", "register_idx_dataset", "SIZES"]

SIZES = {"train": 60000, "test": 10000}
_PREFIX = {"train": "train", "test": "t10k"}


def _needed(split: str) -> list[str]:
    parts = ["train", "test"] if split == "all" else [split]
    return [f"{_PREFIX[p]}-{kind}" for p in parts for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")]


def _find_file(folder: Path, stem: str) -> Path | None:
    for p in (folder / stem, folder / f"{stem}.gz"):
        if p.is_file():
            return p
    return None


def _label_digest(path: Path, target: str) -> str | None:
    """SHA-256 of a labels file ("gz": the file; "content": its uncompressed bytes), None if unreadable."""
    try:
        if target == "gz":
            return hashlib.sha256(path.read_bytes()).hexdigest() if path.name.endswith(".gz") else None
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                data = f.read(2**20)  # label files are ~60 kB
        else:
            with open(path, "rb") as f:
                data = f.read(2**20)
        return hashlib.sha256(data).hexdigest()
    except (OSError, EOFError, zlib.error):
        return None


def _is_other_dataset(name: str, files: dict[str, Path]) -> str | None:
    """Another dataset's name if these label files are exactly its published ones, else None.

    Guards against `--data-dir shared/data/mnist` silently serving MNIST as Fashion-MNIST.
    """
    for other in sorted(CHECKS):
        if other == name:
            continue
        for stem, path in files.items():
            if "labels" not in stem:
                continue
            for check in CHECKS[other].get(stem, ()):
                if check.algo == "sha256" and _label_digest(path, check.target) == check.hexdigest:
                    return other
    return None


def locate(name: str, data_dir: str | os.PathLike | None = None, split: str = "all") -> dict[str, Path]:
    """Paths of the IDX files `split` needs (file name without .gz -> path), or DataError."""
    split = check_split(split)
    needed = _needed(split)
    looked: list[str] = []
    partial: list[str] = []
    for folder in data_folders(name, data_dir, looked):
        files = {stem: p for stem in needed if (p := _find_file(folder, stem)) is not None}
        if len(files) == len(needed):
            other = _is_other_dataset(name, files)
            if other is None:
                return files
            partial.append(f"{folder} holds {other}, not {name}")
        elif files:
            missing = ", ".join(s for s in needed if s not in files)
            partial.append(f"{folder} lacks {missing}")
    wanted = ", ".join(f"{s}[.gz]" for s in needed)
    found = f" ({'; '.join(partial)})" if partial else ""
    raise DataError(
        f"{name} not found: missing {wanted}; looked in {', '.join(looked)}{found}; "
        f"run `aelab data fetch {name}` or put the files in one of those folders"
    )


def _load_part(name: str, n_classes: int, images_path: Path, labels_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"{images_path}: expected uint8 images of shape (N, H, W), found {images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.dtype.kind not in "ui":
        raise DataError(f"{labels_path}: expected integer labels of shape (N,), found {labels.dtype} {labels.shape}")
    if len(labels) != len(images):
        raise DataError(f"{name}: {labels_path.name} has {len(labels)} labels but {images_path.name} has {len(images)} images")
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        raise DataError(f"{labels_path}: labels range {labels.min()}..{labels.max()}, expected 0..{n_classes - 1}")
    x = torch.from_numpy(images).unsqueeze(1).to(torch.float32).div_(255.0)
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


def load_idx_dataset(
    name: str,
    classes: list[str],
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    image_size: tuple[int, int] | None = None,
    grayscale: bool | None = None,
    train_size: int = SIZES["train"],
) -> Dataset:
    """An IDX dataset such as MNIST: x (N, 1, H, W) = uint8 / 255, y int64 in classes; "all" is train then test.

    Dataset.index is the row in the train file, and train_size + row for the test file (MNIST:
    t10k row i is 60000 + i), the same in every split, so codes of any split join back.
    """
    split = check_split(split)
    files = locate(name, data_dir, split)
    parts = ["train", "test"] if split == "all" else [split]
    xs, ys, idxs = [], [], []
    for part in parts:
        prefix = _PREFIX[part]
        x, y = _load_part(name, len(classes), files[f"{prefix}-images-idx3-ubyte"], files[f"{prefix}-labels-idx1-ubyte"])
        xs.append(x)
        ys.append(y)
        idxs.append(np.arange(len(x), dtype=np.int64) + (train_size if part == "test" else 0))
    if len(xs) > 1 and xs[0].shape[1:] != xs[1].shape[1:]:
        raise DataError(f"{name}: train images are {tuple(xs[0].shape[2:])} but test images {tuple(xs[1].shape[2:])}")
    x = xs[0] if len(xs) == 1 else torch.cat(xs)
    y = ys[0] if len(ys) == 1 else torch.cat(ys)
    return finish(x, y, name, list(classes), split, image_size, grayscale, index=np.concatenate(idxs))


def register_idx_dataset(
    name: str,
    description: str,
    classes: list[str],
    aliases: tuple[str, ...] = (),
    shape: tuple[int, int, int] = (1, 28, 28),
    train: int = SIZES["train"],
    test: int = SIZES["test"],
) -> None:
    """Make a dataset stored as the four MNIST-layout IDX files loadable by name and listed with its location."""
    classes = list(classes)

    def load(
        split: str, data_dir: str | os.PathLike | None, image_size: tuple[int, int] | None, grayscale: bool | None
    ) -> Dataset:
        # no val_fraction parameter: these sets have official test files, so the registry refuses one
        return load_idx_dataset(name, classes, split, data_dir, image_size, grayscale, train)

    def probe(data_dir: str | os.PathLike | None) -> tuple[bool, str | None]:
        try:
            files = locate(name, data_dir, "all")
        except DataError:
            return False, None
        return True, str(next(iter(files.values())).parent)

    register_dataset(
        name, description=description, loader=load, aliases=aliases, shape=shape, train=train, test=test, probe=probe
    )


register_idx_dataset(
    "mnist",
    "handwritten digits 0-9, 28x28 grayscale (LeCun et al.)",
    classes=[str(i) for i in range(10)],
)

