"""Datasets by name (`load_dataset("mnist")`, from the registry), a folder of images, or a .npy file."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError
from .arrays import load_npy
from .dataset import Dataset, check_image_size, check_split, check_val_fraction
from .images import load_image_folder
from .registry import dataset_names, describe_datasets, find_dataset

__all__ = ["load_dataset", "dataset_names", "describe_datasets"]


def load_dataset(
    name: str | os.PathLike,
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    image_size: int | tuple[int, int] | list[int] | None = None,
    grayscale: bool | None = None,
    *,
    val_fraction: float | None = None,
) -> Dataset:
    """Load a dataset by registered name (digits, mnist, fashion-mnist, ...) or path (image folder, .npy file).

    split is "train", "test" or "all". A registered name wins over a folder of the same name in the
    working directory (write ./mnist for the folder). image_size (H, W), [H, W] or N (square)
    resizes; None keeps the data's size (a folder: the first file's, with a warning on stderr when
    other files differ). grayscale=True/False forces 1 or 3 channels.

    val_fraction (0 <= f < 1) is the share held out as the test split; None keeps each data set's
    own split: 10% of a folder or .npy file, 297 of digits' 1797, the official test files of mnist
    and fashion-mnist (which refuse any other value). With 0 the test split is a DataError.
    `load_dataset(name, split, data_dir, **aelab.cli.common.data_options(args))` takes what the CLI
    records. Rows come in the split's seeded order; `Dataset.index` says which source row each is.
    """
    split = check_split(split)
    size = check_image_size(image_size)
    val_fraction = check_val_fraction(val_fraction)
    name = os.fspath(name)
    source = find_dataset(name)
    if source is not None:
        return source.load(split, data_dir, size, grayscale, val_fraction=val_fraction)
    path = Path(name).expanduser()
    if path.is_dir():
        return load_image_folder(path, split, size, grayscale, name=name, val_fraction=val_fraction)
    if path.is_file():
        if path.suffix.lower() == ".npy":
            return load_npy(path, split, size, grayscale, name=name, val_fraction=val_fraction)
        raise DataError(f"{name!r} is a file but not a .npy array; give a folder of images or a .npy file")
    known = ", ".join(dataset_names())
    raise DataError(f"unknown dataset {name!r}; known: {known}, or a folder of images / a .npy file")
