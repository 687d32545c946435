"""The linear scan: each query's Hamming distance to every code of a segment (XOR, popcount), block by block."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from .bits import U64, popcount
from .hits import Hits, concat, no_hits
from .segment import Segment

BLOCK = 1 << 16  # query x code pairs per block: a block's temporaries stay in the L2 cache
GROUP = 8  # queries scanned together: more would shorten the blocks until numpy's per-call cost dominates


def blocks(seg: Segment, queries: np.ndarray, first: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(first position, distances (Q, c)) over the segment, the first block at most `first` codes long;
    the distance array is reused from block to block."""
    q, w = queries.shape
    c = min(max(256, BLOCK // max(q * w, 1)), max(seg.n, 1))
    starts = list(range(0, seg.n, c))
    if first is not None and first < c:
        starts = [0] + list(range(first, seg.n, c))
    dt = np.uint8 if seg.bits <= 255 else np.uint16
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
        block = seg.codes[s : starts[i + 1] if i + 1 < len(starts) else seg.n]
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


def _true_cells(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of the True cells of a 2-D mask (flatnonzero: several times faster than nonzero)."""
    flat = np.flatnonzero(mask)
    if mask.shape[0] == 1:
        return np.zeros(len(flat), np.int64), flat
    return np.divmod(flat, mask.shape[1])


def _by_group(scan: Callable[[np.ndarray], Hits], queries: np.ndarray) -> Hits:
    """`scan` over GROUP queries at a time, with the hits' query rows those of the whole batch."""
    if len(queries) <= GROUP:
        return scan(queries)
    parts = []
    for s in range(0, len(queries), GROUP):
        h = scan(queries[s : s + GROUP])
        parts.append(Hits(h.query + s, h.position, h.distance))
    return concat(parts)


def within(seg: Segment, queries: np.ndarray, radius: int) -> Hits:
    """Every item at distance < radius of each query."""
    return _by_group(lambda qs: _within(seg, qs, radius), queries)


def _within(seg: Segment, queries: np.ndarray, radius: int) -> Hits:
    parts = []
    for s, d in blocks(seg, queries):
        qi, p = _true_cells(d < radius)
        if len(qi):
            parts.append(Hits(qi, p + s, d[qi, p].astype(np.int32)))
    return concat(parts)


def nearest(seg: Segment, queries: np.ndarray, k: int) -> Hits:
    """Each query's items up to its k-th smallest distance in the segment (ties at that distance included).

    Counting selection: distances are small integers, so a histogram of the distances kept gives each
    query's current k-th distance T; only items within T are kept, T only falls, and nothing is sorted.
    A short first block sets T before the long ones: keeping all of a long block would cost more."""
    if k <= 0 or not seg.n or not len(queries):
        return no_hits()
    return _by_group(lambda qs: _nearest(seg, qs, k), queries)


def _nearest(seg: Segment, queries: np.ndarray, k: int) -> Hits:
    q, b = len(queries), seg.bits
    thr = np.full((q, 1), b, np.uint8 if b <= 255 else np.uint16)
    hist = np.zeros((q, b + 1), np.int64)
    rows = (np.arange(q) * (b + 1))[:, None]
    parts = []
    for s, d in blocks(seg, queries, first=max(16 * k, 4096)):
        qi, p = _true_cells(d <= thr)
        if not len(p):
            continue
        dd = d[qi, p]
        parts.append(Hits(qi, p + s, dd.astype(np.int32)))
        hist += np.bincount(rows[qi, 0] + dd, minlength=q * (b + 1)).reshape(q, b + 1)
        thr[:, 0] = (np.cumsum(hist, axis=1) < k).sum(axis=1)
    hits = concat(parts)
    return hits.where(hits.distance <= thr[hits.query, 0])
