"""The "lines" data set of ACAI (Berthelot, Raffel, Roy & Goodfellow, ICLR 2019, Sec. 3): 32x32 anti-aliased lines.

Each image is one line of length 15 pixels drawn from the centre of the image at an angle in
[0, 2π), with the geometry and anti-aliasing weights of `draw_line` in the paper's official code
(lib/data.py), which draws in [-1, 1]; ours are the same images mapped to [0, 1] ((m + 1) / 2).
The images are generated in memory on first use (no files): train is 50,000 lines at angles drawn
from numpy's default_rng(0), test 5,000 from default_rng(1); labels are the official ten angle bins.
The true angles are kept (`lines_split`) because the interpolation metrics (eval/lines.py) need them.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache

import numpy as np
import torch

from .dataset import Dataset, check_split, finish
from .registry import register_dataset

__all__ = [
    "draw_line", "lines_images", "line_labels", "lines_split", "load_lines", "LINES_TRAIN", "LINES_TEST", "LINES_SIZE",
]

LINES_SIZE = 32
LINES_TRAIN = 50_000
LINES_TEST = 5_000
_SEEDS = {"train": 0, "test": 1}
_CHUNK = 2048  # angles drawn at once: keeps the (chunk, size, size) float64 temporaries near 16 MiB


def draw_line(angle: float, size: int = LINES_SIZE, width: float = 2.0) -> np.ndarray:
    """A line from the centre at `angle`, (size, size) float32 in [0, 1] (Berthelot et al. 2019, official lib/data.py draw_line)."""
    return lines_images(np.array([angle], dtype=np.float64), size, width)[0, 0]


def lines_images(
    angles: np.ndarray, size: int = LINES_SIZE, width: float = 2.0, dtype: type = np.float32
) -> np.ndarray:
    """Lines at `angles` (radians), (N, 1, size, size) in [0, 1] (Berthelot et al. 2019, official lib/data.py draw_line)."""
    angles = np.asarray(angles, dtype=np.float64).reshape(-1)
    if size < 4 or not 0 < width < size / 2:
        raise ValueError(f"lines need size >= 4 and 0 < width < size / 2, got size={size}, width={width}")
    out = np.empty((len(angles), 1, size, size), dtype=dtype)
    for start in range(0, len(angles), _CHUNK):
        out[start : start + _CHUNK, 0] = _draw(angles[start : start + _CHUNK], size, float(width))
    return out


def _draw(angles: np.ndarray, size: int, w: float) -> np.ndarray:
    """The official drawing, vectorised over angles: (N, size, size) float64 in [0, 1].

    The official code walks the rows of the line's major axis (the axis it moves along fastest);
    each row gets a run of `w` pixels starting at xs, with partial pixels at both ends, and the
    whole row is weighted by how much of it the line's span covers. Here every (angle, row, column)
    is evaluated at once with the same floating-point expressions, so the weights agree to rounding.
    """
    n = len(angles)
    c = size * 0.5  # the official x0 = height / 2, y0 = width / 2 (equal for square images)
    # the far end, 15 pixels out; with the first index the row (pointing down), the official
    # cos(-angle), sin(-angle) put angle 0 to the right and π/2 up: anticlockwise on screen
    ex = c + (c - 1) * np.cos(-angles)
    ey = c + (c - 1) * np.sin(-angles)
    x0, y0 = np.full(n, c), np.full(n, c)
    x1, y1 = ex, ey
    # "flip": swap the axes when the line is nearer the second one, so the walked axis is the one
    # the line moves along fastest and every walked row holds one short run of pixels
    flip = np.abs(y0 - y1) < np.abs(x0 - x1)
    x0, x1, y0, y1 = np.where(flip, y0, x0), np.where(flip, y1, x1), np.where(flip, x0, y0), np.where(flip, x1, y1)
    # walk in increasing coordinate: start from whichever end has the smaller one
    back = y1 < y0
    x0, x1, y0, y1 = np.where(back, x1, x0), np.where(back, x0, x1), np.where(back, y1, y0), np.where(back, y0, y1)
    x0, x1 = x0 - w / 2, x1 - w / 2  # the run of w pixels is centred on the line
    dy = y1 - y0
    ds = np.divide(x1 - x0, dy, out=np.zeros(n), where=dy != 0)  # the official "dx / dy if dy != 0 else 0"
    # the official int() truncates toward zero; the walked coordinates are >= 1 for size >= 4, so floor is the same
    first, stop = np.floor(y0), np.ceil(y1)  # rows first .. stop - 1
    full_from, full_to = np.ceil(y0), np.floor(y1)  # rows fully inside the span (weight 1)

    y = np.arange(size, dtype=np.float64)[None, :]  # (1, rows)
    y0c, y1c = y0[:, None], y1[:, None]
    ff, ft = full_from[:, None], full_to[:, None]
    weight = np.where(y < ff, ff - y0c, np.where(y > ft, y1c - ft, 1.0))
    weight = np.where((y >= first[:, None]) & (y < stop[:, None]), weight, 0.0)  # (n, rows)
    xs = x0[:, None] + (y - y0c - 0.5) * ds[:, None]  # where the run starts in each row
    xe = xs + w
    xi0, xi1 = np.ceil(xs), np.trunc(xe)  # the official int(math.ceil(xs)), int(xe)
    left = np.trunc(xs)  # the official int(xs): the partial pixel before the run

    # the official code indexes the image with these columns; one outside it would wrap around or
    # fail there, so a line too wide for its image is refused rather than drawn differently
    active = weight > 0
    lo, hi = np.where(xi0 != xs, left, xi0), np.where(xi1 != xe, xi1, xi1 - 1)
    if np.any(active & ((lo < 0) | (hi >= size))):
        raise ValueError(f"a line of width {w} does not fit in a {size}x{size} image at every angle")

    col = np.arange(size, dtype=np.float64)[None, None, :]  # (1, 1, cols)
    xs3, xe3, xi03, xi13, wt3 = xs[..., None], xe[..., None], xi0[..., None], xi1[..., None], weight[..., None]
    # the three additions of the official code: the whole pixels, the partial pixel before, after
    m = np.where((col >= xi03) & (col < xi13), wt3, 0.0)
    m += np.where((col == left[..., None]) & (xi03 != xs3), wt3 * (xi03 - xs3), 0.0)
    m += np.where((col == xi13) & (xi13 != xe3), wt3 * (xe3 - xi13), 0.0)
    # m[n, walked, across]: rows of the image unless flipped, then columns
    m = np.where(flip[:, None, None], m.transpose(0, 2, 1), m)
    # the official m = clip(2 * sum - 1, -1, 1) in [-1, 1] is clip(sum, 0, 1) in [0, 1]
    return np.clip(m, 0.0, 1.0)


def line_labels(angles: np.ndarray) -> np.ndarray:
    """Classes int(10 * angle / (2π - 1e-6)), int64 in 0..9 (Berthelot et al. 2019, official lib/data.py input_lines)."""
    labels = np.floor(10 * np.asarray(angles, dtype=np.float64) / (2 * math.pi - 1e-6)).astype(np.int64)
    # the official formula gives 10 for an angle within 1e-6 of 2π (chance about 1 in 6 million
    # per image); such a line is put in the last bin so that there are ten classes
    return np.minimum(labels, 9)


@lru_cache(maxsize=None)
def _generated(split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 1, 32, 32) float32, angles (N,) float64) of the train or test split, read-only."""
    n = LINES_TRAIN if split == "train" else LINES_TEST
    # 2π times a uniform [0, 1) draw, as the official 2 * random.random() * math.pi
    angles = 2 * math.pi * np.random.default_rng(_SEEDS[split]).random(n)
    images = lines_images(angles)
    images.setflags(write=False)
    angles.setflags(write=False)
    return images, angles


@lru_cache(maxsize=None)
def lines_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 1, 32, 32) float32 in [0, 1], true angles (N,)) of train, test or all; read-only, cached."""
    split = check_split(split)
    if split != "all":
        return _generated(split)
    (xa, aa), (xb, ab) = _generated("train"), _generated("test")
    images, angles = np.concatenate([xa, xb]), np.concatenate([aa, ab])
    images.setflags(write=False)
    angles.setflags(write=False)
    return images, angles


def load_lines(
    split: str = "train", image_size: tuple[int, int] | None = None, grayscale: bool | None = None
) -> Dataset:
    """The lines as a Dataset (N, 1, 32, 32) in [0, 1] with the ten angle classes (Berthelot et al. 2019, Sec. 3).

    Dataset.index: train rows are 0.., test rows 50000.. (their rows in the "all" split).
    """
    split = check_split(split)
    images, angles = lines_split(split)
    index = np.arange(len(images), dtype=np.int64) + (LINES_TRAIN if split == "test" else 0)
    # a copy: the cached arrays are read-only, and a Dataset's tensor may be changed in place by its user
    x = torch.from_numpy(images.copy())
    y = torch.from_numpy(line_labels(angles))
    classes = [f"{36 * k}-{36 * (k + 1)} degrees" for k in range(10)]
    return finish(x, y, "lines", classes, split, image_size, grayscale, index=index)


@register_dataset(
    "lines",
    description="ACAI's 32x32 anti-aliased lines from the centre at random angles (generated, no download)",
    shape=(1, LINES_SIZE, LINES_SIZE),
    train=LINES_TRAIN,
    test=LINES_TEST,
)
def _load(
    split: str,
    data_dir: str | os.PathLike | None,
    image_size: tuple[int, int] | None,
    grayscale: bool | None,
) -> Dataset:
    """The registry's loader: the lines are generated, so data_dir is ignored; the test split is fixed."""
    return load_lines(split, image_size, grayscale)
