"""Tiling a photo of any size for a model of a fixed input size, and blending the tiles back (numpy only).

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

- `halo_tiles(size, core, halo)` is the other way, for a fully convolutional model (`AnySize`) whose output pixel
  reads only the input within `halo` pixels: the image is cut into cores of side `core` (a partition, nothing
  blended), each read through a window reaching `halo` further on every side (clipped at the image's edge, where
  the model's own zero padding applies as on the whole image), and only the core of each output is kept. Every
  kept pixel then saw exactly the input it sees in the whole image, so the tiles give the untiled result (up to
  float summation order) and a tile's border leaves no trace by construction.

Training crops of photos (`--data patches:FOLDER`) are data/patches.py's; this is for inference only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..data.patches import check_image, check_patch
from ..errors import ConfigError

__all__ = ["HaloTile", "PatchLayout", "Window", "blend_window", "halo_tiles", "patch_starts", "tile", "untile"]

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


def _check_stride(patch: int, stride: int) -> None:
    """A one-line ConfigError for a stride that cannot tile (it comes from a user flag)."""
    check_patch(patch)
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or not 1 <= stride <= patch:
        # a stride past the patch would leave pixels no patch covers
        raise ConfigError(f"the patch stride must be an integer from 1 to the patch size ({patch}), got {stride!r}")


def patch_starts(length: int, patch: int, stride: int) -> np.ndarray:
    """Starts of patches along one axis of `length` >= patch: every stride from 0, plus one aligned to the end."""
    _check_stride(patch, stride)
    if length < patch:
        raise ValueError(f"an axis of {length} is shorter than the patch ({patch}); pad it first")
    # the last start is length - patch exactly, so the last patch ends at the edge instead of past it;
    # it overlaps its neighbour by at least patch - stride, never less than the regular grid does
    return np.asarray([*range(0, length - patch, stride), length - patch], dtype=np.int64)


def tile(image: np.ndarray, patch: int, stride: int) -> tuple[np.ndarray, PatchLayout]:
    """(C, H, W) image -> ((P, C, patch, patch) overlapping patches covering it, their layout); see the module doc."""
    _check_stride(patch, stride)
    a = check_image(image)
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
    check_patch(patch)
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


@dataclass(frozen=True)
class HaloTile:
    """One tile of halo_tiles(): the window of the image the model reads, the core it writes, the core in the window."""

    window: tuple[slice, slice]  # rows, columns of the image given to the model
    core: tuple[slice, slice]  # rows, columns of the image this tile's output fills
    inner: tuple[slice, slice]  # the core's rows, columns inside the window (and so inside the model's output)


def halo_tiles(size: tuple[int, int], core: int, halo: int) -> list[HaloTile]:
    """Cores of side `core` partitioning an (H, W) image, each read through a window `halo` pixels wider."""
    check_patch(core)
    if isinstance(halo, bool) or not isinstance(halo, (int, np.integer)) or halo < 0:
        raise ConfigError(f"the halo is a number of pixels >= 0, got {halo!r}")
    h, w = size

    def spans(length: int) -> list[tuple[slice, slice, slice]]:
        out = []
        for start in range(0, length, core):
            stop = min(length, start + core)
            lo, hi = max(0, start - halo), min(length, stop + halo)
            out.append((slice(lo, hi), slice(start, stop), slice(start - lo, stop - lo)))
        return out

    return [HaloTile((wy, wx), (cy, cx), (iy, ix)) for wy, cy, iy in spans(h) for wx, cx, ix in spans(w)]
