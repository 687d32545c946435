"""The linear scan: each query's Hamming distance to every code of a segment (XOR, popcount).

The block-by-block loop over the codes is the primitive `kernels.scan_within` / `kernels.scan_nearest`
(compiled when it could be, numpy otherwise)."""

from __future__ import annotations

import numpy as np

from . import kernels
from .hits import Hits, no_hits
from .segment import Segment


def within(seg: Segment, queries: np.ndarray, radius: int) -> Hits:
    """Every item at distance < radius of each query."""
    if not seg.n or not len(queries) or radius <= 0:
        return no_hits()
    return Hits(*kernels.scan_within(seg.codes, queries, radius))


def nearest(seg: Segment, queries: np.ndarray, k: int) -> Hits:
    """Each query's items up to its k-th smallest distance in the segment (ties at that distance included),
    by counting selection (see `kernels.scan_nearest`)."""
    if k <= 0 or not seg.n or not len(queries):
        return no_hits()
    return Hits(*kernels.scan_nearest(seg.codes, queries, k, seg.bits))
