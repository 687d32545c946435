"""Images of a .npy file read from disk batch by batch: training on data larger than memory.

`StreamedImages` stands where a Dataset's tensor would: it has a shape and a length, and indexing it with rows
(an int, a slice, a LongTensor, an array) reads just those rows from the file and returns them as a float32
tensor in [0, 1], with the numbers the in-memory split would hold, bit for bit (uint8 / 255). Rows are read by
positioned reads (os.preadv) of the sorted runs of file rows, not through a memory map: a map's pages would count
in the process's memory as an epoch touched them, and reads keep it flat (the OS's page cache still serves a file
that fits); a batch of scattered rows is read by several threads at once, so that a disk serves them in parallel.
The trainer draws its shuffle and its batches exactly as for a tensor, so a run, a resume, and any
number of processes train the same from either.
"""

from __future__ import annotations

import hashlib
import os
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from ..errors import DataError
from .dataset import physical_memory

CHUNK_BYTES = 64 * 2**20  # rows per read of a whole pass (checks, checksums): about 64 MiB of float32
STREAM_SHARE = 0.5  # of the machine's memory: a training split larger than this as float32 is read from disk
READERS = 8  # reads in flight at once for a batch of scattered rows (a file on disk, not in the page cache)


class StreamedImages:
    """Rows `rows` (file row numbers, in this split's order) of the image array in a .npy file, as (N, C, H, W)."""

    def __init__(self, path: str | os.PathLike, rows: np.ndarray | None = None) -> None:
        self.path = Path(path)
        try:
            arr = np.load(self.path, mmap_mode="r", allow_pickle=False)  # the header only: shape, dtype, offset
        except (OSError, ValueError) as e:
            raise DataError(f"{self.path}: cannot read .npy file ({e})".replace("\n", " ")) from None
        if not isinstance(arr, np.memmap) or arr.ndim not in (2, 3, 4) or not arr.flags.c_contiguous:
            raise DataError(f"{self.path}: only a C-ordered .npy array of images can be read from disk row by row")
        self.file_shape, self.file_dtype, self.offset = tuple(arr.shape), arr.dtype, int(arr.offset)
        self.channels_last = arr.ndim == 4 and arr.shape[1] not in (1, 3) and arr.shape[3] in (1, 3)
        s = self.file_shape
        self.item_shape: tuple[int, ...] = (
            (1, 1, s[1]) if arr.ndim == 2 else (1, s[1], s[2]) if arr.ndim == 3
            else (s[3], s[1], s[2]) if self.channels_last else tuple(s[1:]))
        self.row_bytes = self.file_dtype.itemsize * int(np.prod(s[1:], dtype=np.int64))
        self.rows = np.arange(s[0], dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        del arr
        self._fd: int | None = None
        self._ahead: tuple[np.ndarray, Future] | None = None  # rows being read for the next batch

    # --- what a tensor has --------------------------------------------------------------
    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.rows), *self.item_shape))

    @property
    def ndim(self) -> int:
        return 4

    dtype = torch.float32
    device = torch.device("cpu")

    def __len__(self) -> int:
        return len(self.rows)

    def size(self, dim: int | None = None) -> Any:
        return self.shape if dim is None else self.shape[dim]

    def __repr__(self) -> str:
        return f"StreamedImages({str(self.path)!r}, {len(self)} rows of {'x'.join(map(str, self.item_shape))})"

    def __getitem__(self, key: Any) -> torch.Tensor:
        """The rows `key` selects, read now, as a float32 tensor."""
        if isinstance(key, (int, np.integer)):
            return self[[int(key)]][0]
        if isinstance(key, slice):
            picked = self.rows[key]
        else:
            if isinstance(key, torch.Tensor):
                key = key.cpu().numpy()
            key = np.asarray(key)
            if key.dtype == bool:
                raise TypeError("StreamedImages takes row numbers, not a mask")
            picked = self.rows[key.astype(np.int64, copy=False)]
        ahead, self._ahead = self._ahead, None
        if ahead is not None and np.array_equal(ahead[0], picked):
            return torch.from_numpy(ahead[1].result())
        return torch.from_numpy(self._read(picked))

    def prefetch(self, key: Any) -> None:
        """Start reading the rows `key` selects in the background: the next `self[key]` takes them (the trainer asks
        for its next batch while it computes this one)."""
        if isinstance(key, torch.Tensor):
            key = key.cpu().numpy()
        picked = self.rows[np.asarray(key, dtype=np.int64)]
        self._ahead = (picked, _ahead_pool().submit(self._read, picked))

    def take(self, rows: Any) -> StreamedImages:
        """The same file's rows `rows` of this view (a subset or reordering), still on disk."""
        if isinstance(rows, torch.Tensor):
            rows = rows.cpu().numpy()
        view = StreamedImages.__new__(StreamedImages)
        view.__dict__.update(self.__dict__)
        view.rows, view._fd, view._ahead = self.rows[np.asarray(rows, dtype=np.int64)], None, None
        return view

    def chunks(self) -> Iterator[torch.Tensor]:
        """All rows in order, about 64 MiB of float32 at a time."""
        step = max(1, CHUNK_BYTES // (4 * int(np.prod(self.item_shape))))
        for a in range(0, len(self), step):
            yield self[a : a + step]

    def sha256(self) -> str:
        """The checksum of the float32 bytes of all rows in order: what `hashlib.sha256(x.numpy().tobytes())`
        gives for the same split held in memory."""
        h = hashlib.sha256()
        for chunk in self.chunks():
            h.update(chunk.numpy().tobytes())
        return h.hexdigest()

    # --- reading ------------------------------------------------------------------------
    def _file(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            weakref.finalize(self, os.close, self._fd)
        return self._fd

    def _read(self, file_rows: np.ndarray) -> np.ndarray:
        """The rows as float32 (n, C, H, W): each run of consecutive file rows one positioned read."""
        n = len(file_rows)
        if n and (file_rows.min() < 0 or file_rows.max() >= self.file_shape[0]):
            raise IndexError(f"row out of range for {self.file_shape[0]} rows")
        unique, inverse = np.unique(file_rows, return_inverse=True)
        raw = np.empty((len(unique), *self.file_shape[1:]), dtype=self.file_dtype)
        if hasattr(os, "preadv"):
            flat = raw.reshape(len(unique), -1).view(np.uint8).reshape(len(unique), self.row_bytes)
            breaks = np.flatnonzero(np.diff(unique) != 1) + 1
            runs = list(zip(np.r_[0, breaks].tolist(), np.r_[breaks, len(unique)].tolist()))
            fd = self._file()

            def read(part: list[tuple[int, int]]) -> None:
                for a, b in part:
                    got = os.preadv(fd, [flat[a:b]], self.offset + int(unique[a]) * self.row_bytes)
                    if got != (b - a) * self.row_bytes:
                        raise DataError(f"{self.path}: the file ended early (it changed while being read?)")

            if len(runs) < 2 * READERS:
                read(runs)
            else:  # many scattered rows: reads in flight together (each releases the GIL), for a disk's queue depth
                list(_readers().map(read, [runs[i::READERS] for i in range(READERS)]))
        else:  # no positioned reads (Windows): through a map of the file
            raw[:] = np.load(self.path, mmap_mode="r", allow_pickle=False)[unique]
        out = np.empty((len(unique), *self.item_shape), dtype=np.float32)
        out[:] = raw.transpose(0, 3, 1, 2) if self.channels_last else raw.reshape(out.shape)
        if self.file_dtype == np.uint8:
            out /= np.float32(255.0)
        return out if len(unique) == n and np.array_equal(unique, file_rows) else out[inverse.reshape(-1)]


_pool: ThreadPoolExecutor | None = None


def _readers() -> ThreadPoolExecutor:
    """The threads that read scattered rows at once (shared by every StreamedImages of the process)."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(READERS, thread_name_prefix="aelab-read")
    return _pool


_next_batch: ThreadPoolExecutor | None = None


def _ahead_pool() -> ThreadPoolExecutor:
    """The thread that reads the next batch while this one trains."""
    global _next_batch
    if _next_batch is None:
        _next_batch = ThreadPoolExecutor(1, thread_name_prefix="aelab-ahead")
    return _next_batch


def streams(stream: bool | None, rows: int, item_shape: tuple[int, ...]) -> bool:
    """Whether a split of `rows` items is read from disk: as `stream` says, or (None) when as float32 it would take
    more than STREAM_SHARE of this machine's memory."""
    if stream is not None:
        return bool(stream)
    total = physical_memory()
    return total is not None and 4 * rows * int(np.prod(item_shape, dtype=np.int64)) > STREAM_SHARE * total


def is_streamed(x: Any) -> bool:
    """Whether `x` is read from disk as it is used (a StreamedImages), not held in memory."""
    return isinstance(x, StreamedImages)
