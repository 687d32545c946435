"""Retrieval over binary codes with FAISS's binary-index API: `add`, `search` (k nearest), `range_search`, `lookup`.

Semantic hashing (Salakhutdinov & Hinton, 2009) stores short binary codes in a hash table and finds
neighbours by flipping a few bits; multi-index hashing (Norouzi, Punjani & Fleet, CVPR 2012) makes
that exact and fast for longer codes by hashing disjoint substrings. Every search here returns exactly
what a brute-force scan returns, ordered by (distance, id).

Codes are packed into uint64 words, bit j in word j // 64 at bit j % 64 (`bits.py`); ids are int64.
Which rows the index takes (bits, FAISS's bytes or words): `bits.packed_rows`.

Each search way is written once, in Python: `scan.py` (XOR and popcount over every code),
`hashtable.py` (bit-flip enumeration over the full-code table), `multiindex.py` (substring tables);
`plan.py` holds the one rule that picks among them per segment, from counts of the work each would do,
and `search.py` runs them over the segments and orders the hits. The inner loops the ways repeat (scans
of a block of codes, probes of a key table for a batch of keys, the check of multi-index candidates)
are the primitives of `kernels.py`, each defined once in numpy and replaced by its compiled twin
(`_kernels.c`, an optional extension built by setup.py) when that was built.

The hash table is arrays, not a pointer-based map, because arrays are what numpy probes in one
vectorised call and what opens by memory-mapping a .npy file, with no load or rebuild step and no
pickle. A segment stores its codes grouped by slot with the ids beside them: the slot is the top
~log2(n) bits of the code's 64-bit hash (Fibonacci hashing of one word, a splitmix mix of several),
or the code itself when 2**bits is small next to n. `full.offsets[s]:full.offsets[s + 1]` is slot
s's run, one or two codes on average, compared directly, so a lookup is two offset reads and one
short compare, and equal codes are adjacent and ordered by id. Each multi-index substring table is an
order array (uint32 positions sorted by substring) plus offsets (direct addressing) or, for wide
substrings, the sorted substring values (binary search). Segments are immutable: appends add
segments and a log-structured merge keeps O(log n) of them. Folder layout and how a write commits:
`store.py`.
"""

from .bits import pack_bits, unpack_bits
from .index import Index, IndexRecoveryWarning

__all__ = ["Index", "IndexRecoveryWarning", "pack_bits", "unpack_bits"]
