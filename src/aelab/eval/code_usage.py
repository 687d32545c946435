"""Whether binary codes use their bits: distinct codes, each bit's share of ones, how much the bits repeat each other.

A hash whose items share a few codes, whose bits are nearly constant, or whose bits copy each other, searches no
better than a shorter one, whatever its retrieval scores on the data it was tuned on. These numbers need no labels.
"""

from __future__ import annotations

import numpy as np

# A run's codes "collapsed" when its training items use fewer distinct codes than this share of what they could
# (min(items, 2^bits)): more than ten items a code on average; or when a bit is the same for every item. Said in one
# line at the end of training. Not higher: a good hash may give near neighbours one code (the 16-bit digits preset
# gives 409 codes to 1,500 digits, 27%); the collapses seen on new corpora were 0.8% and 3.8%.
COLLAPSED_SHARE = 0.1


def code_usage(bits: np.ndarray) -> tuple[dict[str, float], dict[str, list[float]]]:
    """({distinct_codes, distinct_share, dead_bits, bit_balance, bit_correlation}, {bit_ones}) of bool codes (N, B).

    distinct_share: distinct codes over min(N, 2^B); bit_balance: the mean over bits of 2 min(p, 1 - p) (1 when
    every bit is on for half the items, 0 when every bit is constant); bit_correlation: the mean absolute Pearson
    correlation over pairs of bits that vary (0 for independent bits, 1 for copies).
    """
    b = np.asarray(bits, dtype=bool)
    n, width = b.shape
    if n == 0:
        return {}, {}
    distinct = len(np.unique(np.packbits(b, axis=1), axis=0))
    ones = b.mean(axis=0)
    varying = (ones > 0) & (ones < 1)
    corr = 0.0
    if varying.sum() >= 2:
        c = np.corrcoef(b[:, varying].T.astype(np.float64))
        off = ~np.eye(len(c), dtype=bool)
        corr = float(np.abs(c[off]).mean())
    metrics = {"distinct_codes": float(distinct), "distinct_share": distinct / min(n, 2.0**width),
               "dead_bits": float((~varying).sum()), "bit_balance": float((2 * np.minimum(ones, 1 - ones)).mean()),
               "bit_correlation": corr}
    return metrics, {"bit_ones": [float(v) for v in ones]}


def collapse_note(metrics: dict[str, float], n: int, width: int) -> str | None:
    """One line when the codes of n items collapsed (see COLLAPSED_SHARE), else None."""
    if not metrics:
        return None
    dead, distinct = int(metrics["dead_bits"]), int(metrics["distinct_codes"])
    if metrics["distinct_share"] >= COLLAPSED_SHARE and dead == 0:
        return None
    what = [f"{distinct:,} distinct {width}-bit codes for {n:,} items"]
    if dead:
        what.append(f"{dead} bit{'s' if dead > 1 else ''} the same for every item")
    return (f"the codes collapsed: {'; '.join(what)} (bit balance {metrics['bit_balance']:.2f}, mean |correlation| "
            f"between bits {metrics['bit_correlation']:.2f}); their search is no better than a shorter code's")
