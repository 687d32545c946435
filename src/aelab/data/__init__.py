"""Datasets as tensors in [0, 1], shape (N, C, H, W), with optional labels.

Built-in names: digits (embedded, from scikit-learn), mnist, fashion-mnist (IDX files found on
disk, or downloaded with `aelab data fetch`); or the path of a folder of images or a .npy file.
"""

from .catalog import dataset_names, describe_datasets, load_dataset
from .dataset import Dataset, binarize
from .fetch import fetch
from .idx import read_idx, write_idx
from .paths import data_search_dirs

__all__ = [
    "Dataset",
    "binarize",
    "load_dataset",
    "dataset_names",
    "data_search_dirs",
    "describe_datasets",
    "fetch",
    "read_idx",
    "write_idx",
]
