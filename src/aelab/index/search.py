"""Exact Hamming search over segments: hash-table enumeration, multi-index hashing and chunked scans.

The routines take a batch of Q packed queries (Q, W) and return flat hits (query, segment,
position, distance), which `Index` turns into ids; `radius_one` and `_scan_topk1` are the same for
one query with fewer numpy calls. Three ways to find the codes within radius r:

- enumerate: probe the full-code table with every code within r of the query (Salakhutdinov &
  Hinton, "Semantic hashing", 2009: flip a few bits); sum_{i<=r} C(b, i) probes.
- multi-index: m tables over disjoint substrings; r = m*r' + a, the first a+1 substrings are probed
  within r' and the rest within r'-1, every candidate is checked with the full distance
  (Norouzi, Punjani & Fleet, "Fast exact search in Hamming space with multi-index hashing",
  arXiv:1307.2982, Prop. 2). A candidate is kept only from the first table that reaches it, so
  nothing is reported twice and no set of seen items is needed.
- scan: the Hamming distance to every code, in cache-sized chunks (XOR + popcount).

Top-k grows the radius one step at a time (k-NN by multi-index hashing, Norouzi et al., Sec. 4) and
stops at the first radius t with k items within t; a segment whose probing would cost more than
scanning it is scanned instead. Costs are estimated for uniformly random codes and checked against
the work actually done, so skewed codes fall back to the scan rather than degrade.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from collections.abc import Iterator
from typing import Literal

import numpy as np

from ..errors import CodeIndexError
from . import kernels as K
from .bits import U64, ball_volume, extract, flip_masks, popcount
from .segment import KeyTable, Segment

Method = Literal["auto", "enumerate", "multi-index", "scan"]
METHODS = ("auto", "enumerate", "multi-index", "scan")



@dataclass(frozen=True)
class Costs:
    """The cost model, in nanoseconds on one core (x86-64), fitted to measured latencies; only the ratios
    matter. For the numpy routines a call costs about a microsecond whatever its size, so fixed costs
    count; the compiled loops (kernels.py) have almost none, and scan several codes per instruction."""

    scan: float          # one code word XOR-ed, popcounted, compared
    probe_direct: float  # one probe of a direct-address table
    probe_level: float   # one binary-search level of a sorted table
    bucket_item: float   # one code compared in a probed bucket of the full-code table (contiguous)
    candidate: tuple[float, float]  # one candidate gathered and verified: segment in cache, or not
    enumerate: float     # the fixed cost of an enumeration (hashing, bucket checks)
    table: float         # the fixed cost of probing one substring table
    mih: float           # the fixed cost of gathering and verifying the tables' candidates
    step: float = 20_000  # the fixed cost of one radius step of a top-k search (numpy in both)


NUMPY = Costs(scan=1.9, probe_direct=12, probe_level=6, bucket_item=20, candidate=(30, 50), enumerate=30_000,
              table=2_000, mih=12_000)
COMPILED = Costs(scan=0.35 if K.SCAN == "avx512-vpopcntdq" else 0.9, probe_direct=20, probe_level=8,
                 bucket_item=3, candidate=(15, 30), enumerate=300, table=100, mih=1_500)


def costs() -> Costs:
    return COMPILED if K.ENABLED else NUMPY


CACHE_BYTES = 8 << 20  # a segment's codes up to this size are taken to stay in cache
FORCED_LIMIT = 64  # a forced top-k method scans instead of a radius step that would cost this many scans
MAX_PROBES = 50_000_000  # a forced enumeration larger than this is refused, not attempted
SCAN_BLOCK = 1 << 16     # items x queries per scan chunk: the working set stays in L2

Hits = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # query, segment, position, distance


def _empty_hits() -> Hits:
    z = np.zeros(0, np.int64)
    return z, z, z, np.zeros(0, np.int32)


def _probe_ns(table: KeyTable, c: Costs | None = None) -> float:
    c = c or costs()
    if table.kind == "sorted":
        return c.probe_level * max(math.log2(max(table.n, 2)), 1.0) + 10
    if table.kind == "bucketed":  # the bucket's other codes are compared too
        return c.probe_direct + c.bucket_item * table.n / 2.0**table.prefix
    return c.probe_direct


def _candidate_ns(seg: Segment, c: Costs | None = None) -> float:
    return (c or costs()).candidate[seg.n * seg.words * 8 > CACHE_BYTES]


def _table_radii(m: int, r: int) -> list[int]:
    rp, a = divmod(r, m)
    return [rp if j <= a else rp - 1 for j in range(m)]


@functools.lru_cache(maxsize=512)
def _masks_upto(width: int, r: int) -> tuple[np.ndarray, np.ndarray]:
    """Every mask with at most r of `width` bits set, (M, words), and its popcount (M,)."""
    ms = [flip_masks(width, c) for c in range(min(r, width) + 1)]
    masks = np.concatenate(ms)
    counts = np.concatenate([np.full(len(m), c, np.int32) for c, m in enumerate(ms)])
    masks.setflags(write=False)
    counts.setflags(write=False)
    return masks, counts


@functools.lru_cache(maxsize=512)
def _sub_masks(width: int, r: int, exact: bool) -> np.ndarray:
    """Masks (M,) uint64 over a substring of <= 64 bits: exactly r bits set, or at most r."""
    m = flip_masks(width, r) if exact else _masks_upto(width, r)[0]
    out = np.ascontiguousarray(m[:, 0])
    out.setflags(write=False)
    return out


def _query_chunks(q: int, per_query: int) -> Iterator[slice]:
    step = max(1, (1 << 20) // max(per_query, 1))
    for s in range(0, q, step):
        yield slice(s, min(q, s + step))


# -- the three ways -------------------------------------------------------------------------------

def probe_full(seg: Segment, queries: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Items whose code is exactly query ^ mask: (query index, position, mask index)."""
    nm = len(masks)
    if nm == 1:
        probes = queries ^ masks[0]
    else:
        probes = (queries[:, None, :] ^ masks[None, :, :]).reshape(-1, queries.shape[1])
    pos, which = seg.find(probes)
    if nm == 1:
        return which, pos, np.zeros(len(pos), np.int64)
    return which // nm, pos, which % nm


def enumerate_radius(seg: Segment, queries: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    masks, mask_d = _masks_upto(seg.bits, r)
    if K.ENABLED:
        return K.probe_full(seg, queries, masks, mask_d)
    out = []
    for sl in _query_chunks(len(queries), len(masks)):
        qi, pos, mi = probe_full(seg, queries[sl], masks)
        out.append((qi + sl.start, pos, mask_d[mi]))
    return _collect(out)


def _mih_probe(seg: Segment, queries: np.ndarray, j: int, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Candidates from substring table j probed with `masks` (M,): (query index, position)."""
    start, width, table = seg.subs[j]
    keys = extract(queries, start, width)
    if len(masks) == 1:
        return table.probe(keys ^ masks[0])[::-1]
    pos, which = table.probe((keys[:, None] ^ masks[None, :]).reshape(-1))
    return which // len(masks), pos


def mih_radius(seg: Segment, queries: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m = len(seg.subs)
    radii = _table_radii(m, r)
    if K.ENABLED:
        return K.mih_radius(seg, queries, r, radii, _mih_masks(seg, radii))
    qis, poss, tabs = [], [], []
    for j, rj in enumerate(radii):
        if rj < 0:
            continue
        masks = _sub_masks(seg.subs[j][1], rj, False)
        for sl in _query_chunks(len(queries), len(masks)):
            qi, pos = _mih_probe(seg, queries[sl], j, masks)
            qis.append(qi + sl.start if sl.start else qi)
            poss.append(pos)
            tabs.append(np.full(len(pos), j, np.int8))
    qi, pos, tab = np.concatenate(qis), np.concatenate(poss), np.concatenate(tabs)
    if not len(pos):
        return qi, pos, np.zeros(0, np.int32)
    x = seg.codes[pos] ^ queries[qi]
    d = _popcount_rows(x)
    keep = d <= r
    if not keep.all():
        x, qi, pos, d, tab = x[keep], qi[keep], pos[keep], d[keep], tab[keep]
    # keep each item from the first table that reaches it: nothing is reported twice
    dup = np.zeros(len(pos), bool)
    for i, ri in enumerate(radii[:-1]):
        if ri >= 0:
            s_i, w_i, _ = seg.subs[i]
            dup |= (tab > i) & (popcount(extract(x, s_i, w_i)) <= ri)
    if dup.any():
        qi, pos, d = qi[~dup], pos[~dup], d[~dup]
    return qi, pos, d


def _mih_masks(seg: Segment, radii: list[int]) -> list[np.ndarray | None]:
    return [_sub_masks(width, rj, False) if rj >= 0 else None for (_, width, _), rj in zip(seg.subs, radii)]


def radius_one(seg: Segment, query: np.ndarray, r: int, how: str) -> tuple[np.ndarray, np.ndarray]:
    """Positions and distances of the items within r of one query (W,), by `how`; fewer numpy calls
    than the batched routines, which matters for one query on a small segment."""
    if K.ENABLED:
        q = query[None, :]
        if how == "enumerate":
            _, pos, d = K.probe_full(seg, q, *_masks_upto(seg.bits, r))
        elif how == "multi-index":
            radii = _table_radii(len(seg.subs), r)
            _, pos, d = K.mih_radius(seg, q, r, radii, _mih_masks(seg, radii))
        else:
            _, pos, d = K.scan_radius(seg, q, r)
        return pos, d
    if how == "enumerate":
        masks, mask_d = _masks_upto(seg.bits, r)
        pos, which = seg.find(masks ^ query)
        return pos, mask_d[which]
    if how == "multi-index":
        parts = []
        whole = sum(int(w) << (64 * i) for i, w in enumerate(query))  # the code as one Python int
        for (start, width, table), rj in zip(seg.subs, _table_radii(len(seg.subs), r)):
            if rj < 0:
                continue
            key = (whole >> start) & ((1 << width) - 1)
            if rj == 0 and table.kind == "direct":
                parts.append(table.order[table.offsets[key] : table.offsets[key + 1]])
            else:
                parts.append(table.probe(_sub_masks(width, rj, False) ^ U64(key))[0])
        pos = np.concatenate(parts) if len(parts) > 1 else parts[0]
        if seg.words == 1:  # a 1-D gather is several times cheaper than gathering rows
            d = popcount(seg.codes.reshape(-1)[pos] ^ query[0])
        else:
            d = _popcount_rows(seg.codes[pos] ^ query)
        keep = (d <= r).nonzero()[0]
        pos, d = pos[keep].astype(np.int64), d[keep].astype(np.int32)
        if len(parts) > 1 and len(pos) > 1:  # an item reached from several tables counts once
            order = pos.argsort()
            pos, d = pos[order], d[order]
            first = np.empty(len(pos), np.bool_)
            first[0] = True
            np.not_equal(pos[1:], pos[:-1], out=first[1:])
            pos, d = pos[first], d[first]
        return pos, d
    _, pos, d = scan_radius(seg, query[None, :], r)
    return pos, d


def _popcount_rows(x: np.ndarray) -> np.ndarray:
    c = popcount(x)
    return c.sum(axis=1, dtype=np.int32) if c.shape[1] > 1 else c[:, 0].astype(np.int32)


def scan_blocks(seg: Segment, queries: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(first position, distances (Q, c)) over the segment in chunks; the array is reused between chunks."""
    q, w = queries.shape
    n = seg.n
    c = max(256, SCAN_BLOCK // (q * w))
    c = min(c, max(n, 1))
    dt = np.uint8 if seg.bits <= 255 else np.uint16
    xbuf = np.empty((q, c), U64)
    dbuf = np.empty((q, c), dt)
    tmp = np.empty((q, c), np.uint8) if w > 1 else None
    cols = [queries[:, j : j + 1] for j in range(w)]
    codes = seg.codes
    for s in range(0, n, c):
        block = codes[s : s + c]
        k = len(block)
        xb, db = xbuf[:, :k], dbuf[:, :k]
        np.bitwise_xor(cols[0], block[None, :, 0], out=xb)
        if w == 1:
            popcount(xb, out=db)
        else:
            tb = tmp[:, :k]
            popcount(xb, out=tb)
            db[...] = tb
            for j in range(1, w):
                np.bitwise_xor(cols[j], block[None, :, j], out=xb)
                popcount(xb, out=tb)
                np.add(db, tb, out=db)
        yield s, db


def _nonzero2(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of the True entries of a 2-D mask; flatnonzero is several times faster than nonzero."""
    flat = np.flatnonzero(mask)
    if mask.shape[0] == 1:
        return np.zeros(len(flat), np.int64), flat
    return np.divmod(flat, mask.shape[1])


def scan_radius(seg: Segment, queries: np.ndarray, r: int) -> Hits:
    if K.ENABLED:
        return K.scan_radius(seg, queries, r)
    out = []
    for s, d in scan_blocks(seg, queries):
        qi, p = _nonzero2(d <= r)
        if len(qi):
            out.append((qi, p + s, d[qi, p].astype(np.int32)))
    return _collect(out)


def scan_topk(seg: Segment, queries: np.ndarray, k: int) -> Hits:
    """Each query's k nearest items of the segment by (distance, id), ties at the k-th distance included.

    Counting selection: distances are small integers, so a histogram of the distances seen gives each
    query's current k-th distance T; the first chunk's histogram sets T at once, later chunks only
    contribute their items within T (almost none), and no sort over the segment ever happens.
    """
    if K.ENABLED:
        return K.scan_topk(seg, queries, k)
    q = len(queries)
    b = seg.bits
    if q == 1 and seg.words == 1:
        return _scan_topk1(seg, queries[0, 0], k)
    thr = np.full((q, 1), b, np.uint8 if b <= 255 else np.uint16)
    hist = np.zeros((q, b + 1), np.int64)
    base = (np.arange(q) * (b + 1))[:, None]
    out = []
    for s, d in scan_blocks(seg, queries):
        if s == 0:  # every distance of the first chunk counts: T is the chunk's own k-th distance
            hist += np.bincount((base + d).reshape(-1), minlength=q * (b + 1)).reshape(q, b + 1)
            counted = True
        else:
            counted = False
        qi, p = _nonzero2(d <= thr)
        if not len(p):
            continue
        dd = d[qi, p]
        out.append((qi, p + s, dd.astype(np.int32)))
        if not counted:
            hist += np.bincount(base[qi, 0] + dd, minlength=q * (b + 1)).reshape(q, b + 1)
        thr[:, 0] = (np.cumsum(hist, axis=1) < k).sum(axis=1)
    qi, pos, d = _collect(out)
    keep = d <= thr[qi, 0]
    return qi[keep], pos[keep], d[keep]


def _scan_topk1(seg: Segment, query: np.uint64, k: int) -> Hits:
    """`scan_topk` for one query of one word: a few numpy calls per chunk on preallocated buffers."""
    b = seg.bits
    codes = seg.codes.reshape(-1)
    n = len(codes)
    c = min(SCAN_BLOCK, n)
    # a small first chunk sets the threshold (a histogram of a whole chunk costs more than it saves)
    first = min(n, max(16 * k, 4096))
    size = max(c, first)
    xbuf, dbuf, mbuf = np.empty(size, U64), np.empty(size, np.uint8), np.empty(size, np.bool_)
    hist = np.zeros(b + 1, np.int64)
    thr = b
    pos_parts, d_parts = [], []
    pending: list[np.ndarray] = []  # distances kept since the threshold was last lowered
    waiting = 0
    for s, e in [(0, first)] + [(a, min(a + c, n)) for a in range(first, n, c)]:
        block = codes[s:e]
        m = len(block)
        x, d, mask = xbuf[:m], dbuf[:m], mbuf[:m]
        np.bitwise_xor(block, query, out=x)
        popcount(x, out=d)
        if s == 0:
            hist += np.bincount(d, minlength=b + 1)
            thr = int((np.cumsum(hist) < k).sum())
            sel = np.flatnonzero(d <= thr)
        else:
            if d.min() > thr:  # a vectorised reduction: far cheaper than a compare and a nonzero
                continue
            np.less_equal(d, thr, out=mask)
            sel = np.flatnonzero(mask)
            kept = d[sel]
            pending.append(kept)
            waiting += len(sel)
            if waiting >= 64:  # lowering the threshold costs a few calls: do it when it can pay
                hist += np.bincount(np.concatenate(pending), minlength=b + 1)
                thr = int((np.cumsum(hist) < k).sum())
                pending, waiting = [], 0
            pos_parts.append(sel + s)
            d_parts.append(kept)
            continue
        pos_parts.append(sel + s)
        d_parts.append(d[sel])
    pos = np.concatenate(pos_parts)
    d = np.concatenate(d_parts).astype(np.int32)
    keep = d <= thr
    pos, d = pos[keep], d[keep]
    return np.zeros(len(pos), np.int64), pos, d


def _collect(parts: list) -> Hits:
    if not parts:
        z = np.zeros(0, np.int64)
        return z, z, np.zeros(0, np.int32)
    return (np.concatenate([p[0] for p in parts]).astype(np.int64, copy=False),
            np.concatenate([p[1] for p in parts]).astype(np.int64, copy=False),
            np.concatenate([p[2] for p in parts]).astype(np.int32, copy=False))


# -- cost model -----------------------------------------------------------------------------------

def cost_enumerate(seg: Segment, r: int) -> float:
    return costs().enumerate + ball_volume(seg.bits, r) * (_probe_ns(seg.full) + 6 * seg.words)


def cost_mih(seg: Segment, r: int) -> float:
    if not seg.subs:
        return math.inf
    total = float(costs().mih)
    for (_, width, table), rj in zip(seg.subs, _table_radii(len(seg.subs), r)):
        if rj < 0:
            continue
        v = ball_volume(width, rj)
        total += costs().table + v * (_probe_ns(table) + _candidate_ns(seg) * seg.n / 2.0**width)
    return total


def cost_scan(seg: Segment) -> float:
    c = costs()
    return c.table + seg.n * seg.words * c.scan


def plan_radius(seg: Segment, r: int, method: Method, queries: int) -> str:
    """How a radius-r search of this segment runs: `method`, or the cheapest by the cost model."""
    key = ("radius", r, method, queries, K.ENABLED)  # one query is the common case: decided once
    how = seg.cache.get(key)
    if how is None:
        how = method
        if method == "auto":
            c = {"enumerate": cost_enumerate(seg, r), "multi-index": cost_mih(seg, r), "scan": cost_scan(seg)}
            how = min(c, key=c.get)
        if how == "multi-index" and len(seg.subs) < 2:
            how = "enumerate"  # with one substring, multi-index hashing is the enumeration
        if how == "enumerate":
            _check_enumeration(ball_volume(seg.bits, r) * queries, seg.bits, r)
        if how == "multi-index":
            radii = _table_radii(len(seg.subs), r)
            probes = sum(ball_volume(w, rj) for (_, w, _), rj in zip(seg.subs, radii) if rj >= 0)
            if probes * queries > MAX_PROBES:
                raise CodeIndexError(f"multi-index hashing within distance {r} of {seg.bits}-bit codes in "
                                     f"{len(seg.subs)} substrings means {probes * queries:,} probes; use "
                                     f"method='scan' (or 'auto')")
        if queries == 1:
            seg.cache[key] = how
    return how


def radius_search(segments: list[Segment], queries: np.ndarray, r: int, method: Method) -> Hits:
    """Every item within distance r of each query: (query, segment, position, distance)."""
    out = []
    for si, seg in enumerate(segments):
        if seg.n == 0:
            continue
        how = plan_radius(seg, r, method, len(queries))
        if how == "enumerate":
            qi, pos, d = enumerate_radius(seg, queries, r)
        elif how == "multi-index":
            qi, pos, d = mih_radius(seg, queries, r)
        else:
            qi, pos, d = scan_radius(seg, queries, r)
        out.append((qi, np.full(len(qi), si, np.int64), pos, d))
    return _collect4(out)


def _check_enumeration(probes: int, bits: int, r: int) -> None:
    if probes > MAX_PROBES:
        raise CodeIndexError(f"enumerating every {bits}-bit code within distance {r} means {probes:,} probes; "
                             f"use method='multi-index' or 'scan' (or 'auto')")


def _collect4(parts: list) -> Hits:
    if not parts:
        return _empty_hits()
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(4))  # type: ignore[return-value]


# -- k nearest ------------------------------------------------------------------------------------

def _step_probe(seg: Segment, queries: np.ndarray, t: int, use_subs: bool) -> tuple[np.ndarray, np.ndarray,
                                                                                    np.ndarray, float]:
    """Items first reached at radius step t: (query index, position, distance, work in ns)."""
    if not use_subs:  # enumeration: the codes at exactly distance t
        if t > seg.bits:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int32), 0.0
        _check_enumeration(math.comb(seg.bits, t) * len(queries), seg.bits, t)
        masks = flip_masks(seg.bits, t)
        work = len(queries) * len(masks) * _probe_ns(seg.full, NUMPY) + NUMPY.step
        if K.ENABLED:
            return (*K.probe_full(seg, queries, masks, np.full(len(masks), t, np.int32)), work)
        parts = []
        for sl in _query_chunks(len(queries), len(masks)):
            qi, pos, _ = probe_full(seg, queries[sl], masks)
            parts.append((qi + sl.start, pos, np.full(len(pos), t, np.int32)))
        qi, pos, d = _collect(parts)
        return qi, pos, d, work
    m = len(seg.subs)
    rho, j = divmod(t, m)
    width = seg.subs[j][1]
    if rho > width:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int32), 0.0
    masks = _sub_masks(width, rho, True)
    parts = []
    cands = 0
    one_word = seg.words == 1
    for sl in _query_chunks(len(queries), len(masks)):
        qs = queries[sl]
        qi, pos = _mih_probe(seg, qs, j, masks)
        cands += len(pos)
        if not len(pos):
            continue
        if one_word:  # 1-D gathers: several times cheaper than gathering rows of a 2-D array
            x1 = seg.codes.reshape(-1)[pos]
            x1 ^= qs[0, 0] if len(qs) == 1 else qs[:, 0][qi]
            x = x1[:, None]
        else:
            x = seg.codes[pos] ^ qs[qi]
        # keep what this table reaches first: table i reaches an item at step m * d_i + i, so an earlier
        # table (i < j) would have had d_i <= rho, a later one (i > j) d_i <= rho - 1
        fresh = None
        for i, (s_i, w_i, _) in enumerate(seg.subs):
            if i == j or (i > j and rho == 0):
                continue
            d_i = popcount(extract(x, s_i, w_i))
            ok = d_i > rho if i < j else d_i >= rho
            fresh = ok if fresh is None else fresh & ok
        if fresh is not None:
            qi, pos, x = qi[fresh], pos[fresh], x[fresh]
        parts.append((qi + sl.start if sl.start else qi, pos, _popcount_rows(x)))
    qi, pos, d = _collect(parts)
    work = len(queries) * len(masks) * _probe_ns(seg.subs[j][2], NUMPY) + cands * _candidate_ns(seg, NUMPY) + NUMPY.step
    return qi, pos, d, work


def _first_step(seg: Segment, x: np.ndarray, use_subs: bool) -> np.ndarray:
    """The radius step at which the growing search first reaches each item, from its XOR with the query."""
    if not use_subs:
        return _popcount_rows(x).astype(np.int64)
    m = len(seg.subs)
    first = np.full(len(x), np.iinfo(np.int64).max, np.int64)
    for i, (s_i, w_i, _) in enumerate(seg.subs):  # table i reaches the item at step m * d_i + i
        np.minimum(first, popcount(extract(x, s_i, w_i)).astype(np.int64) * m + i, out=first)
    return first


def _count(hist: np.ndarray, qi: np.ndarray, d: np.ndarray) -> None:
    """hist[q, d] += 1 for each hit."""
    if len(qi):
        b = hist.shape[1]
        hist += np.bincount(qi * b + d, minlength=hist.size).reshape(hist.shape)


def _uniform_radius(total: int, bits: int, k: int) -> int:
    """The radius holding k of `total` uniformly random codes on average."""
    need = k * (1 << bits)  # ball volume * total >= k * 2**bits, in integers: 2.0**bits overflows past 1023 bits
    v = 0
    for t in range(bits + 1):
        v += math.comb(bits, t)
        if v * max(total, 1) >= need:
            return t
    return bits


def _step_cost(seg: Segment, t: int, mode: str) -> float:
    """Estimated nanoseconds of radius step t for one query (uniform codes); the steps run in numpy."""
    if mode == "enumerate":
        return NUMPY.step + math.comb(seg.bits, t) * (_probe_ns(seg.full, NUMPY) + 6 * seg.words)
    rho, j = divmod(t, len(seg.subs))
    width, table = seg.subs[j][1], seg.subs[j][2]
    if rho > width:
        return 0.0
    per_probe = _probe_ns(table, NUMPY) + _candidate_ns(seg, NUMPY) * seg.n / 2.0**width
    return NUMPY.step + math.comb(width, rho) * per_probe


def topk_search(segments: list[Segment], queries: np.ndarray, k: int, method: Method) -> Hits:
    """Each query's items up to its k-th smallest distance: the k nearest by (distance, id) and their ties."""
    bits = segments[0].bits if segments else 1
    qi, si, pos, d = _topk_hits(segments, queries, k, method)
    if not len(qi):
        return qi, si, pos, d
    # counting selection: the k-th distance of each query from a histogram, then one filter, no sort
    hist = np.bincount(qi * (bits + 1) + d, minlength=len(queries) * (bits + 1)).reshape(len(queries), bits + 1)
    kth = (np.cumsum(hist, axis=1) < min(k, sum(s.n for s in segments))).sum(axis=1)
    keep = d <= kth[qi]
    return qi[keep], si[keep], pos[keep], d[keep]


def plan_topk(seg: Segment, k: int, total: int, method: Method) -> str:
    """How a top-k search starts on this segment: growing the radius (by multi-index hashing, or by
    enumeration when the segment has no substring tables) or scanning; auto compares the estimated cost
    of growing to the radius that holds k of `total` uniform codes with the cost of a scan."""
    grow = "multi-index" if len(seg.subs) >= 2 else "enumerate"
    if method == "scan":
        return "scan"
    if method != "auto":
        return grow
    key = ("topk", k, total)
    if key not in seg.cache:
        t_guess = _uniform_radius(total, seg.bits, k)
        cost = sum(_step_cost(seg, t, grow) for t in range(t_guess + 1))
        seg.cache[key] = "scan" if cost > cost_scan(seg) else grow
    return seg.cache[key]


def _topk_hits(segments: list[Segment], queries: np.ndarray, k: int, method: Method) -> Hits:
    q = len(queries)
    bits = segments[0].bits if segments else 1
    total = sum(s.n for s in segments)
    k = min(k, total)
    if k == 0 or q == 0:
        return _empty_hits()
    live = [si for si, s in enumerate(segments) if s.n]
    out = []
    mode: dict[int, str] = {}
    spent: dict[int, float] = {}
    for si in live:
        mode[si] = plan_topk(segments[si], k, total, method)
        spent[si] = 0.0
    for si in live:
        if mode[si] == "scan":
            qi, pos, d = scan_topk(segments[si], queries, k)
            out.append((qi, np.full(len(qi), si, np.int64), pos, d))
    growing = [si for si in live if mode[si] != "scan"]
    if not growing:
        return _collect4(out)
    hist = np.zeros((q, bits + 1), np.int64)
    for qi, _, _, d in out:
        _count(hist, qi, d)
    active = np.arange(q)
    for t in range(bits + 1):
        for si in list(growing):
            seg = segments[si]
            qs = queries[active]
            step = _step_cost(seg, t, mode[si])
            if method == "auto":
                stop = spent[si] + step * len(active) > cost_scan(seg) * len(active)
            else:
                stop = step - NUMPY.step > FORCED_LIMIT * cost_scan(seg)
            if stop:
                # growing further would cost more than a scan: the codes are not spread as assumed (auto),
                # or one more step alone would cost many scans (a forced method: the hits are the same)
                growing.remove(si)
                qi, pos, d = scan_topk(seg, qs, k)
                # items reached at an earlier step are already among the hits
                later = _first_step(seg, seg.codes[pos] ^ qs[qi], mode[si] == "multi-index") >= t
                qi, pos, d = qi[later], pos[later], d[later]
            else:
                qi, pos, d, work = _step_probe(seg, qs, t, mode[si] == "multi-index")
                spent[si] += work
            qi = active[qi]
            out.append((qi, np.full(len(qi), si, np.int64), pos, d))
            _count(hist, qi, d)
        done = hist[active, : t + 1].sum(axis=1) >= k
        active = active[~done]
        if not len(active) or not growing:
            break
    return _collect4(out)
