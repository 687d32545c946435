"""The compiled inner loops (`_kernels.c`) when they were built, as functions on numpy arrays.

`ENABLED` is False where the extension is missing (no C compiler at install) or the environment sets
AELAB_INDEX_KERNELS=0; search.py then runs its numpy routines, which give the same hits.
"""

from __future__ import annotations

import os

import numpy as np

from .segment import Segment

try:
    from . import _kernels as _k
except ImportError:  # built without a compiler: numpy does the work
    _k = None

ENABLED = _k is not None and os.environ.get("AELAB_INDEX_KERNELS", "1") != "0"
SCAN = getattr(_k, "scan", "numpy")  # how one-word codes are scanned: "avx512-vpopcntdq", "scalar" or "numpy"



def engine() -> str:
    """What runs the searches: "compiled (avx512-vpopcntdq)", "compiled (scalar)" or "numpy"."""
    return f"compiled ({SCAN})" if ENABLED else "numpy"


Triple = tuple[np.ndarray, np.ndarray, np.ndarray]  # query, position, distance


def _c(a: np.ndarray, dtype=None) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=dtype)


# Callers pass C-contiguous uint64 queries and masks and int32 mask distances, as search.py's are built;
# the buffer protocol refuses a non-contiguous array, but a wrong dtype would be read as raw bytes.


def _triple(raw: tuple[bytearray, bytearray, bytearray]) -> Triple:
    q, p, d = raw
    return np.frombuffer(q, np.int64), np.frombuffer(p, np.int64), np.frombuffer(d, np.int32)


def _codes(seg: Segment) -> np.ndarray:
    c = seg.cache.get("kernel codes")
    if c is None:
        c = seg.cache["kernel codes"] = _c(seg.codes)
    return c


def scan_topk(seg: Segment, queries: np.ndarray, k: int) -> Triple:
    return _triple(_k.scan_topk(_codes(seg), seg.words, queries, int(k), seg.bits))


def scan_radius(seg: Segment, queries: np.ndarray, r: int) -> Triple:
    return _triple(_k.scan_radius(_codes(seg), seg.words, queries, int(r)))


def probe_full(seg: Segment, queries: np.ndarray, masks: np.ndarray, mask_d: np.ndarray) -> Triple:
    """Items whose code is query ^ mask, with that mask's distance: (query, position, distance)."""
    args = seg.cache.get("kernel full")
    if args is None:
        t = seg.full
        args = seg.cache["kernel full"] = (_codes(seg), seg.words, 0 if t.kind == "direct" else 1, t.prefix,
                                           _c(t.offsets), t.offsets.itemsize)
    return _triple(_k.probe_full(*args, queries, masks, mask_d))


_NO_MASKS = np.zeros(0, np.uint64)


def _sub_tables(seg: Segment) -> list[tuple]:
    tables = seg.cache.get("kernel subs")
    if tables is None:
        tables = []
        for start, width, t in seg.subs:
            data = t.offsets if t.kind == "direct" else t.keys
            tables.append((start, width, _c(t.order), t.order.itemsize, 0 if t.kind == "direct" else 1, _c(data),
                           data.itemsize))
        seg.cache["kernel subs"] = tables
    return tables


def mih_radius(seg: Segment, queries: np.ndarray, r: int, radii: list[int], masks: list[np.ndarray | None]) -> Triple:
    """Every item within r once each; table j probed with masks[j] (radius radii[j], < 0: not probed)."""
    tables = [(s, w, rj, _NO_MASKS if mj is None or rj < 0 else mj, *rest)
              for (s, w, *rest), rj, mj in zip(_sub_tables(seg), radii, masks)]
    return _triple(_k.mih_radius(_codes(seg), seg.words, tables, queries, int(r)))
