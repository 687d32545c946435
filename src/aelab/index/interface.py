"""`CodeIndex`: what every index backend shares, FAISS's binary-index calls and their checks, written once.

A backend (the in-process `Index`, the PostgreSQL table of `PostgresIndex`) holds codes by int64 id and
answers `range_search(queries, radius)` and `search(queries, k)`; this class checks what they are given
(the codes' form by `bits.packed_rows`, the model that made them, k, radius, method) and derives the rest:
`lookup` is a range search of radius 1, `to_faiss` copies `codes_and_ids()` into a FAISS index.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import CodeIndexError, IndexSourceError
from . import faiss_io
from .bits import packed_rows

METHODS = ("auto", "scan", "hash", "multi-index")  # how a search may be made; every way finds the same


def source_text(source: Mapping[str, Any] | None) -> str:
    """A source as canonical JSON (sorted keys): what is stored and compared."""
    return json.dumps(source, sort_keys=True, separators=(",", ":"), default=str)


def checked_source(source: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A source as plain JSON data (None stays None), or a one-line error for anything but a dict."""
    if source is not None and not isinstance(source, Mapping):
        raise CodeIndexError(f"an index source is a dict naming the model that made the codes, got {source!r}")
    return json.loads(source_text(source)) if source is not None else None


def checked_ids(ids: Any, n: int | None) -> np.ndarray:
    """Ids as int64 (n,), one per code (n=None: any number), or a one-line error."""
    a = np.asarray(ids)
    if a.ndim != 1 or (n is not None and len(a) != n) or not (np.issubdtype(a.dtype, np.integer) or a.size == 0):
        raise CodeIndexError(f"ids must be {'' if n is None else f'{n} '}integers, one per code, got {a.dtype} {a.shape}")
    if a.dtype == np.uint64 and a.size and a.max() > np.iinfo(np.int64).max:
        raise CodeIndexError("ids must fit in int64")
    return a.astype(np.int64)


def bucket_stats(sizes: np.ndarray) -> dict[str, Any]:
    """`stats()`'s distinct codes and bucket sizes, from the count of items of each distinct code."""
    q = np.percentile(sizes, [50, 99]) if len(sizes) else [0, 0]
    return {"distinct_codes": int(len(sizes)),
            "buckets": {"min": int(sizes.min()) if len(sizes) else 0, "median": float(q[0]), "p99": float(q[1]),
                        "max": int(sizes.max()) if len(sizes) else 0,
                        "mean": float(sizes.mean()) if len(sizes) else 0.0,
                        "singletons": int((sizes == 1).sum())}}


class CodeIndex:
    """The calls shared by every backend; a backend sets `bits` and `source` and defines `range_search`,
    `search`, `codes_and_ids`, `metadata` and `__len__`."""

    bits: int
    source: dict[str, Any] | None

    def __len__(self) -> int:
        raise NotImplementedError

    def _check_source(self, source: Mapping[str, Any] | None) -> None:
        if source is None or self.source is None:
            return
        if json.loads(source_text(source)) != self.source:
            raise IndexSourceError(f"these codes come from {source_text(source)} but the index holds codes from "
                                   f"{source_text(self.source)}; encode with the index's model or build a new index")

    def _rows(self, codes: Any, what: str, source: Mapping[str, Any] | None) -> np.ndarray:
        """Packed (n, words) uint64 rows by `bits.packed_rows`'s rule, after checking where they come from."""
        self._check_source(source)
        return packed_rows(codes, self.bits, what)

    @staticmethod
    def _check_method(method: str) -> None:
        if method not in METHODS:
            raise CodeIndexError(f"unknown search method {method!r}; choose one of {', '.join(METHODS)}")

    @staticmethod
    def _check_k(k: Any) -> int:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
            raise CodeIndexError(f"k must be a whole number >= 0, got {k!r}")
        return int(k)

    def _check_radius(self, radius: Any) -> int:
        if isinstance(radius, bool) or not isinstance(radius, (int, np.integer)) or radius < 0:
            raise CodeIndexError(f"radius must be a whole number of bits >= 0, got {radius!r}")
        return min(int(radius), self.bits + 1)

    def search(self, queries: Any, k: int, method: str = "auto",
               source: Mapping[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def range_search(self, queries: Any, radius: int, method: str = "auto",
                     source: Mapping[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError

    def lookup(self, codes: Any, source: Mapping[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The items whose code equals each given code exactly: (lims, I), code i's ids I[lims[i]:lims[i + 1]],
        ascending."""
        lims, _, ids = self.range_search(codes, 1, source=source)
        return lims, ids

    def codes_and_ids(self) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def metadata(self, ids: Any) -> list[dict[str, Any]] | None:
        """What was stored beside each id (label, file, text), or None where the backend keeps codes only."""
        return None

    def to_faiss(self, kind: str = "flat", hash_bits: int | None = None) -> Any:
        """The same codes and ids in a FAISS binary index: "flat" (IndexBinaryFlat, or IndexBinaryIDMap over one
        when the ids are not 0..n-1) or "hash" (IndexBinaryHash on the first `hash_bits` bits, default
        min(bits, 64)). FAISS needs bits % 8 == 0."""
        codes, ids = self.codes_and_ids()
        return faiss_io.to_faiss(codes, ids, self.bits, kind, hash_bits)
