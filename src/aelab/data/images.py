"""Image files as float32 (C, H, W) arrays in [0, 1] (`read_image`), and a folder of them as one Dataset.

A folder's images are found recursively (PNG, JPEG, BMP, GIF, TIFF, WebP); hidden files and folders
(names starting with ".") are skipped. Images in first-level subfolders get those folders' names as
classes (sorted); a folder of loose images has no labels. Every image is resized to one size: the
given image_size, else the first file's (after EXIF rotation), with a one-line warning on stderr
naming how many files differ from it. Dataset.files holds each row's path relative to the folder,
Dataset.index its position in the sorted file list.

Decoding rules (one set, for the folder loader and for `aelab.viz.load_image` alike):
- EXIF orientation is applied; a broken EXIF block is ignored (the pixels are still good).
- 8-bit modes: palette images (P, PA) are resolved to their colours; alpha is dropped, not
  composited; 1, L, LA count as grey, every other mode (RGB, RGBA, CMYK, YCbCr, ...) is
  converted to RGB by Pillow. Values are uint8 / 255.
- High-depth grey modes: I;16* and I (how Pillow opens 16-bit PNG / TIFF) are divided by
  65535, F is taken as is; both are clipped to [0, 1] (NaN -> 0) before resizing.
- Kind: grayscale=None keeps the file's own kind: grey modes and palettes whose used colours
  are all grey give C=1, everything else C=3. grayscale=True converts colour with ITU-R 601
  luma (Pillow's "L"); False repeats a grey channel three times.
- Resizing (size=(H, W)) is Pillow's bilinear filter, antialiased when shrinking, done after
  the grey/colour conversion (in 8 bits for 8-bit modes, in float for high-depth ones).
- A missing, truncated or undecodable file is a one-line DataError naming the file.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .dataset import (
    Dataset,
    allocate,
    check_image_size,
    check_split_args,
    finish,
    list_files,
    list_folder,
    refuse_empty_test,
    split_indices,
)
from .stream import streams

__all__ = ["read_image", "image_is_grey", "load_image_folder", "IMAGE_SUFFIXES", "list_images"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_HIGH_DEPTH = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
_GREY_MODES = {"1", "L", "LA", "La"} | _HIGH_DEPTH
_EXIF_ORIENTATION = 0x0112


def list_images(folder: Path) -> list[Path]:
    """Image files under folder, recursively, sorted by their path relative to it; hidden names skipped."""
    return list_files(folder, IMAGE_SUFFIXES)


def _unreadable(path: Path, e: BaseException) -> DataError:
    if isinstance(e, FileNotFoundError):
        return DataError(f"{path}: no such file")
    if isinstance(e, IsADirectoryError) or path.is_dir():
        return DataError(f"{path}: a folder, not an image file")
    detail = " ".join(str(e).split())
    return DataError(f"{path}: not a readable image ({type(e).__name__}{': ' + detail if detail else ''})")


def _palette_is_grey(im) -> bool:
    """Whether every palette entry the pixels use is a grey (R = G = B)."""
    pal = np.asarray(im.getpalette() or [], dtype=np.int32)
    rgb = pal[: 3 * (len(pal) // 3)].reshape(-1, 3)
    index = np.asarray(im)
    used = np.unique(index[..., 0] if index.ndim == 3 else index)  # PA: (index, alpha) pairs
    used = used[used < len(rgb)]  # indices past the palette's end are not colours it defines
    return bool(np.all(rgb[used, 0] == rgb[used, 1]) and np.all(rgb[used, 1] == rgb[used, 2]))


def _is_grey(im) -> bool:
    """The file's own kind: a grey mode, or a palette whose used colours are all grey."""
    if im.mode in _GREY_MODES:
        return True
    return im.mode in ("P", "PA") and _palette_is_grey(im)


def _orientation(im) -> int:
    """The EXIF orientation tag (1 = upright), 1 for a broken EXIF block (the pixels are still good)."""
    try:
        return int(im.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:
        return 1


def _orient(im):
    """The image turned upright by its EXIF orientation tag (a new image, or im itself)."""
    from PIL import Image

    orientation = _orientation(im)
    method = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }.get(orientation)
    return im if method is None else im.transpose(method)


def _to_array(im, grey: bool, size: tuple[int, int] | None) -> np.ndarray:
    """A decoded image as float32 (C, H, W) in [0, 1], C = 1 if grey else 3, resized to size=(H, W)."""
    from PIL import Image

    if im.mode in _HIGH_DEPTH:  # scale to [0, 1] before anything else, so resizing cannot overflow
        a = np.asarray(im, dtype=np.float32)
        if im.mode != "F":
            a = a / np.float32(65535.0)
        a = np.clip(np.nan_to_num(a, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
        if size is not None and a.shape != size:
            f = Image.fromarray(np.ascontiguousarray(a), mode="F").resize((size[1], size[0]), Image.Resampling.BILINEAR)
            a = np.clip(np.asarray(f, dtype=np.float32), 0.0, 1.0)
        return np.ascontiguousarray(a[None] if grey else np.repeat(a[None], 3, axis=0))
    target = "L" if grey else "RGB"
    if im.mode in ("P", "PA"):  # a palette index means nothing as a grey level: resolve the colours first
        im = im.convert("RGBA")
    if im.mode != target:
        base = "L" if im.mode in ("1", "L", "LA", "La") else "RGB"
        if im.mode != base:  # drops alpha; CMYK, YCbCr, ... become RGB
            im = im.convert(base)
        if im.mode != target:  # RGB -> L is ITU-R 601 luma; L -> RGB repeats the grey
            im = im.convert(target)
    if size is not None and im.size != (size[1], size[0]):
        im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    a = np.asarray(im, dtype=np.float32) / np.float32(255.0)
    return np.ascontiguousarray(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))


def read_image(
    path: str | os.PathLike, size: int | tuple[int, int] | None = None, grayscale: bool | None = None
) -> torch.Tensor:
    """One image file as a float32 (C, H, W) tensor in [0, 1]; size=(H, W) resizes, grayscale forces C=1/3."""
    from PIL import Image

    path = Path(path)
    size = check_image_size(size)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about odd but readable files; errors still raise
            with Image.open(path) as im:
                im.load()
                im = _orient(im)
                grey = _is_grey(im) if grayscale is None else bool(grayscale)
                a = _to_array(im, grey, size)
    except Exception as e:  # Pillow raises many types for bad files; all mean "unreadable"
        raise _unreadable(path, e) from None
    return torch.from_numpy(a)


def read_alpha(path: str | os.PathLike) -> np.ndarray | None:
    """An image file's alpha channel as uint8 (H, W), turned upright like `read_image`'s pixels; None without one."""
    from PIL import Image

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                if "A" not in im.getbands() and not (im.mode == "P" and "transparency" in im.info):
                    return None
                im.load()
                return np.asarray(_orient(im).convert("RGBA").getchannel("A"))
    except Exception as e:
        raise _unreadable(path, e) from None


def _header(path: Path, need_grey: bool) -> tuple[bool | None, tuple[int, int]]:
    """(is grey or None when not asked, (H, W) as read_image sees it, after EXIF rotation)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                w, h = im.size
                # Pillow decodes a whole PNG to look for an eXIf chunk after the pixels; writers put
                # it before them, so a PNG without one in its header is taken as upright here
                header_only = im.format == "PNG" and "exif" not in im.info
                if not header_only and _orientation(im) in (5, 6, 7, 8):  # the four that turn it 90 degrees
                    h, w = w, h
                return (_is_grey(im) if need_grey else None), (h, w)
    except Exception as e:
        raise _unreadable(path, e) from None


def image_is_grey(path: str | os.PathLike) -> bool:
    """Whether read_image(path) keeps one channel; reads only the header, except for palette images."""
    from PIL import Image

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                return _is_grey(im)
    except Exception as e:
        raise _unreadable(path, e) from None


def load_image_folder(
    folder: str | os.PathLike,
    split: str = "train",
    image_size: tuple[int, int] | None = None,
    grayscale: bool | None = None,
    name: str | None = None,
    val_fraction: float | None = None,
    stream: bool | None = None,
) -> Dataset:
    """Every image under folder (sorted) as (N, C, H, W); seeded split holding out val_fraction (None:
    10%); labels from subfolders; one size for all (image_size, else the first file's, with a warning).
    stream: True reads the split from disk as training goes, after decoding the folder once into the user's cache
    (data/folder_cache.py); None does so when the split would take more than half of this machine's memory."""
    folder = Path(folder)
    split, val_fraction, label = check_split_args(folder, split, name, val_fraction)
    refuse_empty_test(label, split, val_fraction)
    paths = list_folder(folder, list_images)
    if not paths:
        raise DataError(f"{folder}: no images found ({', '.join(IMAGE_SUFFIXES)}, searched recursively)")

    rel = [p.relative_to(folder).parts for p in paths]
    if all(len(r) >= 2 for r in rel):
        classes = sorted({r[0] for r in rel})
        class_index = {c: i for i, c in enumerate(classes)}
        labels = np.array([class_index[r[0]] for r in rel], dtype=np.int64)
    else:
        classes, labels = None, None

    idx = split_indices(len(paths), split, val_fraction=val_fraction)
    if len(idx) == 0:
        raise DataError(f"{label}: the {split!r} split is empty ({len(paths)} image(s) in all)")

    # decided over ALL images (not the split's), so train and test agree on kind and size
    headers = [_header(p, grayscale is None) for p in paths] if grayscale is None or image_size is None else []
    if grayscale is None:
        grayscale = all(grey for grey, _ in headers)
    if image_size is None:  # the first file's size as read_image sees it (after EXIF rotation)
        image_size = tuple(read_image(paths[0], None, grayscale).shape[1:])  # type: ignore[assignment]
        _warn_mixed_sizes(label, [image_size] + [size for _, size in headers[1:]], image_size)
    c = 1 if grayscale else 3
    h, w = image_size
    y = torch.from_numpy(labels[idx]) if labels is not None else None
    files = ["/".join(rel[i]) for i in idx]
    if split != "test" and streams(stream, len(idx), (c, h, w)):
        from .folder_cache import decoded_folder
        from .stream import StreamedImages

        decoded = decoded_folder(folder, paths, (h, w), grayscale, label)
        return Dataset(x=StreamedImages(decoded, idx), y=y, name=label, classes=classes, index=idx, files=files)
    x = allocate(label, (len(idx), c, h, w), f"{len(idx)} images of {c}x{h}x{w}")
    for row, i in enumerate(idx):
        x[row] = read_image(paths[i], image_size, grayscale).numpy()
    return finish(torch.from_numpy(x), y, label, classes, split, None, None, index=idx, files=files)


def _warn_mixed_sizes(label: str, sizes: list[tuple[int, int]], chosen: tuple[int, int]) -> None:
    """One line on stderr when images differ in size: the resize is then the loader's choice, not the user's."""
    differ = sum(1 for s in sizes if tuple(s) != tuple(chosen))
    if differ:
        h, w = chosen
        print(
            f"aelab: warning: {label}: {differ} of {len(sizes)} images are not {h}x{w} (the first file's size) "
            f"and are resized to it; choose the size with --image-size H,W",
            file=sys.stderr,
        )
