"""A folder of images too large for memory: decoded once, image by image, into one .npy file in the user's cache,
which training then reads batch by batch (data/stream.py), as it does a .npy given by path.

The file holds every image of the folder (train and test splits are rows of it) at the size and channels the
loader chose, as uint8 when every decoded value is a multiple of 1/255 (8-bit files: the float32 tensor read back is
the one the in-memory loader makes, bit for bit), else as float32. Its name is a checksum of the folder's path, the
files' names, sizes and modification times, and the size and channels: a changed folder is decoded anew (and its
earlier decoding at that size removed, so that the cache does not grow with every change), an unchanged one is
reused (a resume, a second run). It is written under a temporary name and renamed when complete, so a killed
conversion leaves no file that could be taken for a whole one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import DataError
from .paths import default_cache_dir

VERSION = 1  # of the file's layout: a change makes every earlier cache a miss


def cache_dir() -> Path:
    """Where decoded folders are kept: ~/.cache/aelab/image-folders (or under $AELAB_CACHE)."""
    base = os.environ.get("AELAB_CACHE")
    return (Path(base).expanduser() if base else default_cache_dir()) / "image-folders"


def folder_key(folder: Path, paths: list[Path], size: tuple[int, int], grayscale: bool) -> str:
    """The name of a folder's decoded file: a checksum of the folder at this size and channels, then one of its
    files' names, sizes and modification times (what the file's contents depend on)."""
    where = json.dumps({"v": VERSION, "folder": str(folder.resolve()), "size": list(size), "grey": bool(grayscale)})
    files = []
    for p in paths:
        st = p.stat()
        files.append([p.relative_to(folder).as_posix(), st.st_size, st.st_mtime_ns])
    return f"{_digest(where)}-{_digest(json.dumps(files))}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def decoded_folder(folder: Path, paths: list[Path], size: tuple[int, int], grayscale: bool, label: str) -> Path:
    """The .npy (N, C, H, W) of every image in `paths` (in that order) decoded at `size`: reused when present,
    else written now with one image in memory at a time."""
    from .images import read_image

    c, (h, w) = (1 if grayscale else 3), size
    target = cache_dir() / f"{folder_key(folder, paths, size, grayscale)}.npy"
    if target.is_file():
        try:
            arr = np.load(target, mmap_mode="r", allow_pickle=False)
            if arr.shape == (len(paths), c, h, w) and arr.dtype in (np.uint8, np.float32):
                return target
        except (OSError, ValueError):
            pass  # unreadable: written anew below
    target.parent.mkdir(parents=True, exist_ok=True)
    for dtype in (np.uint8, np.float32):  # float32 only when some value is not a multiple of 1/255
        need = len(paths) * c * h * w * np.dtype(dtype).itemsize
        free = shutil.disk_usage(target.parent).free
        if need > free:
            raise DataError(f"{label}: decoding {len(paths)} images of {c}x{h}x{w} for reading from disk needs "
                            f"{need / 2**30:.1f} GiB in {target.parent}, which has {free / 2**30:.1f} GiB free "
                            f"(set AELAB_CACHE to a folder on a larger disk)")
        partial = target.with_name(f"{target.stem}.{os.getpid()}.partial.npy")
        print(f"aelab: {label}: decoding {len(paths):,} images of {c}x{h}x{w} once into {target} "
              f"({need / 2**20:,.0f} MiB; training reads it from disk)", file=sys.stderr, flush=True)
        try:
            if _write(partial, paths, size, grayscale, dtype, read_image):
                os.replace(partial, target)
                for old in target.parent.glob(f"{target.stem.split('-')[0]}-*.npy"):  # this folder before it changed
                    if old != target and not old.name.endswith(".partial.npy"):
                        old.unlink(missing_ok=True)
                return target
        finally:
            partial.unlink(missing_ok=True)
    raise AssertionError("float32 holds every decoded value")  # pragma: no cover


def _write(path: Path, paths: list[Path], size: tuple[int, int], grayscale: bool, dtype: type, read_image) -> bool:
    """Decode every image into `path` in order; False when a value does not fit uint8 exactly (then nothing is
    kept). Plain sequential writes, not a memory map: the process's memory stays one image."""
    c, (h, w) = (1 if grayscale else 3), size
    offset = int(np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(len(paths), c, h, w)).offset)
    last = time.monotonic()
    with open(path, "r+b") as f:
        f.seek(offset)
        for i, p in enumerate(paths):
            a = read_image(p, size, grayscale).numpy()
            if dtype is np.uint8:
                u = np.rint(a * np.float32(255.0)).astype(np.uint8)
                if not np.array_equal(u.astype(np.float32) / np.float32(255.0), a):
                    return False
                a = u
            f.write(np.ascontiguousarray(a, dtype=dtype).tobytes())
            if time.monotonic() - last > 10:
                print(f"aelab: decoded {i + 1:,} of {len(paths):,} images", file=sys.stderr, flush=True)
                last = time.monotonic()
    return True
