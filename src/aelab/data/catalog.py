"""Datasets by name (`load_dataset("mnist")`, from the registry) or path: folders of images or text, .npy, .tsv."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import DataError
from .arrays import load_npy
from .dataset import Dataset, check_image_size, check_split, check_val_fraction
from .images import list_images, load_image_folder
from .patches import DEFAULT_PATCH, DEFAULT_PATCH_COUNT, load_patch_folder, patch_folder_of
from .registry import dataset_names, describe_datasets, find_dataset
from .text import is_text_table, list_text_files, load_text_folder, load_text_table

__all__ = ["load_dataset", "dataset_names", "describe_datasets"]


def load_dataset(
    name: str | os.PathLike,
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    image_size: int | tuple[int, int] | list[int] | None = None,
    grayscale: bool | None = None,
    *,
    val_fraction: float | None = None,
    vocabulary: Sequence[str] | None = None,
    vocab_size: int | None = None,
    patch: int | None = None,
    patch_count: int | None = None,
    patch_split: str | None = None,
    stream: bool | None = None,
) -> Dataset:
    """Load a dataset by registered name (digits, mnist, fashion-mnist, 20newsgroups, ...) or path.

    A path is a folder of images, a folder of .txt files (its sub-folders are the labels; none: unlabelled), a .npy
    file, or a text table (.tsv, .csv, .jsonl, each also .gz; with or without labels). split is "train", "test"
    or "all". A registered name wins over a folder of the same name in the working directory
    (write ./mnist for the folder).

    Images: image_size (H, W), [H, W] or N (square) resizes; None keeps the data's size (a folder:
    the first file's, with a warning on stderr when other files differ). grayscale=True/False
    forces 1 or 3 channels. Text (Dataset.kind "counts", see data/text.py): x holds word counts
    over `vocabulary` when given, else over the training split's `vocab_size` (2000) most frequent
    words; image_size and grayscale are refused.

    `patches:FOLDER` is random patch x patch crops (default 32) of the photos in FOLDER, patch_count of them
    (default 50,000) over all photos, split by photo, or by region of each photo when too few photos are large
    enough for that (one photo), or as patch_split says ("photo", "region"; data/patches.py); patch, patch_count and
    patch_split apply to it alone.

    stream (a .npy file or a folder of images): True leaves the training split on disk, read batch by batch as
    training goes (data/stream.py; a folder is first decoded once into the user's cache, data/folder_cache.py); None
    (the default) does so when it would take more than half of this machine's memory.

    val_fraction (0 <= f < 1) is the share held out as the test split; None keeps each data set's
    own split: 10% of a folder, .npy or .tsv file, 297 of digits' 1797, the official test files of
    mnist, fashion-mnist and 20newsgroups (which refuse any other value). With 0 the test split is
    a DataError. `load_dataset(name, split, data_dir, **aelab.cli.common.data_options(args))` takes
    what the CLI records. Rows come in the split's seeded order; `Dataset.index` says which source
    row each is.
    """
    split = check_split(split)
    size = check_image_size(image_size)
    name = os.fspath(name)
    if stream:
        where = Path(name).expanduser()
        if find_dataset(name) is not None or not (where.suffix.lower() == ".npy" or where.is_dir()):
            here = f" (the registered data set; write ./{name} for the folder here)" if where.is_dir() else ""
            raise DataError(f"stream applies to a .npy file or a folder of images, not to {name!r}{here}")
    val_fraction = check_val_fraction(val_fraction)
    text_options = {"vocabulary": vocabulary, "vocab_size": vocab_size}
    folder = patch_folder_of(name)
    if folder is not None:
        if size is not None:
            raise DataError(f"--image-size does not apply to {name}: patches keep the photos' scale; use --patch N")
        _refuse_text_options(name, text_options)
        return load_patch_folder(folder, split, patch or DEFAULT_PATCH, patch_count or DEFAULT_PATCH_COUNT,
                                 grayscale, val_fraction, name=name, patch_split=patch_split)
    if patch is not None or patch_count is not None or patch_split is not None:
        raise DataError(f"--patch, --patch-count and patch_split apply to photos read as patches "
                        f"(--data patches:FOLDER), not to {name}")
    source = find_dataset(name)
    if source is not None:
        return source.load(split, data_dir, size, grayscale, val_fraction=val_fraction, **text_options)
    path = Path(name).expanduser()
    if path.is_dir():
        if _is_text_folder(path, name):
            if stream:
                raise DataError(f"stream applies to images; {name!r} is a folder of text documents")
            return load_text_folder(path, split, size, grayscale, name=name, val_fraction=val_fraction, **text_options)
        _refuse_text_options(name, text_options)
        return load_image_folder(path, split, size, grayscale, name=name, val_fraction=val_fraction, stream=stream)
    if path.is_file():
        if is_text_table(path):
            return load_text_table(path, split, size, grayscale, name=name, val_fraction=val_fraction, **text_options)
        if path.suffix.lower() == ".npy":
            _refuse_text_options(name, text_options)
            return load_npy(path, split, size, grayscale, name=name, val_fraction=val_fraction, stream=stream)
        raise DataError(
            f"{name!r} is a file but not a .npy array or a text table (.tsv, .csv, .jsonl, each also .gz); "
            "give a folder of images or text files, a .npy file or a text table"
        )
    known = ", ".join(dataset_names())
    raise DataError(
        f"unknown dataset {name!r}; known: {known}, or a folder of images or text files / a .npy file / a text "
        f"table (.tsv, .csv, .jsonl)"
    )


def _refuse_text_options(name: str, options: dict) -> None:
    for key, value in options.items():
        if value is not None:
            raise DataError(f"{name!r} holds images, not text; {key} applies to text data only")


def _is_text_folder(path: Path, name: str) -> bool:
    """Whether a folder is a text corpus: .txt files (in its sub-folders, or all in it: unlabelled), and no images
    (which win).

    Decided by the files found, so that a folder of images keeps loading as images.
    """
    try:
        if not list_text_files(path):
            return False
        images = list_images(path)
    except OSError as e:
        raise DataError(f"{path}: cannot list folder ({type(e).__name__}: {e})") from None
    if images:  # a folder of images with a few notes in it stays a folder of images
        return False
    return True
