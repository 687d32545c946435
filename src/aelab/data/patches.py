"""Square patches of photos for training: random crops of images of any size (numpy only).

What `--data patches:FOLDER --patch N` trains on:

- `random_patches(images, patch, count, rng)` draws training crops from photos of differing sizes,
  each photo's share in proportion to its area; `load_patch_folder` makes a Dataset of them from a
  folder, split by photo, or by region of each photo (`region_bands`) when too few photos are large enough
  to give both train and test one (a single photo).
- `check_patch` and `check_image` are the checks every patch size and image passes, here and in
  restore/tiling.py (which cuts a photo into overlapping tiles for inference and blends them back).

The crops are torch-free; only `load_patch_folder` builds torch tensors (imported when it runs).
Photo sizes in messages are width x height, as photo viewers give them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Sequence

import numpy as np

from ..config import note_once
from ..errors import ConfigError, DataError

if TYPE_CHECKING:
    from .dataset import Dataset

__all__ = [
    "PatchSample",
    "PATCHES_PREFIX",
    "DEFAULT_PATCH",
    "DEFAULT_PATCH_COUNT",
    "PATCH_SPLITS",
    "check_patch",
    "check_patch_split",
    "region_bands",
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
PATCH_SPLITS = ("photo", "region")  # how train and test are drawn apart; None: by photo unless a split gets no patch


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


def check_patch_split(patch_split: str | None) -> str | None:
    """patch_split as "photo", "region" or None (decided by the folder); else a one-line ConfigError."""
    if patch_split is None or patch_split in PATCH_SPLITS:
        return patch_split
    raise ConfigError(f"patch_split must be 'photo' or 'region' (or None: decided by the folder), got {patch_split!r}")


def region_bands(length: int, patch: int, val_fraction: float | None = None) -> tuple[int, int] | None:
    """(training, held-out) lengths of a photo's side split by region: val_fraction of it (None: 10%), at least one
    patch, held out at its end; None when either part would be shorter than the patch."""
    from .dataset import train_count  # the held-out share rounds as a folder's split does

    held = max(patch, length - train_count(length, val_fraction))
    return (length - held, held) if length - held >= patch else None


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
    patch_split: str | None = None,
) -> "Dataset":
    """Random patch x patch crops of the photos under folder as (N, C, patch, patch) in [0, 1], split by photo.

    `count` crops are drawn over ALL photos at once (each photo's share in proportion to its area,
    seeded), so the "all" split holds `count` rows and train / test are the rows of their photos:
    test patches come from photos never seen in training. Photos are split as a folder's images
    are (split_indices over the sorted files, val_fraction None: 10%). Photos are read at their own
    size (no resizing) one at a time; those smaller than the patch give none (one warning line).

    When that split would leave train or test without a photo at least patch x patch (one photo), each
    photo is split by region instead, said in one note: the end of its longer side (its height when square),
    val_fraction of it (None: 10%) and at least one patch, is its test region, the rest its training region
    (`region_bands`); each crop lies inside one region, the count shared over regions by area; photos too
    small for two regions give none. patch_split "photo" or "region" forces either; Dataset.patch_split says
    which was used (a run records it). With nothing held out (val_fraction 0) every photo trains whole.
    C is 1 when every photo is grey, else 3 (grayscale=True/False forces it). Dataset.index is each
    row's row in the "all" split; Dataset.files the photo's path relative to folder.
    """
    import dataclasses

    import torch

    from .dataset import (DEFAULT_VAL_FRACTION, allocate, check_split, check_val_fraction, finish, list_folder,
                          refuse_empty_test, split_indices)
    from .images import IMAGE_SUFFIXES, _header, list_images, read_image

    split = check_split(split)
    val_fraction = check_val_fraction(val_fraction)
    check_patch(patch)
    patch_split = check_patch_split(patch_split)
    folder = Path(folder)
    label = name if name is not None else f"{PATCHES_PREFIX}{folder}"
    refuse_empty_test(label, split, val_fraction)
    paths = list_folder(folder, list_images)
    if not paths:
        raise DataError(f"{folder}: no photos found ({', '.join(IMAGE_SUFFIXES)}, searched recursively)")
    names = [p.relative_to(folder).as_posix() for p in paths]

    # headers only: the draw needs each photo's area and min(H, W), both the same before and after EXIF rotation
    headers = [_header(p, grayscale is None) for p in paths]
    if grayscale is None:  # decided over ALL photos, so train and test agree on the channel count
        grayscale = all(grey for grey, _ in headers)
    sizes = [size for _, size in headers]
    fits = np.array([min(size) >= patch for size in sizes])
    if not fits.any():
        nearest = max(range(len(sizes)), key=lambda i: (min(sizes[i]), sizes[i][0] * sizes[i][1]))
        raise _too_small(label, names, sizes, nearest, f"a {patch}x{patch} patch",
                         f"use --patch {min(sizes[nearest])} or less")
    # by photo unless a split would get no photo that gives patches; the choice reads the headers alone, so
    # every split (and a resume) makes it alike
    empty = None if val_fraction == 0 else next(
        (s for s in ("train", "test") if not fits[split_indices(len(paths), s, val_fraction=val_fraction)].any()), None)
    by_region = val_fraction != 0 and (patch_split or ("region" if empty else "photo")) == "region"
    need = _region_need(patch, val_fraction) if by_region else 0  # the longer side two regions need

    # what the crops are drawn from: (photo, part, start, end along the photo's longer side); part None: all of it
    if not by_region:
        pieces = [(i, None, 0, max(size)) for i, size in enumerate(sizes)]
        chosen = split_indices(len(paths), split, val_fraction=val_fraction)
        if split == empty:  # only when patch_split forces "photo"
            raise DataError(f"{label}: split by photo, the {split!r} split holds no photo of at least {patch}x{patch}; "
                            "split it by region (patch_split 'region') or use a smaller --patch")
    else:
        pieces = []
        for i, size in enumerate(sizes):
            bands = region_bands(max(size), patch, val_fraction) if fits[i] else None
            if bands is not None:
                pieces += [(i, "train", 0, bands[0]), (i, "test", bands[0], max(size))]
        if not pieces:
            largest = max(np.flatnonzero(fits), key=lambda i: max(sizes[i]))
            raise _too_small(label, names, sizes, largest,
                             f"a training and a test region of {patch}x{patch} patches ({need} pixels along one side)",
                             "use a smaller --patch, more photos, or --val-fraction 0")
        chosen = np.array([k for k, piece in enumerate(pieces) if split in ("all", piece[1])], dtype=np.int64)
        f = DEFAULT_VAL_FRACTION if val_fraction is None else val_fraction
        why = ("one photo cannot be split by photo" if len(paths) == 1 else
               f"split by photo, the {empty!r} split would hold no photo of at least {patch}x{patch}" if empty else
               "patch_split is 'region'")
        note_once(("patches split by region", str(folder.resolve()), str(patch), repr(val_fraction)),
                  lambda: f"{label}: {why}, so each photo is split by region: the last {f * 100:g}% of its longer side "
                          f"(at least {patch} pixels: the bottom band, or the right one when wider than high) is the "
                          "test split, the rest trains, and no patch crosses between them")
    small = int((~fits).sum())
    unsplit = int(fits.sum()) - len(pieces) // 2 if by_region else 0
    if small or unsplit:
        parts = [f"{small} of {len(paths)} photos are smaller than {patch}x{patch}"] if small else []
        parts += [f"{unsplit} of {len(paths)} photos have fewer than {need} pixels along their longer side, "
                  "too few for two regions"] if unsplit else []
        print(f"aelab: warning: {label}: {' and '.join(parts)} and give no patches", file=sys.stderr)
    shapes = [(end - start, min(sizes[i])) for i, _, start, end in pieces]
    counts, _ = patch_counts(shapes, patch, count, np.random.default_rng(seed))
    first_row = np.concatenate([[0], np.cumsum(counts)[:-1]])  # each piece's first row in the "all" split

    chosen = chosen[counts[chosen] > 0]
    n = int(counts[chosen].sum())
    if n == 0:
        raise DataError(f"{label}: none of the {count} patches falls in the {split!r} split; raise --patch-count")
    c = 1 if grayscale else 3
    x = allocate(label, (n, c, patch, patch), f"{n} patches of {c}x{patch}x{patch}")
    index = np.empty(n, dtype=np.int64)
    files: list[str] = []
    row, read = 0, (-1, None)
    for piece in chosen:
        i, part, start, end = pieces[piece]
        k = int(counts[piece])
        if read[0] != i:  # a photo's two regions are read once
            read = (i, read_image(paths[i], None, grayscale).numpy())
        # a piece's crops come from a generator of its own, so a split reads only its photos and still
        # gets exactly the rows the "all" split has for them
        rng = np.random.default_rng([seed, int(i)] if part is None else [seed, int(i), ("train", "test").index(part)])
        x[row : row + k], _ = random_crops(_along_longer_side(read[1], start, end), patch, k, rng)
        index[row : row + k] = first_row[piece] + np.arange(k)
        files += [names[i]] * k
        row += k
    data = finish(torch.from_numpy(x), None, label, None, split, None, None, index=index, files=files)
    return dataclasses.replace(data, patch_split="region" if by_region else "photo")


def _along_longer_side(image: np.ndarray, start: int, end: int) -> np.ndarray:
    """A (C, H, W) photo from start to end along its longer side (its height when square), all of the other."""
    return image[:, start:end] if image.shape[1] >= image.shape[2] else image[:, :, start:end]


def _region_need(patch: int, val_fraction: float | None) -> int:
    """The shortest side `region_bands` can split into two regions of `patch` pixels or more."""
    length = 2 * patch
    while region_bands(length, patch, val_fraction) is None:
        length += 1
    return length


def _too_small(label: str, names: list[str], sizes: list[tuple[int, int]], k: int, what: str,
               advice: str) -> DataError:
    """The one-line error for photos too small for `what`, naming photo k (the only one, or the nearest to enough)."""
    h, w = sizes[k]
    photo = f"{names[k]} ({w}x{h} pixels, width x height)"
    if len(names) == 1:
        return DataError(f"{label}: the photo {photo} is too small for {what}; {advice}")
    return DataError(f"{label}: none of the {len(names)} photos is large enough for {what} (the nearest is "
                     f"{photo}); {advice}")
