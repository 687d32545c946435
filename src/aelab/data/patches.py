"""Square patches of photos for training: random crops of images of any size (numpy only).

What `--data patches:FOLDER --patch N` trains on:

- `random_patches(images, patch, count, rng)` draws training crops from photos of differing sizes,
  each photo's share in proportion to its area; `load_patch_folder` makes a Dataset of them from a
  folder, split by photo.
- `check_patch` and `check_image` are the checks every patch size and image passes, here and in
  restore/tiling.py (which cuts a photo into overlapping tiles for inference and blends them back).

The crops are torch-free; only `load_patch_folder` builds torch tensors (imported when it runs).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Sequence

import numpy as np

from ..errors import ConfigError, DataError

if TYPE_CHECKING:
    from .dataset import Dataset

__all__ = [
    "PatchSample",
    "PATCHES_PREFIX",
    "DEFAULT_PATCH",
    "DEFAULT_PATCH_COUNT",
    "check_patch",
    "check_image",
    "patch_counts",
    "random_crops",
    "random_patches",
    "patch_folder_of",
    "load_patch_folder",
]

PATCHES_PREFIX = "patches:"  # `--data patches:FOLDER`
DEFAULT_PATCH = 32
DEFAULT_PATCH_COUNT = 50_000  # 50,000 3x32x32 patches are 614 MB of float32, the size of CIFAR-10's training set
PATCH_SEED = 0  # the patch data set's draw is fixed, like every data set's split


class PatchSample(NamedTuple):
    """random_patches()'s result: the crops, which image and where each came from, and how many images were too small."""

    patches: np.ndarray  # (N, C, patch, patch) float32
    sources: np.ndarray  # (N,) int64: index of each crop's image in the list given
    positions: np.ndarray  # (N, 2) int64: (top, left) of each crop in its image
    skipped: int  # images smaller than the patch in height or width, which gave no crops


def check_patch(patch: int) -> None:
    """A one-line ConfigError for a patch size that is not a positive integer (it comes from a user flag)."""
    if isinstance(patch, bool) or not isinstance(patch, (int, np.integer)) or patch < 1:
        raise ConfigError(f"the patch size must be a positive integer, got {patch!r}")


def check_image(image: np.ndarray, what: str = "image") -> np.ndarray:
    """image as a (C, H, W) float array with pixels; shape mistakes are the caller's (ValueError), no pixels the data's."""
    a = np.asarray(image)
    if a.ndim != 3:
        raise ValueError(f"{what} must be (C, H, W), got shape {a.shape}")
    if a.shape[0] < 1 or a.shape[1] < 1 or a.shape[2] < 1:
        raise DataError(f"{what} has no pixels (shape {a.shape})")
    return a if np.issubdtype(a.dtype, np.floating) else a.astype(np.float32)


def patch_counts(
    sizes: Sequence[tuple[int, int]], patch: int, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """How many of `count` crops each (H, W) image gives, in proportion to its area (0 when smaller than the patch),
    and how many images were too small; a one-line DataError when none is large enough."""
    check_patch(patch)
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ConfigError(f"the number of patches must be a positive integer, got {count!r}")
    hw = np.asarray(sizes, dtype=np.int64).reshape(-1, 2)
    fits = hw.min(axis=1) >= patch  # min(H, W) does not change when EXIF turns an image by 90 degrees
    if not fits.any():
        largest = "no images" if len(hw) == 0 else "the largest is " + "x".join(map(str, hw[np.argmax(hw.prod(axis=1))]))
        raise DataError(
            f"no image is at least {patch}x{patch} pixels, so none gives a patch ({largest}); use a smaller --patch"
        )
    area = np.where(fits, hw.prod(axis=1), 0).astype(np.float64)
    # a multinomial draw: the images' shares are exact in expectation, and the counts add up to `count`
    return rng.multinomial(int(count), area / area.sum()).astype(np.int64), int((~fits).sum())


def random_crops(image: np.ndarray, patch: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n uniform random (C, patch, patch) crops of a (C, H, W) image at least patch x patch, and their (top, left)."""
    a = check_image(image)
    check_patch(patch)
    c, h, w = a.shape
    if min(h, w) < patch:
        raise ValueError(f"a {h}x{w} image is smaller than the patch ({patch})")
    # every position whose crop lies inside the image is equally likely
    pos = np.stack([rng.integers(0, h - patch + 1, size=n), rng.integers(0, w - patch + 1, size=n)], axis=1).astype(np.int64)
    view = np.lib.stride_tricks.sliding_window_view(a, (patch, patch), axis=(1, 2))  # (C, H-p+1, W-p+1, p, p)
    crops = view[:, pos[:, 0], pos[:, 1]].transpose(1, 0, 2, 3)  # (n, C, p, p), a copy
    return np.ascontiguousarray(crops, dtype=np.float32), pos


def random_patches(images: Sequence[np.ndarray], patch: int, count: int, rng: np.random.Generator) -> PatchSample:
    """`count` uniform random crops from (C, H, W) images of differing sizes, each image's share in proportion to
    its area (H x W), in shuffled order; images smaller than the patch are skipped and counted (DataError if all are)."""
    arrays = [check_image(im, f"image {i}") for i, im in enumerate(images)]
    channels = sorted({a.shape[0] for a in arrays})
    if len(channels) > 1:
        raise DataError(f"the images have different channel counts ({', '.join(map(str, channels))}); match them first")
    counts, skipped = patch_counts([a.shape[1:] for a in arrays], patch, count, rng)
    parts, sources, positions = [], [], []
    for i, (a, n) in enumerate(zip(arrays, counts)):
        if n:
            crops, pos = random_crops(a, patch, int(n), rng)
            parts.append(crops)
            positions.append(pos)
            sources.append(np.full(int(n), i, dtype=np.int64))
    order = rng.permutation(int(count))  # crops come grouped by image; shuffled, any prefix is a fair sample
    return PatchSample(
        patches=np.concatenate(parts)[order],
        sources=np.concatenate(sources)[order],
        positions=np.concatenate(positions)[order],
        skipped=skipped,
    )


def patch_folder_of(name: str | os.PathLike) -> Path | None:
    """The folder of a `patches:FOLDER` data name (user ~ expanded), or None for any other name."""
    text = os.fspath(name)
    if not text.lower().startswith(PATCHES_PREFIX):
        return None
    folder = text[len(PATCHES_PREFIX) :]
    if not folder.strip():
        raise DataError(f"{text!r} names no folder; write patches:FOLDER")
    return Path(folder).expanduser()


def load_patch_folder(
    folder: str | os.PathLike,
    split: str = "train",
    patch: int = DEFAULT_PATCH,
    count: int = DEFAULT_PATCH_COUNT,
    grayscale: bool | None = None,
    val_fraction: float | None = None,
    name: str | None = None,
    seed: int = PATCH_SEED,
) -> "Dataset":
    """Random patch x patch crops of the photos under folder as (N, C, patch, patch) in [0, 1], split by photo.

    `count` crops are drawn over ALL photos at once (each photo's share in proportion to its area,
    seeded), so the "all" split holds `count` rows and train / test are the rows of their photos:
    test patches come from photos never seen in training. Photos are split as a folder's images
    are (split_indices over the sorted files, val_fraction None: 10%). Photos are read at their own
    size (no resizing) one at a time; those smaller than the patch give none (one warning line).
    C is 1 when every photo is grey, else 3 (grayscale=True/False forces it). Dataset.index is each
    row's row in the "all" split; Dataset.files the photo's path relative to folder.
    """
    import torch

    from .dataset import allocate, check_split, check_val_fraction, finish, list_folder, refuse_empty_test, split_indices
    from .images import IMAGE_SUFFIXES, _header, list_images, read_image

    split = check_split(split)
    val_fraction = check_val_fraction(val_fraction)
    check_patch(patch)
    folder = Path(folder)
    label = name if name is not None else f"{PATCHES_PREFIX}{folder}"
    refuse_empty_test(label, split, val_fraction)
    paths = list_folder(folder, list_images)
    if not paths:
        raise DataError(f"{folder}: no photos found ({', '.join(IMAGE_SUFFIXES)}, searched recursively)")

    # headers only: the draw needs each photo's area and min(H, W), both the same before and after EXIF rotation
    headers = [_header(p, grayscale is None) for p in paths]
    if grayscale is None:  # decided over ALL photos, so train and test agree on the channel count
        grayscale = all(grey for grey, _ in headers)
    counts, skipped = patch_counts([size for _, size in headers], patch, count, np.random.default_rng(seed))
    if skipped:
        print(
            f"aelab: warning: {label}: {skipped} of {len(paths)} photos are smaller than {patch}x{patch} "
            "and give no patches",
            file=sys.stderr,
        )
    first_row = np.concatenate([[0], np.cumsum(counts)[:-1]])  # each photo's first row in the "all" split

    photos = split_indices(len(paths), split, val_fraction=val_fraction)
    photos = photos[counts[photos] > 0]
    n = int(counts[photos].sum())
    if n == 0:
        raise DataError(f"{label}: the {split!r} split's photos are all smaller than {patch}x{patch}; use a smaller --patch")
    c = 1 if grayscale else 3
    x = allocate(label, (n, c, patch, patch), f"{n} patches of {c}x{patch}x{patch}")
    index = np.empty(n, dtype=np.int64)
    files: list[str] = []
    row = 0
    for i in photos:
        k = int(counts[i])
        image = read_image(paths[i], None, grayscale).numpy()
        # a photo's crops come from a generator of its own, so a split reads only its photos and still
        # gets exactly the rows the "all" split has for them
        x[row : row + k], _ = random_crops(image, patch, k, np.random.default_rng([seed, int(i)]))
        index[row : row + k] = first_row[i] + np.arange(k)
        files += [paths[i].relative_to(folder).as_posix()] * k
        row += k
    return finish(torch.from_numpy(x), None, label, None, split, None, None, index=index, files=files)
