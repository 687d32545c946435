"""Bit-flip enumeration over the full-code table (Salakhutdinov & Hinton, "Semantic hashing", 2009).

Step t probes the table with every code at exactly distance t of the query (the query XOR each mask
of t set bits): C(bits, t) probes, and each item found is at distance t. Steps 0..r-1 find every item
within distance < r; a top-k search takes steps until k items are found.
"""

from __future__ import annotations

import math

import numpy as np

from .bits import flip_masks, row_distances
from .hits import Hits, concat, no_hits, query_chunks
from .segment import Segment


def usable(seg: Segment) -> bool:
    """Every segment has its full-code table."""
    return True


def probes(seg: Segment, t: int) -> int:
    """Table probes of step t for one query."""
    return math.comb(seg.bits, t) if t <= seg.bits else 0


def candidates(seg: Segment, t: int) -> float:
    """Items a probe's bucket holds besides the probed code are compared within the probe: none counted apart."""
    return 0.0


def first_step(seg: Segment, x: np.ndarray) -> np.ndarray:
    """The step that reaches each item, from its code XOR the query (N, W): its distance."""
    return row_distances(x).astype(np.int64)


def shell(seg: Segment, queries: np.ndarray, t: int) -> tuple[Hits, int]:
    """The items at exactly distance t of each query, and the candidates verified (none beyond the probes)."""
    if t > seg.bits:
        return no_hits(), 0
    masks = flip_masks(seg.bits, t)
    m = len(masks)
    parts = []
    for sl in query_chunks(len(queries), m):
        qs = queries[sl]
        probed = qs ^ masks[0] if m == 1 else (qs[:, None, :] ^ masks[None, :, :]).reshape(-1, seg.words)
        pos, which = seg.find(probed)
        parts.append(Hits(which // m + sl.start, pos, np.full(len(pos), t, np.int32)))
    return concat(parts), 0
