"""Overlapping square patches of images of any size, and their seamless reassembly (numpy only).

What `aelab denoise` / `aelab inpaint` run a model on, and what `--data patches:FOLDER` trains on:

- `tile(image, patch, stride)` cuts a (C, H, W) image into (P, C, patch, patch) patches on a regular
  grid whose last row and column are aligned to the image's bottom and right edges, so every pixel
  is covered and no patch reaches past a large enough image. An image smaller than the patch in
  height or width is first padded at the bottom / right by reflection (numpy's "reflect": the edge
  pixel is not repeated, `abc|ba`, repeated as often as needed); `untile` crops the padding away.
- `untile(patches, layout, window)` is the weighted overlap-add: each patch is multiplied by a
  window, summed into place, and divided by the summed windows. The "hann" window
  sin^2(pi (i + 1/2) / patch), separable in y and x, is never zero inside a patch (so every pixel
  has positive total weight) and falls to about (pi / 2 patch)^2 at the patch's edges, so a patch's
  influence fades in and out smoothly: patches processed independently meet without seams. A patch
  on the image's own edge is flat (weight 1) on the half facing that edge, where it has no
  neighbour to fade into. With stride <= patch / 2 every pixel lies in the middle half of some
  patch, where the window is >= 1/2; a larger stride still reassembles exactly, but blends
  independently processed patches over fewer pixels.
  untile(*tile(x)) == x to float precision for any size, stride and channel count.
- `match_channels(image, channels)` turns 1 <-> 3 channels (and drops an RGBA alpha), or refuses.
- `random_patches(images, patch, count, rng)` draws training crops from photos of differing sizes;
  `load_patch_folder` makes a Dataset of them from a folder, split by photo.

The geometry is torch-free; only `load_patch_folder` builds torch tensors (imported when it runs).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple, Sequence

import numpy as np

from ..errors import ConfigError, DataError

if TYPE_CHECKING:
    from .dataset import Dataset

__all__ = [
    "PatchLayout",
    "PatchSample",
    "PATCHES_PREFIX",
    "DEFAULT_PATCH",
    "DEFAULT_PATCH_COUNT",
    "patch_starts",
    "tile",
    "untile",
    "blend_window",
    "match_channels",
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
LUMA_601 = (0.299, 0.587, 0.114)  # ITU-R BT.601, what Pillow's "L" and data.dataset.to_grayscale use

Window = Literal["hann", "flat"]


@dataclass(frozen=True)
class PatchLayout:
    """Where tile() cut its patches: grid starts (top rows, left columns), patch, stride, original and padded size."""

    size: tuple[int, int]  # (H, W) of the image given to tile()
    padded: tuple[int, int]  # (H, W) after reflection padding; equal to size unless the image was smaller than a patch
    patch: int
    stride: int
    rows: tuple[int, ...]  # top coordinate of each row of patches
    cols: tuple[int, ...]  # left coordinate of each column of patches

    @property
    def count(self) -> int:
        """Number of patches, len(rows) * len(cols)."""
        return len(self.rows) * len(self.cols)

    @property
    def positions(self) -> np.ndarray:
        """(P, 2) int64 (top, left) of every patch, in tile()'s order (row by row)."""
        ys, xs = np.meshgrid(np.asarray(self.rows, dtype=np.int64), np.asarray(self.cols, dtype=np.int64), indexing="ij")
        return np.stack([ys.ravel(), xs.ravel()], axis=1)


class PatchSample(NamedTuple):
    """random_patches()'s result: the crops, which image and where each came from, and how many images were too small."""

    patches: np.ndarray  # (N, C, patch, patch) float32
    sources: np.ndarray  # (N,) int64: index of each crop's image in the list given
    positions: np.ndarray  # (N, 2) int64: (top, left) of each crop in its image
    skipped: int  # images smaller than the patch in height or width, which gave no crops


def _check_patch(patch: int, stride: int | None = None) -> None:
    """A one-line ConfigError for a patch size or stride that cannot tile (they come from user flags)."""
    if isinstance(patch, bool) or not isinstance(patch, (int, np.integer)) or patch < 1:
        raise ConfigError(f"the patch size must be a positive integer, got {patch!r}")
    if stride is None:
        return
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or not 1 <= stride <= patch:
        # a stride past the patch would leave pixels no patch covers
        raise ConfigError(f"the patch stride must be an integer from 1 to the patch size ({patch}), got {stride!r}")


def _check_image(image: np.ndarray, what: str = "image") -> np.ndarray:
    """image as a (C, H, W) float array with pixels; shape mistakes are the caller's (ValueError), no pixels the data's."""
    a = np.asarray(image)
    if a.ndim != 3:
        raise ValueError(f"{what} must be (C, H, W), got shape {a.shape}")
    if a.shape[0] < 1 or a.shape[1] < 1 or a.shape[2] < 1:
        raise DataError(f"{what} has no pixels (shape {a.shape})")
    return a if np.issubdtype(a.dtype, np.floating) else a.astype(np.float32)


def patch_starts(length: int, patch: int, stride: int) -> np.ndarray:
    """Starts of patches along one axis of `length` >= patch: every stride from 0, plus one aligned to the end."""
    _check_patch(patch, stride)
    if length < patch:
        raise ValueError(f"an axis of {length} is shorter than the patch ({patch}); pad it first")
    # the last start is length - patch exactly, so the last patch ends at the edge instead of past it;
    # it overlaps its neighbour by at least patch - stride, never less than the regular grid does
    return np.asarray([*range(0, length - patch, stride), length - patch], dtype=np.int64)


def tile(image: np.ndarray, patch: int, stride: int) -> tuple[np.ndarray, PatchLayout]:
    """(C, H, W) image -> ((P, C, patch, patch) overlapping patches covering it, their layout); see the module doc."""
    _check_patch(patch, stride)
    a = _check_image(image)
    c, h, w = a.shape
    ph, pw = max(h, patch), max(w, patch)
    if (ph, pw) != (h, w):  # smaller than a patch: mirror the image into the missing rows / columns
        a = np.pad(a, ((0, 0), (0, ph - h), (0, pw - w)), mode="reflect")
    rows, cols = patch_starts(ph, patch, stride), patch_starts(pw, patch, stride)
    view = np.lib.stride_tricks.sliding_window_view(a, (patch, patch), axis=(1, 2))  # (C, H-p+1, W-p+1, p, p), no copy
    grid = view[:, rows[:, None], cols[None, :]]  # (C, rows, cols, p, p): one fancy index copies only the chosen windows
    patches = np.ascontiguousarray(grid.transpose(1, 2, 0, 3, 4).reshape(len(rows) * len(cols), c, patch, patch))
    layout = PatchLayout(
        size=(h, w), padded=(ph, pw), patch=int(patch), stride=int(stride),
        rows=tuple(int(r) for r in rows), cols=tuple(int(x) for x in cols),
    )
    return patches, layout


def blend_window(patch: int, window: Window = "hann") -> np.ndarray:
    """The (patch, patch) float64 weights untile() gives an interior patch's pixels: "hann" (smooth, > 0) or "flat"."""
    w = _window_1d(patch, window)
    return np.outer(w, w)


def _window_1d(patch: int, window: Window, first: bool = False, last: bool = False) -> np.ndarray:
    """One axis of the window; a patch at the image's first / last position is flat on the half facing that edge."""
    _check_patch(patch)
    if window == "flat":
        return np.ones(patch, dtype=np.float64)
    if window != "hann":
        raise ConfigError(f"unknown blending window {window!r}; expected 'hann' or 'flat'")
    i = np.arange(patch, dtype=np.float64)
    # sampled at pixel centres, so no sample is a zero of the window and every covered pixel keeps weight;
    # at stride patch/2 the windows of neighbours sum to 1 (sin^2 + cos^2), a partition of unity
    w = np.sin(np.pi * (i + 0.5) / patch) ** 2
    # at the image's edge there is no neighbour to fade into; a taper there would leave the border pixels
    # to the tails of overlapping windows, whose ratios change fast from pixel to pixel: a visible seam
    if first:
        w[i < patch / 2] = 1.0
    if last:
        w[i >= patch / 2] = 1.0
    return w


def untile(patches: np.ndarray, layout: PatchLayout, window: Window = "hann") -> np.ndarray:
    """Weighted overlap-add of (P, C, patch, patch) patches back to a (C, H, W) image of layout.size; see the module doc."""
    p = np.asarray(patches)
    if p.ndim != 4 or p.shape[0] != layout.count or p.shape[2:] != (layout.patch, layout.patch):
        raise ValueError(
            f"untile needs ({layout.count}, C, {layout.patch}, {layout.patch}) patches for this layout, got shape {p.shape}"
        )
    k, c = layout.patch, p.shape[1]
    ph, pw = layout.padded
    nr, nc = len(layout.rows), len(layout.cols)
    wy = np.stack([_window_1d(k, window, top == 0, top == ph - k) for top in layout.rows])  # (rows, k)
    wx = np.stack([_window_1d(k, window, left == 0, left == pw - k) for left in layout.cols])  # (cols, k)
    # the weights are products wy (x) wx on a product grid, so their sum is too: norm = outer(sum_y, sum_x)
    sum_y, sum_x = np.zeros(ph), np.zeros(pw)
    for top, w in zip(layout.rows, wy):
        sum_y[top : top + k] += w
    for left, w in zip(layout.cols, wx):
        sum_x[left : left + k] += w
    # overlap-add in two 1-D passes (columns into row strips, then strips into the image): rows + cols array
    # operations instead of rows x cols small ones (47,000 for a 12-megapixel photo at patch 32, stride 16)
    grid = p.reshape(nr, nc, c, k, k)
    total = np.zeros((c, ph, pw), dtype=np.float64)  # float64 sums: the round trip is exact to float32 precision
    chunk = max(1, (64 << 20) // (8 * c * k * pw))  # rows of patches per pass: strips of at most 64 MiB
    for r0 in range(0, nr, chunk):
        r1 = min(nr, r0 + chunk)
        strip = np.zeros((r1 - r0, c, k, pw), dtype=np.float64)
        for j, (left, w) in enumerate(zip(layout.cols, wx)):
            strip[..., left : left + k] += grid[r0:r1, j] * w
        for i in range(r0, r1):
            top = layout.rows[i]
            total[:, top : top + k, :] += strip[i - r0] * wy[i][:, None]
    out = total / np.outer(sum_y, sum_x)  # tile() covers every pixel and the windows are > 0, so this is > 0
    h, w = layout.size
    return out[:, :h, :w].astype(np.result_type(p.dtype, np.float32), copy=False)


def match_channels(image: np.ndarray, channels: int, name: str | None = None) -> np.ndarray:
    """image (..., C, H, W) with `channels` (1 or 3) channels: 1->3 repeats, 3->1 is BT.601 luma, RGBA drops alpha."""
    a = np.asarray(image)
    if a.ndim < 3:
        raise ValueError(f"match_channels needs (..., C, H, W), got shape {a.shape}")
    have = int(a.shape[-3])
    what = name if name is not None else "the image"
    if channels not in (1, 3) or have not in (1, 3, 4):
        raise DataError(
            f"{what} has {have} channel(s) and the model takes {channels}; aelab converts images of 1, 3 or 4 (RGBA) "
            "channels to models of 1 or 3"
        )
    if have == 4:  # alpha is dropped, not composited: the same rule as read_image's for RGBA files
        print(f"aelab: note: {what} has an alpha channel; it is ignored", file=sys.stderr)
        a = a[..., :3, :, :]
        have = 3
    if have == channels:
        return a
    if channels == 3:
        return np.repeat(a, 3, axis=-3)
    luma = np.asarray(LUMA_601, dtype=np.result_type(a.dtype, np.float32)).reshape(3, 1, 1)
    return (a * luma).sum(axis=-3, keepdims=True)


def patch_counts(
    sizes: Sequence[tuple[int, int]], patch: int, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """How many of `count` crops each (H, W) image gives, in proportion to its area (0 when smaller than the patch),
    and how many images were too small; a one-line DataError when none is large enough."""
    _check_patch(patch)
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
    a = _check_image(image)
    _check_patch(patch)
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
    arrays = [_check_image(im, f"image {i}") for i, im in enumerate(images)]
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
    _check_patch(patch)
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
