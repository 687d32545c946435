"""Datasets as tensors in [0, 1], shape (N, C, H, W), with optional labels.

Registered names: digits (embedded, from scikit-learn), mnist, fashion-mnist (IDX files found on
disk, or downloaded with `aelab data fetch`); or the path of a folder of images or a .npy file.
A new named dataset is one module calling `register_dataset`, imported below.
"""

# Each of these registers its dataset at import; the order does not matter.
from . import digits, fashion_mnist, mnist  # noqa: F401
from .catalog import load_dataset
from .dataset import Dataset, binarize
from .fetch import fetch
from .idx import read_idx, write_idx
from .images import read_image
from .paths import data_search_dirs
from .registry import (
    DatasetSource,
    dataset_names,
    dataset_source,
    describe_datasets,
    register_dataset,
    unregister_dataset,
)

__all__ = [
    "Dataset",
    "DatasetSource",
    "binarize",
    "load_dataset",
    "dataset_names",
    "dataset_source",
    "data_search_dirs",
    "describe_datasets",
    "fetch",
    "read_idx",
    "read_image",
    "register_dataset",
    "unregister_dataset",
    "write_idx",
]
