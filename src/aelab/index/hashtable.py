"""Bit-flip enumeration over the full-code table (Salakhutdinov & Hinton, "Semantic hashing", 2009).

Step t probes the table with every code at exactly distance t of the query (the query XOR each mask
of t set bits): C(bits, t) probes, and each item found is at distance t. Steps 0..r-1 find every item
within distance < r; a top-k search takes steps until k items are found.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .bits import flip_masks, row_distances
from .hits import Hits, no_hits
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


@functools.lru_cache(maxsize=256)
def _masks(bits: int, t: int, upto: int) -> np.ndarray:
    """The masks of steps t..upto-1 (M, W), one step after another."""
    masks = np.concatenate([flip_masks(bits, s) for s in range(t, upto)])
    masks.setflags(write=False)
    return masks


def shell(seg: Segment, queries: np.ndarray, t: int, limit: int | None = None,
          upto: int | None = None) -> tuple[Hits, int]:
    """The items at distance t (to upto - 1, when given) of each query, none at distance >= limit, and the
    candidates verified (none beyond the probes)."""
    last = min(t + 1 if upto is None else upto, seg.bits + 1, seg.bits + 1 if limit is None else limit)
    if t >= last:
        return no_hits(), 0
    return Hits(*seg.find(queries, _masks(seg.bits, t, last))), 0
