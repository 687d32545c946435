"""Retrieval over binary codes: exact lookup, Hamming-radius search and top-k, in memory or memory-mapped.

Semantic hashing (Salakhutdinov & Hinton, 2009) stores short binary codes in a hash table and finds
neighbours by flipping a few bits; multi-index hashing (Norouzi, Punjani & Fleet, CVPR 2012) makes
that exact and fast for longer codes by hashing disjoint substrings. Every search here returns exactly
what a brute-force scan returns, ordered by (distance, id).

Codes are packed into uint64 words, bit j in word j // 64 at bit j % 64 (`bits.py`); ids are int64.

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
`store.py`; algorithms and the cost model that chooses among them: `search.py`.
"""

from .bits import pack_bits, unpack_bits
from .index import Found, FoundRanges, Index, IndexRecoveryWarning

__all__ = ["Index", "Found", "FoundRanges", "IndexRecoveryWarning", "pack_bits", "unpack_bits"]
