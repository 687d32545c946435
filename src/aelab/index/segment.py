"""One immutable segment of an index: codes grouped by hash bucket, their ids, and the key tables over them.

A segment never changes once built; appends add segments and merges replace several by one, so a
segment's files can be memory-mapped read-only and shared by every reader.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import CodeIndexError
from . import kernels
from .bits import U64, code_keys, extract, words_for

# A table of keys of width w is a direct-address offsets array when 2**w slots cost at most this many
# offsets per item (or fit in 2**10): a probe is then two array reads instead of a binary search.
DIRECT_SLOTS_PER_ITEM = 4
DIRECT_MAX_WIDTH = 26
AUTO_MAX_TABLES = 8
_LOW32 = U64(0xFFFFFFFF)


def _key_dtype(width: int) -> np.dtype:
    for dt, w in ((np.uint8, 8), (np.uint16, 16), (np.uint32, 32)):
        if width <= w:
            return np.dtype(dt)
    return np.dtype(U64)


def _pos_dtype(n: int) -> np.dtype:
    return np.dtype(np.uint32) if n < 2**32 else np.dtype(np.int64)


def use_direct(width: int, n: int) -> bool:
    return width <= DIRECT_MAX_WIDTH and 2**width <= max(DIRECT_SLOTS_PER_ITEM * n, 2**10)


def bucket_bits(n: int) -> int:
    """Prefix bits of the full-code table's directory: about one to two items per bucket."""
    return int(min(DIRECT_MAX_WIDTH, max(1, round(math.log2(max(n, 2))) - 1)))


def sort_by(keys: np.ndarray, width: int) -> np.ndarray:
    """Stable argsort of keys < 2**width: for width <= 32, one np.sort of (key << 32 | position)."""
    n = len(keys)
    if width <= 32 and n < 2**32:
        packed = (keys.astype(U64) << U64(32)) | np.arange(n, dtype=U64)
        packed.sort()  # a plain sort of uint64 is several times faster than a stable argsort
        return (packed & _LOW32).astype(np.int64)
    return np.argsort(keys, kind="stable")


def _offsets(keys_sorted: np.ndarray, slots: int, n: int) -> np.ndarray:
    counts = np.bincount(keys_sorted.astype(np.intp), minlength=slots)
    offsets = np.zeros(slots + 1, _pos_dtype(n + 1))
    np.cumsum(counts, out=offsets[1:])
    return offsets


class KeyTable:
    """The items of a segment grouped by a key.

    kind "direct": items with key k are order[offsets[k]:offsets[k + 1]]; "sorted": np.searchsorted on
    the sorted `keys`; "bucketed" (the full-code table only): offsets over the top `prefix` bits of the
    code's hash, so a bucket holds the code's run and a few other codes, which the caller tells apart.
    `order` maps table rows to item positions (None: the items are stored in table order).
    """

    def __init__(self, kind: str, width: int, n: int, order: np.ndarray | None, offsets: np.ndarray | None,
                 keys: np.ndarray | None, prefix: int = 0) -> None:
        self.kind, self.width, self.n, self.prefix = kind, width, n, prefix
        self.order, self.offsets, self.keys = order, offsets, keys

    @classmethod
    def build_sub(cls, keys: np.ndarray, width: int) -> KeyTable:
        """A substring table over `keys` (n,) uint64 of `width` bits."""
        n = len(keys)
        order = sort_by(keys, width)
        keys = keys[order]
        order = order.astype(_pos_dtype(n))
        if use_direct(width, n):
            return cls("direct", width, n, order, _offsets(keys, 2**width, n), None)
        return cls("sorted", width, n, order, None, keys.astype(_key_dtype(width)))

    def probe(self, queries: np.ndarray, start: int, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every item whose key ("direct" and "sorted" tables) is bits [start, start + width) of queries[r] XOR a
        mask: (r, position), by r, mask, then row."""
        table = self.offsets if self.kind == "direct" else self.keys
        return kernels.probe_table(self.kind, table, self.order, queries, start, self.width, masks)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {}
        if self.order is not None:
            out["order"] = self.order
        if self.offsets is not None:
            out["offsets"] = self.offsets
        if self.keys is not None:
            out["keys"] = self.keys
        return out

    def meta(self) -> dict[str, Any]:
        return {"kind": self.kind, "width": self.width, "prefix": self.prefix}

    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays().values())


def auto_tables(bits: int, n: int) -> int:
    """Number of multi-index substrings: about bits / log2(n) (Norouzi, Punjani & Fleet, CVPR 2012)."""
    need = math.ceil(bits / 64)  # a substring key is at most one word
    m = max(need, math.ceil(bits / max(math.log2(max(n, 2)), 16.0)))
    return min(m, max(AUTO_MAX_TABLES, need), bits)


def substring_layout(bits: int, m: int) -> list[tuple[int, int]]:
    """m disjoint substrings covering all bits, widths differing by at most one: [(start, width)]."""
    base, extra = divmod(bits, m)
    out, start = [], 0
    for j in range(m):
        w = base + (1 if j < extra else 0)
        out.append((start, w))
        start += w
    return out


@dataclass
class Segment:
    """Codes (n, W) in full-table order with ids (n,) beside them, the full-code table, the substring tables.

    Full-table order: by code when the codes index a direct table, else by hash bucket; then by id,
    so a lookup returns ids ascending."""

    name: str
    bits: int
    codes: np.ndarray
    ids: np.ndarray
    full: KeyTable
    subs: list[tuple[int, int, KeyTable]]
    cache: dict = field(default_factory=dict, repr=False, compare=False)  # search plans by (what, radius)

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def words(self) -> int:
        return self.codes.shape[1]

    @classmethod
    def build(cls, name: str, bits: int, codes: np.ndarray, ids: np.ndarray, tables: int | None) -> Segment:
        """Order the items and build the tables; `tables`: number of substrings (None: `auto_tables`)."""
        codes = np.ascontiguousarray(codes, dtype=U64)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        n, w = codes.shape
        if n > 1 and (ids[1:] < ids[:-1]).any():  # id order first; the stable sorts below keep it
            first = np.argsort(ids, kind="stable")
            codes, ids = codes[first], ids[first]
        if w == 1 and use_direct(bits, n):
            keys = codes[:, 0]
            order = sort_by(keys, bits)
            codes, ids = codes[order], ids[order]
            full = KeyTable("direct", bits, n, None, _offsets(keys[order], 2**bits, n), None)
        else:
            p = bucket_bits(n)
            slots = code_keys(codes) >> U64(64 - p)
            order = sort_by(slots, p)
            codes, ids = codes[order], ids[order]
            full = KeyTable("bucketed", 64, n, None, _offsets(slots[order], 2**p, n), None, prefix=p)
        m = auto_tables(bits, n) if tables is None else tables
        subs = []
        if m > 1:
            for start, width in substring_layout(bits, m):
                subs.append((start, width, KeyTable.build_sub(extract(codes, start, width), width)))
        return cls(name, bits, codes, ids, full, subs)

    def find(self, queries: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every item whose code is queries[r] ^ masks[a] (M, W) exactly: (r, position, distance), by r, a, then
        position."""
        prefix = 0 if self.full.kind == "direct" else self.full.prefix
        return kernels.find_codes(self.codes, self.full.offsets, prefix, queries, masks)

    # -- persistence -------------------------------------------------------------------------------

    def arrays(self) -> dict[str, np.ndarray]:
        """The segment's files: name -> array."""
        out = {"codes.npy": self.codes, "ids.npy": self.ids}
        for k, a in self.full.arrays().items():
            out[f"full.{k}.npy"] = a
        for j, (_, _, t) in enumerate(self.subs):
            for k, a in t.arrays().items():
                out[f"sub{j}.{k}.npy"] = a
        return out

    def meta(self) -> dict[str, Any]:
        return {"name": self.name, "items": self.n, "full": self.full.meta(),
                "substrings": [{"start": s, **t.meta()} for s, _, t in self.subs]}

    @classmethod
    def from_arrays(cls, meta: dict[str, Any], bits: int, arrays: dict[str, np.ndarray], where: str) -> Segment:
        """Rebuild a segment from its files' arrays (memory-mapped or loaded), checking every shape."""
        n, w = int(meta["items"]), words_for(bits)
        pos = (np.uint32, np.int64)

        def get(name: str, shape: tuple[int, ...], dtypes: tuple) -> np.ndarray:
            if name not in arrays:
                raise CodeIndexError(f"index segment file {where}/{name} is missing from the manifest")
            a = arrays[name]
            if a.shape != shape or a.dtype not in [np.dtype(d) for d in dtypes]:
                raise CodeIndexError(f"index segment file {where}/{name} holds {a.dtype} {a.shape}, "
                                     f"expected {np.dtype(dtypes[0]).name} {shape}")
            return a

        def table(t: dict[str, Any], prefix: str, ordered: bool) -> KeyTable:
            kind, width, p = t.get("kind"), int(t.get("width", 0)), int(t.get("prefix", 0))
            order = get(f"{prefix}.order.npy", (n,), pos) if ordered else None
            if kind == "direct" and 1 <= width <= DIRECT_MAX_WIDTH:
                return KeyTable(kind, width, n, order, get(f"{prefix}.offsets.npy", (2**width + 1,), pos), None)
            if kind == "bucketed" and 1 <= p <= DIRECT_MAX_WIDTH and not ordered:
                return KeyTable(kind, 64, n, None, get(f"{prefix}.offsets.npy", (2**p + 1,), pos), None, prefix=p)
            if kind == "sorted" and ordered and 1 <= width <= 64:
                keys = get(f"{prefix}.keys.npy", (n,), (_key_dtype(width).type,))
                return KeyTable(kind, width, n, order, None, keys)
            raise CodeIndexError(f"index segment {where} has an unknown table {t!r} in the manifest")

        try:
            full = table(meta["full"], "full", False)
            subs = [(int(t["start"]), int(t["width"]), table(t, f"sub{j}", True))
                    for j, t in enumerate(meta["substrings"])]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise CodeIndexError(f"index segment {where} is described wrongly in the manifest") from None
        codes = get("codes.npy", (n, w), (U64,))
        ids = get("ids.npy", (n,), (np.int64,))
        return cls(meta["name"], bits, codes, ids, full, subs)
