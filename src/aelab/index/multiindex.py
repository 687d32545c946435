"""Multi-index hashing (Norouzi, Punjani & Fleet, "Fast exact search in Hamming space with multi-index
hashing", CVPR 2012 / arXiv:1307.2982): m tables over disjoint substrings of the codes.

Table i reaches an item at step m * d_i + i, d_i being the item's distance to the query on substring i;
step t = m * rho + j probes table j with every substring at exactly distance rho of the query's. By the
pigeonhole principle an item at distance d is reached at a step <= d (Prop. 2 of the paper), so steps
0..r-1 reach everything within distance < r, and every item a step reaches is at distance >= t. A
candidate counts only at its first step (the smallest m * d_i + i), so nothing is reported twice.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from . import kernels
from .bits import flip_masks, popcount
from .hits import CHUNK_PROBES, Hits, concat, no_hits
from .segment import Segment


def usable(seg: Segment) -> bool:
    """With fewer than two substring tables there is nothing to divide: the full-code table does it."""
    return len(seg.subs) >= 2


def _table(seg: Segment, t: int) -> tuple[int, int]:
    rho, j = divmod(t, len(seg.subs))
    return j, rho


def probes(seg: Segment, t: int) -> int:
    """Substring-table probes of step t for one query."""
    j, rho = _table(seg, t)
    width = seg.subs[j][1]
    return math.comb(width, rho) if rho <= width else 0


def candidates(seg: Segment, t: int) -> float:
    """Items step t gathers and verifies for one query, were the codes uniformly random."""
    return probes(seg, t) * seg.n / 2.0 ** seg.subs[_table(seg, t)[0]][1]


def _substring_bits(seg: Segment) -> np.ndarray:
    """(m, W) uint64: table i's substring bits in place, so that popcount(x & row i) is d_i without shifts."""
    held = seg.cache.get("substring bits")
    if held is None:
        held = np.zeros((len(seg.subs), seg.words), np.uint64)
        for i, (start, width, _) in enumerate(seg.subs):
            for b in range(start, start + width):
                held[i, b // 64] |= np.uint64(1 << (b % 64))
        seg.cache["substring bits"] = held
    return held


def _substring_distances(seg: Segment, x: np.ndarray, i: int) -> np.ndarray:
    """d_i (N,) of every row of code XOR query (N, W): popcount of table i's bits, in place."""
    held = _substring_bits(seg)[i]
    if seg.words == 1:  # 1-D: several times cheaper than a row reduction
        return popcount(x[:, 0] & held[0])
    return popcount(x & held).sum(axis=1, dtype=np.int32)


def first_step(seg: Segment, x: np.ndarray) -> np.ndarray:
    """The step that first reaches each item, from its code XOR the query (N, W): min over i of m * d_i + i."""
    m = len(seg.subs)
    first = np.full(len(x), np.iinfo(np.int64).max, np.int64)
    for i in range(m):
        np.minimum(first, _substring_distances(seg, x, i).astype(np.int64) * m + i, out=first)
    return first


@functools.lru_cache(maxsize=512)
def _substring_masks(width: int, rho: int) -> np.ndarray:
    """Masks (M,) uint64 with exactly rho of `width` <= 64 bits set."""
    out = np.ascontiguousarray(flip_masks(width, rho)[:, 0])
    out.setflags(write=False)
    return out


def shell(seg: Segment, queries: np.ndarray, t: int, limit: int | None = None,
          upto: int | None = None) -> tuple[Hits, int]:
    """The items step t (to upto - 1, when given) reaches first, with their distances (those at distance <
    limit when it is given), and the candidates verified."""
    if upto is not None and upto > t + 1:
        steps = [shell(seg, queries, s, limit) for s in range(t, upto)]
        return concat([h for h, _ in steps]), sum(v for _, v in steps)
    j, rho = _table(seg, t)
    start, width, table = seg.subs[j]
    if rho > width:
        return no_hits(), 0
    masks = _substring_masks(width, rho)
    far = seg.bits + 1 if limit is None else limit
    parts, verified = [], 0
    step = max(1, CHUNK_PROBES // len(masks))  # queries probed together: their candidates stay within the caches
    for s in range(0, len(queries), step):
        qi, pos = table.probe(queries[s : s + step], start, masks)
        verified += len(pos)
        qi = qi + s if s else qi
        # first reached by step t: no earlier table i < j has d_i <= rho, and no later one d_i < rho
        parts.append(Hits(*kernels.verify(seg.codes, queries, qi, pos, _substring_bits(seg), j, rho, far)))
    return concat(parts), verified
