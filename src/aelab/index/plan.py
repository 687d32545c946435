"""The one rule that picks how each segment is searched: a linear scan, hash-table probes or multi-index hashing.

Work is counted in one unit, the code word a linear scan XORs and popcounts, and each way's work is the
operations it performs times what one costs in that unit on this machine:

    scan                  FIXED["scan"]        + Q * n * words  (times NEAREST when it ranks the k nearest)
    hash-table step t     FIXED["hash"]        + Q * C(bits, t) * PROBE
    multi-index step t    FIXED["multi-index"] + Q * C(w_j, rho) * (PROBE + n / 2**w_j * CANDIDATE),  t = m * rho + j

for Q queries on a segment of n codes (m substring tables of w_j bits each). `range_search(q, r)` takes
steps 0..r-1; `search(q, k)` is expected to take steps 0..T, T being the radius that would hold k of the
index's codes were they uniformly random. Each segment is searched the way whose total is smallest. A
growing search ("auto" only) also counts the work it actually does (probes, and the candidates it really
verified), and before a step that would take it past a scan's it scans the segment instead for the
queries still open, so codes clustered unlike the uniform estimate cost at most about two scans.

NEAREST, PROBE, CANDIDATE and FIXED are ratios, measured by `python bench/index_speed.py --calibrate` (which
writes bench/results/index_calibration.json, raw timings included): how many code words a scan for a range
handles in the time a scan for the k nearest handles one, of one probe of a table, of one candidate gathered
and verified (both in more codes than the caches hold, the costly case), and of the fixed cost of a scan or
a step (its Python and numpy calls around the primitives, whatever their size). Only the ratios matter; the rule holds no time of its own.
"""

from __future__ import annotations

import math

from ..errors import CodeIndexError
from . import hashtable, multiindex
from .segment import Segment

# bench/results/index_calibration.json ("ratios"): measured with the compiled primitives (kernels.engine()) on the
# machine the benchmarks name
NEAREST = 1.2
PROBE = 230.0
CANDIDATE = 220.0
FIXED = {"hash": 22000.0, "multi-index": 44000.0, "scan": 16000.0}

GROWING = {"hash": hashtable, "multi-index": multiindex}
MAX_PROBES = 50_000_000  # a forced method past this many probes is refused in one line, not attempted


def scan_work(seg: Segment, queries: int, nearest: bool = False) -> float:
    """A scan of the segment for `queries` queries: for a range, or ranking the k nearest."""
    return FIXED["scan"] + queries * seg.n * seg.words * (NEAREST if nearest else 1.0)


def step_work(seg: Segment, how: str, queries: int, t: int, verified: int | None = None) -> float:
    """Step t of a growing way for `queries` queries; `verified`: the candidates it really verified, if known."""
    way = GROWING[how]
    cands = queries * way.candidates(seg, t) if verified is None else verified
    return FIXED[how] + queries * way.probes(seg, t) * PROBE + cands * CANDIDATE


def _memo(seg: Segment, key: tuple, make) -> float:
    """A count of `seg` kept in its cache (a segment never changes): the hot path of a small query recounts nothing."""
    held = seg.cache.get(key)
    if held is None:
        held = seg.cache[key] = make()
    return held


def scan_instead(seg: Segment, how: str, queries: int, t: int, spent: float, nearest: bool = False) -> bool:
    """Whether a growing search that has done `spent` work should scan the segment rather than take step t (before
    any work, no: the way was chosen for costing less than a scan, its first step included)."""
    if not spent:
        return False
    limit = _memo(seg, ("scan instead", how, queries, t, nearest),
                  lambda: scan_work(seg, queries, nearest) - step_work(seg, how, queries, t))
    return spent > limit


def steps_work(seg: Segment, how: str, queries: int, t: int, upto: int, verified: int) -> float:
    """Steps t..upto-1 of a growing way for `queries` queries that verified `verified` candidates in all."""
    probing = _memo(seg, ("steps", how, queries, t, upto),
                    lambda: sum(step_work(seg, how, queries, s, 0) for s in range(t, upto)))
    return probing + verified * CANDIDATE


def together(seg: Segment, how: str, t: int, end: int) -> int:
    """The step a growing search of steps t..end-1 next checks `scan_instead` before: a way whose work is only its
    probes (the hash table's: what the rule estimated, so a check between its steps could not change the
    choice) takes them all in one call; a way that verifies candidates (multi-index) one step at a time."""
    return end if GROWING[how].candidates(seg, t) == 0 else t + 1


def uniform_radius(total: int, bits: int, k: int) -> int:
    """The radius holding k of `total` uniformly random codes on average."""
    need = k << bits  # ball volume * total >= k * 2**bits, in integers: 2.0**bits overflows past 1023 bits
    volume = 0
    for t in range(bits + 1):
        volume += math.comb(bits, t)
        if volume * max(total, 1) >= need:
            return t
    return bits


def _growing(seg: Segment, how: str) -> str:
    return how if how == "hash" or multiindex.usable(seg) else "hash"


def choose(seg: Segment, queries: int, steps: int, nearest: bool = False) -> str:
    """The way of least estimated work for `steps` steps (0..steps-1) of `queries` queries (the k nearest's, or
    a range's)."""
    key = ("way", queries, steps, nearest)  # a segment never changes: decided once per batch size and steps
    if key not in seg.cache:
        seg.cache[key] = _least_work(seg, queries, steps, nearest)
    return seg.cache[key]


def _least_work(seg: Segment, queries: int, steps: int, nearest: bool) -> str:
    best, least = "scan", scan_work(seg, queries, nearest)
    for how in dict.fromkeys(_growing(seg, h) for h in GROWING):
        work = 0.0
        for t in range(steps):
            work += step_work(seg, how, queries, t)
            if work >= least:
                break
        if work < least:
            best, least = how, work
    return best


def check_probes(seg: Segment, how: str, queries: int, steps: range) -> None:
    """Refuse, in one line, a forced growing way that would make more than MAX_PROBES probes."""
    way = GROWING[how]
    total = 0
    for t in steps:
        total += queries * way.probes(seg, t)
        if total > MAX_PROBES:
            raise CodeIndexError(f"{how} search of {seg.bits}-bit codes to step {t} means more than "
                                 f"{MAX_PROBES:,} probes; use method='scan' (or 'auto')")


def for_range(seg: Segment, queries: int, radius: int, method: str) -> str:
    """How to find every item at distance < radius: `method`, or by the rule when it is "auto"."""
    if method == "auto":
        return choose(seg, queries, radius)
    how = method if method == "scan" else _growing(seg, method)
    if how != "scan":
        check_probes(seg, how, queries, range(radius))
    return how


def for_knn(seg: Segment, queries: int, k: int, total: int, method: str) -> str:
    """How a k-nearest search starts on this segment (the index holding `total` items in all)."""
    if method == "auto":
        return choose(seg, queries, uniform_radius(total, seg.bits, k) + 1, nearest=True)
    return method if method == "scan" else _growing(seg, method)
