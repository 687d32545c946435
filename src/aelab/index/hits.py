"""What the search algorithms return for one segment: flat hits (query row, item position, distance)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

CHUNK_PROBES = 1 << 16  # probes built at once (queries x masks): their candidates stay within the caches


class Hits(NamedTuple):
    """Parallel arrays: query row (int64), item position in its segment (int64), Hamming distance (int32)."""

    query: np.ndarray
    position: np.ndarray
    distance: np.ndarray

    def where(self, keep: np.ndarray) -> Hits:
        return Hits(self.query[keep], self.position[keep], self.distance[keep])

    def for_rows(self, rows: np.ndarray) -> Hits:
        """The same hits with query rows mapped through `rows` (a sub-batch's rows to the batch's)."""
        return Hits(rows[self.query], self.position, self.distance)


def no_hits() -> Hits:
    z = np.zeros(0, np.int64)
    return Hits(z, z, np.zeros(0, np.int32))


def concat(parts: list[Hits]) -> Hits:
    if not parts:
        return no_hits()
    if len(parts) == 1:
        return parts[0]
    return Hits(*(np.concatenate([p[i] for p in parts]) for i in range(3)))


def query_chunks(queries: int, per_query: int) -> Iterator[slice]:
    """Slices of the batch whose probes (per_query each) number at most CHUNK_PROBES."""
    step = max(1, CHUNK_PROBES // max(per_query, 1))
    for s in range(0, queries, step):
        yield slice(s, min(queries, s + step))
