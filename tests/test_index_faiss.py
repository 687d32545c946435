"""aelab.index answers as FAISS's binary indexes do, through the same calls on the same codes (faiss optional)."""

from __future__ import annotations

import numpy as np
import pytest

from aelab.errors import CodeIndexError
from aelab.index import Index

faiss = pytest.importorskip("faiss")


def _codes(bits: int, n: int, seed: int) -> np.ndarray:
    """FAISS's bytes (n, bits / 8): random codes, a tenth of them repeated, so that distances tie."""
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, (n, bits // 8), dtype=np.uint8)
    if n >= 10:
        raw[: n // 10] = raw[n - n // 10 :]
    return raw


def _queries(raw: np.ndarray, bits: int, seed: int) -> np.ndarray:
    """Codes of the index with 0..3 bits flipped, and random codes."""
    rng = np.random.default_rng(seed + 1)
    picked = np.unpackbits(raw[rng.integers(0, len(raw), 6)] if len(raw) else np.zeros((0, bits // 8), np.uint8),
                           axis=1, bitorder="little")
    for row, flips in zip(picked, (0, 1, 2, 3, 1, 2)):
        row[rng.choice(bits, flips, replace=False)] ^= 1
    return np.concatenate([np.packbits(picked, axis=1, bitorder="little"),
                           rng.integers(0, 256, (3, bits // 8), dtype=np.uint8)])


def _by_distance_then_id(lims, dist, ids):
    """FAISS's range results with each query's hits ordered by (distance, id), as aelab orders them."""
    lims = lims.astype(np.int64)
    order = np.concatenate([a + np.lexsort((ids[a:b], dist[a:b])) for a, b in zip(lims[:-1], lims[1:])] or
                           [np.zeros(0, np.int64)])
    return lims, dist[order].astype(np.int32), ids[order]


def _flat(raw: np.ndarray, bits: int):
    flat = faiss.IndexBinaryFlat(bits)
    flat.add(raw)
    return flat


def test_export_and_from_faiss_keep_codes_and_ids():
    rng = np.random.default_rng(9)
    codes = rng.random((2000, 64)) < 0.5
    queries = codes[:20] ^ (rng.random((20, 64)) < 0.1)
    index = Index(64)
    index.add(codes)
    flat = index.to_faiss()
    assert isinstance(flat, faiss.IndexBinaryFlat) and flat.ntotal == 2000
    packed = np.packbits(queries, axis=1, bitorder="little")
    _same(index.search(queries, 30), flat.search(packed, 30))
    _same(Index.from_faiss(flat).search(queries, 30), index.search(queries, 30))
    ids = rng.permutation(2000).astype(np.int64) * 5  # arbitrary ids travel through an IndexBinaryIDMap
    custom = Index(64)
    custom.add(codes, ids)
    mapped = custom.to_faiss()
    assert isinstance(mapped, faiss.IndexBinaryIDMap)
    _same(custom.search(queries, 10), mapped.search(packed, 10))
    _same(Index.from_faiss(mapped).search(queries, 10), custom.search(queries, 10))
    hashed = custom.to_faiss("hash")
    hashed.nflip = 2
    _same(custom.range_search(queries, 3), _by_distance_then_id(*hashed.range_search(packed, 3)))
    back = Index.from_faiss(hashed)  # IndexBinaryHash: its codes and ids read back from its serialised map
    assert len(back) == 2000
    for got, want in zip(back.codes_and_ids(), custom.codes_and_ids()):
        np.testing.assert_array_equal(got, want)
    _same(back.search(queries, 10), custom.search(queries, 10))
    with pytest.raises(CodeIndexError) as e:
        Index(12).to_faiss()
    assert "\n" not in str(e.value)
    with pytest.raises(CodeIndexError, match="IndexBinaryHash"):
        Index.from_faiss(faiss.IndexBinaryMultiHash(64, 2, 32))


@pytest.mark.parametrize("bits", [8, 24, 64, 128])
def test_to_and_from_faiss_round_trips_every_kind(bits):
    """flat, an id map and a hash index (on fewer bits than the code, and on empty indexes) give back the codes."""
    raw = _codes(bits, 300, bits)
    ids = np.random.default_rng(bits).permutation(1000)[:300].astype(np.int64)
    for n in (300, 0):
        index = Index(bits)
        index.add(raw[:n], ids[:n])
        want = index.codes_and_ids()
        for kind, hash_bits in (("flat", None), ("hash", None), ("hash", min(bits, 64) // 2 or 1)):
            exported = index.to_faiss(kind, hash_bits)
            assert exported.ntotal == n
            back = Index.from_faiss(exported)
            assert back.bits == bits
            for got, expected in zip(back.codes_and_ids(), want):
                np.testing.assert_array_equal(got, expected)


def _same(ours, theirs):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape and np.array_equal(a, b), (a, b)


@pytest.mark.parametrize("bits", [32, 64, 128])
@pytest.mark.parametrize("n", [0, 7, 1500])
def test_search_and_range_search_equal_faiss_binary_flat(bits, n):
    raw = _codes(bits, n, bits + n)
    queries = _queries(raw, bits, bits + n)
    ours = Index(bits)
    ours.add(raw)
    flat = _flat(raw, bits)
    for k in (1, 5, 100, n + 3):  # k past the index's size: ids -1, distances 2**31 - 1
        _same(ours.search(queries, k), flat.search(queries, k))
        for way in ("scan", "multi-index"):
            _same(ours.search(queries, k, method=way), flat.search(queries, k))
    for radius in (0, 1, 2, 4, bits // 4, bits + 1):
        theirs = _by_distance_then_id(*flat.range_search(queries, radius))
        _same(ours.range_search(queries, radius), theirs)
        _same(ours.range_search(queries, radius, method="scan"), theirs)
        if radius <= 3:
            _same(ours.range_search(queries, radius, method="hash"), theirs)


@pytest.mark.parametrize("bits", [32, 64, 128])
def test_range_search_equals_faiss_hash_and_multihash_set_to_be_exact(bits):
    # IndexBinaryHash over min(bits, 64) bits with nflip = radius - 1, and IndexBinaryMultiHash over 16-bit
    # substrings covering every bit with nflip = (radius - 1) // tables, miss nothing (pigeonhole principle)
    raw = _codes(bits, 3000, bits)
    queries = _queries(raw, bits, bits)
    ours = Index(bits)
    ours.add(raw[:2000])
    ours.add(raw[2000:])  # two segments
    hashed = faiss.IndexBinaryHash(bits, min(bits, 64))
    hashed.add(raw)
    tables = bits // 16
    multi = faiss.IndexBinaryMultiHash(bits, tables, 16)
    multi.add(raw)
    for radius in (1, 2, 3, 4):
        hashed.nflip, multi.nflip = radius - 1, (radius - 1) // tables
        want = ours.range_search(queries, radius)
        _same(want, _by_distance_then_id(*hashed.range_search(queries, radius)))
        _same(want, _by_distance_then_id(*multi.range_search(queries, radius)))
    lims, _, ids = _by_distance_then_id(*_flat(raw, bits).range_search(queries, 1))
    _same(ours.lookup(queries), (lims, ids))  # exact-code lookup: the range search of radius 1, less distances
