"""The primitives the search ways call, each defined once in numpy here, and compiled when it could be.

scan.py, hashtable.py and multiindex.py are each one algorithm in Python; the inner loops they repeat are
these primitives, on plain arrays:

    scan_within(codes, queries, radius)       every (query, position, distance) with distance < radius
    scan_nearest(codes, queries, k, bits)     each query's items up to its k-th smallest distance
    probe_table(kind, table, order, queries, start, width, masks)  every (query row, position) whose key is
                                              a query's bits start.. ^ a mask
    find_codes(codes, offsets, prefix, queries, masks)  every (query row, position, distance): code = query ^ mask
    verify(codes, queries, rows, pos, sub_bits, j, rho, limit)  the multi-index candidates a step keeps

The numpy function of each is the reference and the fallback. Where the optional extension
(`_kernels.c`, built by setup.py when a C compiler is found) loaded, the module-level names are its
compiled twins, which return the same arrays (a test checks each on random inputs); AELAB_INDEX_KERNELS=0
in the environment keeps numpy. `engine()` says which runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import numpy as np

from .bits import U64, code_keys, extract, popcount
from .hits import query_chunks

try:
    from . import _kernels as _k
except ImportError:  # built without a compiler: numpy does the work
    _k = None

ENABLED = _k is not None and os.environ.get("AELAB_INDEX_KERNELS", "1") != "0"

Triple = tuple[np.ndarray, np.ndarray, np.ndarray]  # query row (int64), position (int64), distance (int32)
Pair = tuple[np.ndarray, np.ndarray]

BLOCK = 1 << 16  # query x code pairs per numpy block: a block's temporaries stay in the L2 cache
GROUP = 8  # queries scanned together in numpy: more would shorten the blocks until numpy's per-call cost dominates
_E64 = np.zeros(0, np.int64)


def engine() -> str:
    """What runs the primitives: "compiled (avx512-vpopcntdq)", "compiled (scalar)" or "numpy"."""
    return f"compiled ({_k.scan})" if ENABLED else "numpy"


# -- numpy: the reference ------------------------------------------------------------------------------


def _blocks(codes: np.ndarray, bits: int, queries: np.ndarray,
            first: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(first position, distances (Q, c)) over the codes, the first block at most `first` codes long;
    the distance array is reused from block to block."""
    (q, w), n = queries.shape, len(codes)
    c = min(max(256, BLOCK // max(q * w, 1)), max(n, 1))
    starts = list(range(0, n, c))
    if first is not None and first < c:
        starts = [0] + list(range(first, n, c))
    dt = np.uint8 if bits <= 255 else np.uint16
    xbuf, dbuf = np.empty((q, c), U64), np.empty((q, c), dt)
    tmp = np.empty((q, c), np.uint8) if w > 1 else None
    # one query: 1-D operands, which numpy runs faster than the same broadcast over rows
    cols = [queries[0, j] if q == 1 else queries[:, j : j + 1] for j in range(w)]

    def xor(j: int, block: np.ndarray, out: np.ndarray) -> None:
        if q == 1:
            np.bitwise_xor(block[:, j], cols[j], out=out[0])
        else:
            np.bitwise_xor(cols[j], block[None, :, j], out=out)

    for i, s in enumerate(starts):
        block = codes[s : starts[i + 1] if i + 1 < len(starts) else n]
        k = len(block)
        xb, db = xbuf[:, :k], dbuf[:, :k]
        xor(0, block, xb)
        if w == 1:
            popcount(xb, out=db)
        else:  # word by word into one sum: no (Q, c, W) temporary
            tb = tmp[:, :k]
            popcount(xb, out=tb)
            db[...] = tb
            for j in range(1, w):
                xor(j, block, xb)
                popcount(xb, out=tb)
                np.add(db, tb, out=db)
        yield s, db


def _true_cells(mask: np.ndarray) -> Pair:
    """Row and column of the True cells of a 2-D mask (flatnonzero: several times faster than nonzero)."""
    flat = np.flatnonzero(mask)
    if mask.shape[0] == 1:
        return np.zeros(len(flat), np.int64), flat
    return np.divmod(flat, mask.shape[1])


def _cat(parts: list[Triple]) -> Triple:
    if not parts:
        return _E64, _E64, np.zeros(0, np.int32)
    if len(parts) == 1:
        return parts[0]
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]


def _by_query(parts: list[Triple]) -> Triple:
    """The hits ordered by query, then position (the compiled primitives' order)."""
    q, p, d = _cat(parts)
    if len(q) > 1:
        order = np.lexsort((p, q))
        q, p, d = q[order], p[order], d[order]
    return q.astype(np.int64, copy=False), p.astype(np.int64, copy=False), d


def _by_group(scan: Callable[[np.ndarray], Triple], queries: np.ndarray) -> Triple:
    """`scan` over GROUP queries at a time, with the hits' query rows those of the whole batch."""
    parts = []
    for s in range(0, len(queries), GROUP):
        q, p, d = scan(queries[s : s + GROUP])
        parts.append((q + s, p, d))
    return _by_query(parts)


def scan_within(codes: np.ndarray, queries: np.ndarray, radius: int) -> Triple:
    """Every (query row, position, distance) with distance < radius, by query then position."""
    return _by_group(lambda qs: _within(codes, qs, radius), queries)


def _within(codes: np.ndarray, queries: np.ndarray, radius: int) -> Triple:
    parts = []
    for s, d in _blocks(codes, 64 * codes.shape[1], queries):
        qi, p = _true_cells(d < radius)
        if len(qi):
            parts.append((qi, p + s, d[qi, p].astype(np.int32)))
    return _cat(parts)


def scan_nearest(codes: np.ndarray, queries: np.ndarray, k: int, bits: int) -> Triple:
    """Each query's items up to its k-th smallest distance (ties at that distance included), k >= 1.

    Counting selection: distances are small integers, so a histogram of the distances kept gives each
    query's current k-th distance T; only items within T are kept, T only falls, and nothing is sorted.
    A short first block sets T before the long ones: keeping all of a long block would cost more."""
    return _by_group(lambda qs: _nearest(codes, qs, k, bits), queries)


def _nearest(codes: np.ndarray, queries: np.ndarray, k: int, bits: int) -> Triple:
    q, b = len(queries), bits
    thr = np.full((q, 1), b, np.uint8 if b <= 255 else np.uint16)
    hist = np.zeros((q, b + 1), np.int64)
    rows = (np.arange(q) * (b + 1))[:, None]
    parts = []
    for s, d in _blocks(codes, bits, queries, first=max(16 * k, 4096)):
        qi, p = _true_cells(d <= thr)
        if not len(p):
            continue
        dd = d[qi, p]
        parts.append((qi, p + s, dd.astype(np.int32)))
        hist += np.bincount(rows[qi, 0] + dd, minlength=q * (b + 1)).reshape(q, b + 1)
        thr[:, 0] = (np.cumsum(hist, axis=1) < k).sum(axis=1)
    qi, p, d = _cat(parts)
    keep = d <= thr[qi, 0]
    return qi[keep], p[keep], d[keep]


def _runs(lo: np.ndarray, hi: np.ndarray, order: np.ndarray | None) -> Pair:
    """Positions in rows lo[i]:hi[i] of each probe i (through `order`), and i, by probe then row."""
    lo = lo.astype(np.int64)
    lengths = hi.astype(np.int64) - lo
    hit = np.flatnonzero(lengths)
    if not len(hit):
        return _E64, _E64
    lo, lengths = lo[hit], lengths[hit]
    ends = np.cumsum(lengths)
    which = np.repeat(hit, lengths)
    pos = np.arange(ends[-1], dtype=np.int64) + np.repeat(lo - (ends - lengths), lengths)
    if order is not None:
        pos = order[pos].astype(np.int64)
    return pos, which


def _probes(keys: np.ndarray, masks: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(first key row, keys[rows] ^ each mask flattened key-major) in chunks of at most CHUNK_PROBES probes."""
    m = len(masks)
    for sl in query_chunks(len(keys), m):
        if keys.ndim == 1:
            yield sl.start, (keys[sl, None] ^ masks[None, :]).reshape(-1)
        else:
            yield sl.start, (keys[sl, None, :] ^ masks[None, :, :]).reshape(-1, keys.shape[1])


def _gathered(parts: list[Pair]) -> Pair:
    if not parts:
        return _E64, _E64
    return (parts[0] if len(parts) == 1 else  # type: ignore[return-value]
            tuple(np.concatenate([p[i] for p in parts]) for i in range(2)))


def probe_table(kind: str, table: np.ndarray, order: np.ndarray | None, queries: np.ndarray, start: int, width: int,
                masks: np.ndarray) -> Pair:
    """Every item whose key is bits [start, start + width) of queries[r] (bits.extract) XOR a mask: (query row r,
    position), by query row, mask, then table row. kind "direct": `table` is offsets indexed by the key (a key
    past them has no run); "sorted": the sorted keys, binary-searched. `order` maps table rows to positions
    (None: the rows are the positions)."""
    parts = []
    for first, probe in _probes(extract(queries, start, width), masks.astype(U64, copy=False)):
        if kind == "sorted":
            # the table's dtype: a mixed-dtype searchsorted would convert the whole table
            inside = probe <= np.iinfo(table.dtype).max
            p = np.where(inside, probe, 0).astype(table.dtype)
            lo, hi = np.searchsorted(table, p, "left"), np.searchsorted(table, p, "right")
            hi = np.where(inside, hi, lo)
        else:
            inside = probe < U64(len(table) - 1)
            p = np.where(inside, probe, 0).astype(np.intp)
            lo, hi = table[p], np.where(inside, table[p + 1], table[p])
        pos, which = _runs(lo, hi, order)
        parts.append((which // len(masks) + first, pos))
    return _gathered(parts)


def find_codes(codes: np.ndarray, offsets: np.ndarray, prefix: int, queries: np.ndarray, masks: np.ndarray) -> Triple:
    """Every item whose code equals queries[r] ^ masks[a] (M, W): (query row r, position, its distance: the weight
    of masks[a], int32), by query row, mask, then position. The full-code table is bucketed by the top `prefix` bits of bits.code_keys, or,
    prefix 0, a direct table of one-word codes (offsets indexed by the code)."""
    parts = []
    m = len(masks)
    weights = popcount(masks).sum(axis=1, dtype=np.int32)
    for first, probe in _probes(queries, masks):
        if prefix:
            slots = (code_keys(probe) >> U64(64 - prefix)).astype(np.intp)
            pos, which = _runs(offsets[slots], offsets[slots + 1], None)
        else:
            inside = probe[:, 0] < U64(len(offsets) - 1)
            p = np.where(inside, probe[:, 0], 0).astype(np.intp)
            pos, which = _runs(offsets[p], np.where(inside, offsets[p + 1], offsets[p]), None)
        if prefix and len(pos):  # a bucket holds other codes too
            same = codes[pos, 0] == probe[which, 0]
            for j in range(1, codes.shape[1]):
                same &= codes[pos, j] == probe[which, j]
            pos, which = pos[same], which[same]
        parts.append((which // m + first, pos, weights[which % m]))
    return _cat(parts)


def verify(codes: np.ndarray, queries: np.ndarray, rows: np.ndarray, pos: np.ndarray, sub_bits: np.ndarray,
           j: int, rho: int, limit: int) -> Triple:
    """The multi-index candidates (query row, position) that table j at substring distance rho reaches first
    (no table i < j has d_i <= rho, no i > j has d_i < rho; d_i: popcount of code ^ query within table i's
    bits, `sub_bits` (m, W)) and that lie at distance < limit: (query row, position, distance), in order."""
    x = codes[pos] ^ queries[rows]
    d = popcount(x).sum(axis=1, dtype=np.int32)
    keep = d < limit
    for i in range(len(sub_bits)):
        if i == j or (i > j and rho == 0):
            continue
        di = popcount(x & sub_bits[i]).sum(axis=1, dtype=np.int32)
        keep &= di > rho if i < j else di >= rho
    return rows[keep].astype(np.int64, copy=False), pos[keep].astype(np.int64, copy=False), d[keep]


NUMPY: dict[str, Callable] = {"scan_within": scan_within, "scan_nearest": scan_nearest, "probe_table": probe_table,
                              "find_codes": find_codes, "verify": verify}


# -- compiled twins --------------------------------------------------------------------------------------
# The buffer protocol refuses a non-contiguous array, but would read a wrong dtype as raw bytes: each
# wrapper hands over C-contiguous arrays of the dtype the C function reads.


_U64 = np.dtype(U64)


_I64 = np.dtype(np.int64)


def _u64(a: np.ndarray) -> np.ndarray:
    return a if a.dtype is _U64 and a.flags.c_contiguous else np.ascontiguousarray(a, dtype=U64)


def _i64(a: np.ndarray) -> np.ndarray:
    return a if a.dtype is _I64 and a.flags.c_contiguous else np.ascontiguousarray(a, dtype=np.int64)


def _triple(raw: tuple) -> Triple:
    q, p, d = raw
    return np.frombuffer(q, np.int64), np.frombuffer(p, np.int64), np.frombuffer(d, np.int32)


def _pair(raw: tuple) -> Pair:
    return np.frombuffer(raw[0], np.int64), np.frombuffer(raw[1], np.int64)


def _c_scan_within(codes: np.ndarray, queries: np.ndarray, radius: int) -> Triple:
    return _triple(_k.scan_within(_u64(codes), codes.shape[1], _u64(queries), int(radius)))


def _c_scan_nearest(codes: np.ndarray, queries: np.ndarray, k: int, bits: int) -> Triple:
    return _triple(_k.scan_nearest(_u64(codes), codes.shape[1], _u64(queries), int(k), int(bits)))


_NO_ORDER = np.zeros(0, np.int64)


def _c_probe_table(kind: str, table: np.ndarray, order: np.ndarray | None, queries: np.ndarray, start: int,
                   width: int, masks: np.ndarray) -> Pair:
    t, o = np.ascontiguousarray(table), _NO_ORDER if order is None else np.ascontiguousarray(order)
    return _pair(_k.probe_table(0 if kind == "direct" else 1, t, t.itemsize, o, o.itemsize, _u64(queries),
                                queries.shape[1], int(start), int(width), _u64(masks)))


def _c_find_codes(codes: np.ndarray, offsets: np.ndarray, prefix: int, queries: np.ndarray,
                  masks: np.ndarray) -> Triple:
    o = np.ascontiguousarray(offsets)
    return _triple(_k.find_codes(_u64(codes), codes.shape[1], o, o.itemsize, int(prefix), _u64(queries), _u64(masks)))


def _c_verify(codes: np.ndarray, queries: np.ndarray, rows: np.ndarray, pos: np.ndarray, sub_bits: np.ndarray,
              j: int, rho: int, limit: int) -> Triple:
    return _triple(_k.verify(_u64(codes), codes.shape[1], _u64(queries), _i64(rows), _i64(pos), _u64(sub_bits), int(j),
                             int(rho), int(limit)))


COMPILED: dict[str, Callable] = {"scan_within": _c_scan_within, "scan_nearest": _c_scan_nearest,
                                 "probe_table": _c_probe_table, "find_codes": _c_find_codes,
                                 "verify": _c_verify} if _k is not None else {}

if ENABLED:
    scan_within, scan_nearest, probe_table, find_codes, verify = (COMPILED[n] for n in NUMPY)  # type: ignore[misc]
