"""Range and k-nearest searches over an index's segments, each segment searched the way `plan` picks.

The ways, each written once: `scan` (every distance), `hashtable` and `multiindex` (a growing search in
steps: step t reaches the items at distance >= t, and steps 0..t every item at distance <= t). A range
search takes a growing way's steps 0..r-1; a k-nearest search takes steps on all growing segments in
lockstep until each query has k items within the step's distance. The hits of every segment are ordered
together by (distance, id).
"""

from __future__ import annotations

import numpy as np

from . import plan, scan
from .hits import Hits
from .segment import Segment

FILLER = np.iinfo(np.int32).max  # the distance beside a missing neighbour's id -1, as FAISS fills it
KNN_BATCH = 1024  # queries searched together: bounds the (queries, bits + 2) histogram of distances


def _ordered(segments: list[Segment], parts: list[tuple[int, Hits]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query, id, distance) of every hit, ordered by query, then distance, then id."""
    if len(parts) == 1:
        si, h = parts[0]
        q, ids, d = h.query, np.asarray(segments[si].ids[h.position]), h.distance
    else:
        q = np.concatenate([h.query for _, h in parts]) if parts else np.zeros(0, np.int64)
        ids = np.concatenate([np.asarray(segments[si].ids[h.position]) for si, h in parts]) if parts \
            else np.zeros(0, np.int64)
        d = np.concatenate([h.distance for _, h in parts]) if parts else np.zeros(0, np.int32)
    if len(q) < 2:
        return q, ids, d
    order = np.lexsort((ids, d, q))
    return q[order], ids[order].astype(np.int64, copy=False), d[order]


def range_search(segments: list[Segment], queries: np.ndarray, radius: int,
                 method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every item at distance < radius of each query: (lims (n + 1,), distances, ids), by (distance, id)."""
    parts = []
    for si, seg in enumerate(segments):
        if not seg.n or not len(queries) or radius <= 0:
            continue
        how = plan.for_range(seg, len(queries), radius, method)
        if how == "scan":
            parts.append((si, scan.within(seg, queries, radius)))
            continue
        way, spent, t, end = plan.GROWING[how], 0.0, 0, min(radius, seg.bits + 1)
        while t < end:
            if method == "auto" and plan.scan_instead(seg, how, len(queries), t, spent):
                # the codes are not spread as the estimate assumed: the rest costs less by a scan
                parts.append((si, _not_reached_before(seg, how, queries, scan.within(seg, queries, radius), t)))
                break
            upto = plan.together(seg, how, t, end)
            # multi-index steps reach items farther than the radius: not kept
            hits, verified = way.shell(seg, queries, t, radius, upto)
            if upto < end:  # counted for the check before the next step
                spent += plan.steps_work(seg, how, len(queries), t, upto, verified)
            parts.append((si, hits))
            t = upto
    q, ids, d = _ordered(segments, parts)
    lims = np.searchsorted(q, np.arange(len(queries) + 1)).astype(np.int64, copy=False)  # q is ordered
    return lims, d, ids


def knn(segments: list[Segment], queries: np.ndarray, k: int, method: str) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest items of each query by (distance, id): distances (n, k) int32 and ids (n, k) int64,
    FILLER and -1 where the index holds fewer than k items."""
    n = len(queries)
    dist = np.full((n, k), FILLER, np.int32)
    ids = np.full((n, k), -1, np.int64)
    total = sum(s.n for s in segments)
    kk = min(k, total)
    if kk == 0:
        return dist, ids
    for start in range(0, n, KNN_BATCH):
        rows = slice(start, min(n, start + KNN_BATCH))
        q, found, d = _ordered(segments, _knn_hits(segments, queries[rows], kk, total, method))
        first = np.searchsorted(q, np.arange(rows.stop - rows.start))
        take = (first[:, None] + np.arange(kk)[None, :]).reshape(-1)  # every query has at least kk hits
        ids[rows, :kk] = found[take].reshape(-1, kk)
        dist[rows, :kk] = d[take].reshape(-1, kk)
    return dist, ids


def _knn_hits(segments: list[Segment], queries: np.ndarray, k: int, total: int, method: str) -> list[tuple[int, Hits]]:
    """Hits holding each query's k nearest: scanned segments give theirs at once, growing ones step by step."""
    n, bits = len(queries), segments[0].bits
    parts: list[tuple[int, Hits]] = []
    hist = np.zeros((n, bits + 2), np.int64)  # hits per (query, distance); the last column is never reached
    growing: dict[int, str] = {}
    for si, seg in enumerate(segments):
        if not seg.n:
            continue
        how = plan.for_knn(seg, n, k, total, method)
        if how == "scan":
            parts.append((si, _count(hist, scan.nearest(seg, queries, k))))
        else:
            growing[si] = how
    spent = dict.fromkeys(growing, 0.0)
    open_rows = np.arange(n)
    for t in range(bits + 1):
        if not growing or not len(open_rows):
            break
        qs = queries[open_rows]
        for si, how in list(growing.items()):
            seg, way = segments[si], plan.GROWING[how]
            if method == "auto" and plan.scan_instead(seg, how, len(qs), t, spent[si], nearest=True):
                # the codes are not spread as the estimate assumed: a scan now costs less than growing on
                del growing[si]
                hits = _not_reached_before(seg, how, qs, scan.nearest(seg, qs, k), t)
                parts.append((si, _count(hist, hits.for_rows(open_rows))))
                continue
            if method != "auto":
                plan.check_probes(seg, how, len(qs), range(t, t + 1))
            hits, verified = way.shell(seg, qs, t)
            spent[si] += plan.steps_work(seg, how, len(qs), t, t + 1, verified)
            _count(hist, hits.for_rows(open_rows))
            # a step verifies items of any distance: keep only those within each query's k-th distance so far
            kth = (np.cumsum(hist[open_rows], axis=1) < k).sum(axis=1)
            parts.append((si, hits.where(hits.distance <= kth[hits.query]).for_rows(open_rows)))
        within_t = hist[open_rows, : t + 1].sum(axis=1)
        everything = hist[open_rows].sum(axis=1) >= total  # every item reached: nothing more to find
        open_rows = open_rows[(within_t < k) & ~everything]
    kth = (np.cumsum(hist, axis=1) < k).sum(axis=1)  # the k-th distance has fallen since some hits were kept
    return [(si, h.where(h.distance <= kth[h.query])) for si, h in parts]


def _not_reached_before(seg: Segment, how: str, queries: np.ndarray, hits: Hits, t: int) -> Hits:
    """A scan's hits less those that steps 0..t-1 of the growing way have already reported."""
    x = seg.codes[hits.position] ^ queries[hits.query]
    return hits.where(plan.GROWING[how].first_step(seg, x) >= t)


def _count(hist: np.ndarray, hits: Hits) -> Hits:
    """Add the hits to the (query, distance) histogram; returns them."""
    if len(hits.query):
        cells = hits.query * hist.shape[1] + hits.distance
        hist += np.bincount(cells, minlength=hist.size).reshape(hist.shape)
    return hits

