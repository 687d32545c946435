"""A folder of image files (PNG, JPEG, BMP, GIF), found recursively, as one Dataset.

Images in first-level subfolders get those folders' names as classes (sorted); a folder of
loose images has no labels. Everything is resized to one size with Pillow's bilinear filter
(antialiased when shrinking). Hidden files and folders (names starting with ".") are skipped.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .dataset import Dataset, check_split, finish, split_indices

__all__ = ["load_image_folder", "IMAGE_SUFFIXES", "list_images"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
_HIGH_DEPTH = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def list_images(folder: Path) -> list[Path]:
    """Image files under folder, recursively, sorted by their path relative to it."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in files:
            if not f.startswith(".") and f.lower().endswith(IMAGE_SUFFIXES):
                found.append(Path(root) / f)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def _open(path: Path):
    """The decoded image, or DataError naming the file."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(path)
            im.load()
        return im
    except Exception as e:  # Pillow raises many types for bad files; all mean "unreadable"
        raise DataError(_unreadable(path, e)) from None


def _unreadable(path: Path, e: Exception) -> str:
    return f"{path}: not a readable image ({type(e).__name__}: {e})".replace("\n", " ")


def _is_gray(path: Path) -> bool:
    """Whether an image is single-channel: a grey mode, or a palette whose used colours are all grey.

    Reads only the header, except for palette images.
    """
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                if im.mode in _GRAY_MODES:
                    return True
                if im.mode != "P":
                    return False
                pal = np.asarray(im.getpalette() or [], dtype=np.int32)
                rgb = pal[: 3 * (len(pal) // 3)].reshape(-1, 3)
                used = np.unique(np.asarray(im))
                used = used[used < len(rgb)]
                return bool(np.all(rgb[used, 0] == rgb[used, 1]) and np.all(rgb[used, 1] == rgb[used, 2]))
    except Exception as e:
        raise DataError(_unreadable(path, e)) from None


def _to_array(im, mode: str, size: tuple[int, int]) -> np.ndarray:
    """One image as float32 (C, H, W) in [0, 1], in `mode` ("L" or "RGB"), resized to size=(H, W)."""
    from PIL import Image

    h, w = size
    if im.mode in _HIGH_DEPTH:  # 16-bit / float greys: scale to [0, 1] before anything else
        a = np.asarray(im, dtype=np.float32)
        a = np.clip(a if im.mode == "F" else a / 65535.0, 0.0, 1.0)
        f = Image.fromarray(np.ascontiguousarray(a), mode="F")
        if f.size != (w, h):
            f = f.resize((w, h), Image.Resampling.BILINEAR)
        g = np.clip(np.asarray(f, dtype=np.float32), 0.0, 1.0)[None]
        return g if mode == "L" else np.repeat(g, 3, axis=0)
    if im.mode != mode:
        if im.mode in ("P", "PA") or im.mode.endswith("A"):
            im = im.convert("RGBA" if mode == "RGB" else "LA")
        im = im.convert(mode)
    if im.size != (w, h):
        im = im.resize((w, h), Image.Resampling.BILINEAR)
    a = np.asarray(im, dtype=np.uint8).astype(np.float32) / np.float32(255.0)
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def load_image_folder(
    folder: str | os.PathLike,
    split: str = "train",
    image_size: tuple[int, int] | None = None,
    grayscale: bool | None = None,
    name: str | None = None,
) -> Dataset:
    """Every image under folder (sorted) as (N, C, H, W); 90/10 seeded split; labels from subfolders."""
    split = check_split(split)
    folder = Path(folder)
    label = name if name is not None else str(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder")
    try:
        paths = list_images(folder)
    except OSError as e:
        raise DataError(f"{folder}: cannot list folder ({type(e).__name__}: {e})") from None
    if not paths:
        raise DataError(f"{folder}: no images found ({', '.join(IMAGE_SUFFIXES)}, searched recursively)")

    rel = [p.relative_to(folder).parts for p in paths]
    if all(len(r) >= 2 for r in rel):
        classes = sorted({r[0] for r in rel})
        index = {c: i for i, c in enumerate(classes)}
        labels = np.array([index[r[0]] for r in rel], dtype=np.int64)
    else:
        classes, labels = None, None

    idx = split_indices(len(paths), split)
    if len(idx) == 0:
        raise DataError(f"{label}: the {split!r} split is empty ({len(paths)} image(s) in all)")

    if grayscale is None:  # decided over ALL images, so train and test agree
        grayscale = all(_is_gray(p) for p in paths)
    mode = "L" if grayscale else "RGB"
    if image_size is None:
        w0, h0 = _open(paths[0]).size
        image_size = (h0, w0)
    c = 1 if grayscale else 3
    try:
        x = np.empty((len(idx), c, *image_size), dtype=np.float32)
    except (MemoryError, ValueError) as e:
        raise DataError(f"{label}: {len(idx)} images of {c}x{image_size} do not fit in memory ({e})") from None
    for row, i in enumerate(idx):
        x[row] = _to_array(_open(paths[i]), mode, image_size)
    y = torch.from_numpy(labels[idx]) if labels is not None else None
    return finish(torch.from_numpy(x), y, label, classes, split, None, None)
