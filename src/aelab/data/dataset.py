"""The in-memory Dataset every loader returns, and the split / resize / colour steps they share."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from fractions import Fraction

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import DataError

__all__ = [
    "Dataset",
    "KINDS",
    "SPLITS",
    "DEFAULT_VAL_FRACTION",
    "check_split",
    "check_val_fraction",
    "check_split_args",
    "refuse_empty_test",
    "train_count",
    "split_indices",
    "check_image_size",
    "allocate",
    "format_bytes",
    "finish",
    "list_files",
]

SPLITS = ("train", "test", "all")
SPLIT_SEED = 0
DEFAULT_VAL_FRACTION = 0.1  # image folders and .npy files hold out 10% unless told otherwise


KINDS = ("image", "counts")


@dataclass
class Dataset:
    """One split as one float32 tensor, with optional int64 labels (N,).

    `kind` says what x holds: "image", (N, C, H, W) in [0, 1]; or "counts", (N, V) word counts of
    text documents over `vocabulary` (V words, the same list for every split of a data set), with
    `texts` the documents themselves (see data/text.py).

    `index` says which item of the source each row is: its row in `load_dataset(name, "all")`
    (the row of a .npy file or .tsv table, the position in a folder's sorted file list,
    scikit-learn's order for digits; for data sets with train and test files the row of the train
    file, and a test file row i is `train + i`, e.g. 60000 + i for MNIST). `files` holds the path
    of each row's file relative to the folder (folders only). A loader that does not know its rows'
    sources leaves index None. Rows keep the split's own order (the seeded permutation for train/test).
    `patch_split` says how a patch data set's train and test were drawn apart: "photo" or "region"
    (data/patches.py; a run records it, so that every later read splits alike); None for other data.
    """

    x: torch.Tensor
    y: torch.Tensor | None
    name: str
    classes: list[str] | None = None
    index: np.ndarray | None = None
    files: list[str] | None = None
    kind: str = "image"
    vocabulary: list[str] | None = None
    texts: list[str] | None = None
    patch_split: str | None = None

    def __post_init__(self) -> None:
        # programming errors of a loader, not user errors: a wrong kind would send counts to image code
        if self.kind not in KINDS:
            raise ValueError(f"Dataset kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "counts":
            if self.x.ndim != 2 or self.vocabulary is None or self.x.shape[1] != len(self.vocabulary):
                raise ValueError(f"{self.name}: counts need x of shape (N, len(vocabulary)), got {tuple(self.x.shape)}")
            if self.texts is not None and len(self.texts) != self.x.shape[0]:
                raise ValueError(f"{self.name}: {len(self.texts)} texts for {self.x.shape[0]} rows")

    def __len__(self) -> int:
        """Number of samples."""
        return int(self.x.shape[0])


def check_split(split: str) -> str:
    """The split name, lower-cased, or DataError if it is not train, test or all."""
    s = str(split).lower()
    if s not in SPLITS:
        raise DataError(f"unknown split {split!r}; expected train, test or all")
    return s


def check_val_fraction(val_fraction: float | None) -> float | None:
    """The held-out fraction as a float in [0, 1), or None (the data set's own split); else DataError."""
    if val_fraction is None:
        return None
    try:
        if isinstance(val_fraction, (bool, str, bytes)):
            raise TypeError
        f = float(val_fraction)
    except (TypeError, ValueError):
        f = float("nan")
    if not 0.0 <= f < 1.0:  # NaN fails too
        raise DataError(f"the held-out fraction (val_fraction) must be a number >= 0 and < 1, got {val_fraction!r}")
    return f


def check_split_args(
    source: str | os.PathLike, split: str, name: str | None, val_fraction: float | None
) -> tuple[str, float | None, str]:
    """(split, val_fraction, label) of a loader that holds out val_fraction of one file or folder.

    split and val_fraction are checked; label, the Dataset's name, is `name`, else str(source).
    The caller then calls refuse_empty_test itself, before reading any file: the text loaders
    refuse image options first, and that error must keep coming first.
    """
    split = check_split(split)
    val_fraction = check_val_fraction(val_fraction)
    label = name if name is not None else str(source)
    return split, val_fraction, label


def refuse_empty_test(name: str, split: str, val_fraction: float | None) -> None:
    """A one-line DataError for the test split when nothing is held out, before any file is read."""
    if split == "test" and val_fraction == 0:
        raise DataError(
            f"{name}: the held-out fraction (--val-fraction) is 0, so there is no test split; "
            "use the train or all split, or hold out a fraction > 0"
        )


def train_count(n: int, val_fraction: float | None = None) -> int:
    """How many of n samples are train when `val_fraction` of them are held out (None: 0.1).

    The fraction is read as the decimal it is written as (0.1 is exactly 1/10), so the default
    gives n * 9 // 10 as it always has. With n >= 2 and a fraction > 0, both parts get at least
    one sample; a fraction of 0 keeps every sample for training.
    """
    f = DEFAULT_VAL_FRACTION if val_fraction is None else val_fraction
    if f == 0:
        return n
    exact = Fraction(repr(float(f)))  # not Fraction(float): 0.1 as a binary float is not 1/10
    n_train = n * (exact.denominator - exact.numerator) // exact.denominator
    return n if n < 2 else max(1, min(n - 1, n_train))


def split_indices(n: int, split: str, seed: int = SPLIT_SEED, val_fraction: float | None = None) -> np.ndarray:
    """Indices of `split` in a fixed seeded train/test split of n samples ("all": 0..n-1), as int64.

    The train part is the first `train_count(n, val_fraction)` of a seed-0 permutation (in
    permutation order), the test part the rest (10% by default). The test split of a fraction
    of 0 is a DataError.
    """
    split = check_split(split)
    val_fraction = check_val_fraction(val_fraction)
    if split == "all":
        return np.arange(n, dtype=np.int64)
    refuse_empty_test("data set", split, val_fraction)
    perm = np.random.default_rng(seed).permutation(n).astype(np.int64)
    n_train = train_count(n, val_fraction)
    return perm[:n_train] if split == "train" else perm[n_train:]


def check_image_size(image_size: int | tuple[int, int] | list[int] | None) -> tuple[int, int] | None:
    """image_size as (H, W) positive ints, or None; an int means a square."""
    if image_size is None:
        return None
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        image_size = (int(image_size), int(image_size))
    try:
        h, w = image_size  # type: ignore[misc]
        h, w = int(h), int(w)
        ok = h == image_size[0] and w == image_size[1] and h > 0 and w > 0  # type: ignore[index]
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise DataError(f"image_size must be (height, width) with positive integers, got {image_size!r}")
    return h, w


def format_bytes(n: int) -> str:
    """A byte count for messages: 3.2 GiB, 512.0 MiB, 100 bytes."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def physical_memory() -> int | None:
    """This machine's memory in bytes, or None where the OS does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def check_fits(label: str, shape: tuple[int, ...], what: str) -> int:
    """The bytes a float32 array of `shape` needs; a one-line DataError if that is more than the machine has.

    Checked before allocating because a huge allocation may succeed lazily and be killed by the
    OS later, which no except clause can turn into a message.
    """
    need = 4 * int(np.prod(shape, dtype=np.float64))
    total = physical_memory()
    if total is not None and need > total:
        raise DataError(
            f"{label}: {what} as float32 need {format_bytes(need)}, more than this machine's "
            f"{format_bytes(total)} of memory; use fewer or smaller images (--image-size)"
        )
    return need


def allocate(label: str, shape: tuple[int, ...], what: str) -> np.ndarray:
    """An empty float32 array of `shape`, or a one-line DataError saying how much memory it needed."""
    need = check_fits(label, shape, what)
    try:
        return np.empty(shape, dtype=np.float32)
    except (MemoryError, ValueError):
        need_text = format_bytes(need)
        raise DataError(f"{label}: {what} as float32 need {need_text}, which is more memory than is free") from None


def to_grayscale(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) -> (N, 1, H, W) with ITU-R 601 luma weights (what Pillow's "L" uses)."""
    w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True).clamp_(0.0, 1.0)


def set_channels(x: torch.Tensor, grayscale: bool | None) -> torch.Tensor:
    """Convert to 1 channel (grayscale=True), 3 channels (False) or leave as is (None)."""
    if grayscale is None:
        return x
    c = x.shape[1]
    if grayscale and c == 3:
        return to_grayscale(x)
    if not grayscale and c == 1:
        return x.expand(-1, 3, -1, -1).contiguous()
    return x


def resize(x: torch.Tensor, size: tuple[int, int] | None) -> torch.Tensor:
    """Bilinear, antialiased resize of (N, C, H, W) to size=(H, W), clamped to [0, 1]."""
    if size is None or tuple(x.shape[-2:]) == tuple(size) or x.shape[0] == 0:
        return x
    out = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    return out.clamp_(0.0, 1.0)


def finish(
    x: torch.Tensor,
    y: torch.Tensor | None,
    name: str,
    classes: list[str] | None,
    split: str,
    image_size: tuple[int, int] | None,
    grayscale: bool | None,
    index: np.ndarray | None = None,
    files: list[str] | None = None,
) -> Dataset:
    """Apply channel conversion and resizing, refuse an empty split, and wrap in a Dataset.

    `index` and `files` (see Dataset) must have one entry per row of x when given.
    """
    if x.shape[0] == 0:
        raise DataError(f"{name}: the {split!r} split is empty")
    if index is not None:
        index = np.asarray(index, dtype=np.int64)
        if index.shape != (x.shape[0],):
            raise ValueError(f"{name}: index has shape {index.shape} for {x.shape[0]} rows")
    if files is not None and len(files) != x.shape[0]:
        raise ValueError(f"{name}: {len(files)} file names for {x.shape[0]} rows")
    n, c, h, w = x.shape if x.ndim == 4 else (x.shape[0], 1, 1, x[0].numel())  # only for the messages below
    c = 1 if grayscale and c == 3 else 3 if grayscale is False and c == 1 else c
    h, w = image_size if image_size is not None else (h, w)
    check_fits(name, (n, c, h, w), f"{n} images of {c}x{h}x{w}")  # the result's size, before torch allocates it
    try:
        x = resize(set_channels(x, grayscale), image_size).contiguous()
    except RuntimeError as e:  # torch's allocator: "can't allocate memory" / "not enough memory"
        if "alloc" not in str(e) and "memory" not in str(e):
            raise
        need = format_bytes(4 * n * c * h * w)
        what = f"{n} images of {c}x{h}x{w}"
        raise DataError(f"{name}: {what} as float32 need {need}, which is more memory than is free") from None
    return Dataset(x=x, y=y, name=name, classes=classes, index=index, files=files)


def binarize(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """A fixed Bernoulli draw of intensities in [0,1] (the seeded test set of 'dynamically binarised MNIST')."""
    g = torch.Generator().manual_seed(seed)
    return torch.bernoulli(x.clamp(0, 1), generator=g)


def list_files(folder: str | os.PathLike, suffixes: tuple[str, ...]) -> list[Path]:
    """Files under folder ending in one of suffixes (any case), recursively, sorted by their path
    relative to it; hidden files and folders (names starting with ".") are skipped."""
    folder = Path(folder)
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in files:
            if not f.startswith(".") and f.lower().endswith(suffixes):
                found.append(Path(root) / f)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def list_folder(folder: Path, lister: Callable[[Path], list[Path]]) -> list[Path]:
    """`lister(folder)`, or a one-line DataError when `folder` is not a folder or cannot be listed."""
    if not Path(folder).is_dir():
        raise DataError(f"{folder}: not a folder")
    try:
        return lister(Path(folder))
    except OSError as e:
        raise DataError(f"{folder}: cannot list folder ({type(e).__name__}: {e})") from None
