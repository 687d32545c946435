"""Datasets by name: `load_dataset("mnist")`, a folder of images, or a .npy file; and the list of them."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError
from .arrays import load_npy
from .dataset import Dataset, check_image_size, check_split
from .digits import DIGITS_TOTAL, DIGITS_TRAIN, load_digits
from .images import load_image_folder
from .mnist import IDX_DATASETS, SIZES, load_idx_dataset, locate

__all__ = ["load_dataset", "dataset_names", "describe_datasets"]


def dataset_names() -> list[str]:
    """Names of the built-in datasets, sorted."""
    return sorted(["digits", *IDX_DATASETS])


def _canonical(name: str) -> str | None:
    key = name.strip().lower().replace("_", "-")
    if key in ("fashion", "fashionmnist"):
        key = "fashion-mnist"
    return key if key in dataset_names() else None


def load_dataset(
    name: str,
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    image_size: tuple[int, int] | None = None,
    grayscale: bool | None = None,
) -> Dataset:
    """Load a dataset by name (digits, mnist, fashion-mnist) or path (image folder, .npy file).

    split is "train", "test" or "all". A built-in name wins over a folder of the same name in the
    working directory (write ./mnist for the folder). image_size (H, W) resizes; grayscale=True/False
    forces 1 or 3 channels.
    """
    split = check_split(split)
    size = check_image_size(image_size)
    name = os.fspath(name)
    key = _canonical(name)
    if key == "digits":
        return load_digits(split, size, grayscale)
    if key in IDX_DATASETS:
        return load_idx_dataset(key, split, data_dir, size, grayscale)
    path = Path(name).expanduser()
    if path.is_dir():
        return load_image_folder(path, split, size, grayscale, name=name)
    if path.is_file():
        if path.suffix.lower() == ".npy":
            return load_npy(path, split, size, grayscale, name=name)
        raise DataError(f"{name!r} is a file but not a .npy array; give a folder of images or a .npy file")
    known = ", ".join(dataset_names())
    raise DataError(f"unknown dataset {name!r}; known: {known}, or a folder of images / a .npy file")


def describe_datasets(data_dir: str | os.PathLike | None = None) -> list[dict]:
    """One dict per built-in dataset: name, description, available, location, shape (C,H,W), train, test."""
    rows = [
        {
            "name": "digits",
            "description": "scikit-learn's 8x8 handwritten digits 0-9 (embedded, no download)",
            "available": True,
            "location": None,
            "shape": (1, 8, 8),
            "train": DIGITS_TRAIN,
            "test": DIGITS_TOTAL - DIGITS_TRAIN,
        }
    ]
    for name, info in sorted(IDX_DATASETS.items()):
        try:
            files = locate(name, data_dir, "all")
            location: str | None = str(next(iter(files.values())).parent)
        except DataError:
            location = None
        rows.append(
            {
                "name": name,
                "description": info["description"],
                "available": location is not None,
                "location": location,
                "shape": (1, 28, 28),
                "train": SIZES["train"],
                "test": SIZES["test"],
            }
        )
    return sorted(rows, key=lambda r: r["name"])

