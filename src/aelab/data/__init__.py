"""Datasets as tensors: images in [0, 1], shape (N, C, H, W), or text as word counts (N, V); optional labels.

Registered names: digits (embedded, from scikit-learn), mnist, fashion-mnist (IDX files found on
disk, or downloaded with `aelab data fetch`), 20newsgroups (text, found on disk); or the path of a
folder of images, a folder of labelled .txt files, a .npy file or a .tsv text table.
A new named dataset is one module calling `register_dataset`, imported below.
"""

# Each of these registers its dataset at import; the order does not matter.
from . import digits, fashion_mnist, lines, mnist, text  # noqa: F401
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
from .text import build_vocabulary, count_words, read_vocabulary, tokenize, write_vocabulary

__all__ = [
    "Dataset",
    "DatasetSource",
    "binarize",
    "build_vocabulary",
    "count_words",
    "load_dataset",
    "dataset_names",
    "dataset_source",
    "data_search_dirs",
    "describe_datasets",
    "fetch",
    "read_idx",
    "read_image",
    "read_vocabulary",
    "register_dataset",
    "tokenize",
    "unregister_dataset",
    "write_idx",
    "write_vocabulary",
]
