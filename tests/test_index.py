"""aelab.index: every search way equals a brute-force scan; the folder survives kills; errors are one line.

The FAISS-equality tests are in test_index_faiss.py."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aelab
from aelab.errors import AelabError, CodeIndexError, IndexSourceError
from aelab.index import Index, IndexRecoveryWarning, kernels, pack_bits, plan, scan, unpack_bits
from aelab.index.bits import from_bytes, to_bytes, words_for
from aelab.index.search import FILLER

SRC = str(Path(aelab.__file__).resolve().parents[1])
# runs Python with the index store's file operations wrapped to SIGKILL it right after the N-th
KILLPOINTS = str(Path(__file__).with_name("killpoints_index.py"))


# -- the brute-force oracle ------------------------------------------------------------------------

WAYS = ("auto", "scan", "hash", "multi-index")
DATA = Path(__file__).with_name("data")


def brute_distances(bits: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Hamming distances by comparing unpacked bits, independent of the packed code path."""
    return (bits != query[None, :]).sum(axis=1).astype(np.int64)


def brute_range(bits, ids, query, radius):
    """Ids and distances of the items at distance < radius, by (distance, id)."""
    d = brute_distances(bits, query)
    sel = np.flatnonzero(d < radius)
    order = np.lexsort((ids[sel], d[sel]))
    return ids[sel][order], d[sel][order]


def brute_knn(bits, ids, query, k):
    d = brute_distances(bits, query)
    order = np.lexsort((ids, d))[:k]
    return ids[order], d[order]


def assert_range(got, bits, ids, queries, radius):
    lims, dist, found = got
    assert lims.dtype == np.int64 and dist.dtype == np.int32 and found.dtype == np.int64
    assert len(lims) == len(queries) + 1 and lims[0] == 0 and lims[-1] == len(found) == len(dist)
    for i, q in enumerate(queries):
        want_ids, want_d = brute_range(bits, ids, q, radius)
        assert np.array_equal(found[lims[i]:lims[i + 1]], want_ids), (i, found[lims[i]:lims[i + 1]], want_ids)
        assert np.array_equal(dist[lims[i]:lims[i + 1]], want_d), i


def assert_knn(got, bits, ids, queries, k):
    dist, found = got
    assert dist.dtype == np.int32 and found.dtype == np.int64
    assert dist.shape == found.shape == (len(queries), k)
    for i, q in enumerate(queries):
        want_ids, want_d = brute_knn(bits, ids, q, k)
        m = len(want_ids)
        assert np.array_equal(found[i, :m], want_ids), (i, found[i], want_ids)
        assert np.array_equal(dist[i, :m], want_d), i
        assert (found[i, m:] == -1).all() and (dist[i, m:] == FILLER).all()  # FAISS's padding


def one_line(e: BaseException) -> str:
    msg = str(e)
    assert msg and "\n" not in msg, repr(msg)
    return msg


# -- packing ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("bits", [1, 7, 8, 63, 64, 65, 128, 1000, 1024])
def test_pack_round_trip_and_documented_bit_order(bits):
    rng = np.random.default_rng(bits)
    b = rng.random((5, bits)) < 0.5
    packed = pack_bits(b)
    assert packed.dtype == np.uint64 and packed.shape == (5, words_for(bits))
    assert np.array_equal(unpack_bits(packed, bits), b)
    for j in map(int, rng.choice(bits, size=min(bits, 20), replace=False)):  # bit j: bit j % 64 of word j // 64
        assert bool((int(packed[0, j // 64]) >> (j % 64)) & 1) == b[0, j]
    # FAISS's bytes are numpy's little-endian bit packing
    assert np.array_equal(to_bytes(packed, bits), np.packbits(b, axis=1, bitorder="little"))
    assert np.array_equal(from_bytes(to_bytes(packed, bits), bits), packed)
    if bits % 64:  # the spare bits of the last word are zero
        assert not (packed[:, -1] >> np.uint64(bits % 64)).any()


def test_byte_table_popcount_matches_numpy():
    from aelab.index.bits import _popcount_lut

    x = np.random.default_rng(2).integers(0, 2**63, size=(7, 3), dtype=np.uint64) * np.uint64(3)
    out = np.empty((7, 3), np.uint8)
    assert np.array_equal(_popcount_lut(x, out=out), np.bitwise_count(x)) and out.dtype == np.uint8
    assert np.array_equal(_popcount_lut(x.astype(np.uint8)), np.bitwise_count(x.astype(np.uint8)))


def test_pack_rejects_non_binary_codes():
    with pytest.raises(CodeIndexError) as e:
        pack_bits(np.array([[0.2, 1.0]]))
    one_line(e.value)
    with pytest.raises(CodeIndexError):
        pack_bits(np.zeros((2, 1025), bool))


@pytest.mark.parametrize("bits", [1, 5, 8, 13, 64, 70])
def test_bits_faiss_bytes_and_words_are_the_same_codes(bits):
    # the one rule: a row of `bits` entries is bits, of ceil(bits / 8) uint8 FAISS's bytes, of words uint64 words
    rng = np.random.default_rng(bits)
    codes = rng.random((200, bits)) < 0.5
    forms = {"bool": codes, "int 0/1": codes.astype(np.int64), "uint8 0/1": codes.astype(np.uint8),
             "float 0/1": codes.astype(np.float32), "faiss bytes": np.packbits(codes, axis=1, bitorder="little"),
             "words": pack_bits(codes)}
    queries = codes[:4] ^ (rng.random((4, bits)) < 0.2)
    qforms = {"bool": queries, "faiss bytes": np.packbits(queries, axis=1, bitorder="little"),
              "words": pack_bits(queries), "list": queries.astype(int).tolist()}
    want = None
    for form in forms.values():
        index = Index(bits)
        index.add(form)
        for q in qforms.values():
            got = index.search(q, 7), index.range_search(q, 3), index.lookup(q)
            got = [a for part in got for a in part]
            if want is None:
                want = got
                assert_knn(got[:2], codes, np.arange(200), queries, 7)
            assert all(np.array_equal(a, b) for a, b in zip(got, want))


# -- every way equals the brute force --------------------------------------------------------------

@st.composite
def index_cases(draw):
    bits = draw(st.sampled_from([1, 2, 5, 8, 13, 31, 63, 64, 65, 96, 128]) | st.integers(1, 200))
    n = draw(st.integers(0, 120))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    pool = max(1, draw(st.integers(1, 2 * n + 2)))  # a small pool gives many duplicate codes
    base = rng.random((pool, bits)) < draw(st.sampled_from([0.5, 0.1, 0.9]))
    codes = base[rng.integers(0, pool, n)]
    id_kind = draw(st.sampled_from(["default", "shuffled", "random"]))
    if id_kind == "default":
        ids = None
    elif id_kind == "shuffled":
        ids = rng.permutation(n).astype(np.int64) * 3 - 7  # unique, unordered, negative too
    else:
        ids = rng.integers(-5, 5, n)  # repeated ids are allowed
    # substrings of at most 16 bits keep a forced multi-index search (which may grow to every bit) cheap
    least = -(-bits // 16)
    subs = draw(st.sampled_from([None]) | st.integers(least, min(bits, least + 4)))
    batches = draw(st.integers(1, 3))
    queries = [codes[i] for i in rng.integers(0, n, 2)] if n else []
    queries.append(rng.random(bits) < 0.5)
    flipped = codes[0].copy() if n else rng.random(bits) < 0.5
    flipped[rng.integers(0, bits)] ^= True
    queries.append(flipped)
    return bits, codes, ids, subs, batches, np.array(queries)


def _build(bits, codes, ids, subs, batches):
    index = Index(bits, substrings=subs)
    n = len(codes)
    cuts = np.linspace(0, n, batches + 1).astype(int)
    for a, b in zip(cuts[:-1], cuts[1:]):
        index.add(codes[a:b], None if ids is None else ids[a:b])
    all_ids = np.arange(n, dtype=np.int64) if ids is None else np.asarray(ids, np.int64)
    return index, all_ids


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index_cases(), st.integers(0, 7))
def test_range_search_and_lookup_equal_brute_force_every_way(case, radius):
    bits, codes, ids, subs, batches, queries = case
    index, all_ids = _build(bits, codes, ids, subs, batches)
    assert len(index) == len(codes)
    scanned = index.range_search(queries, radius, method="scan")
    assert_range(scanned, codes, all_ids, queries, radius)
    for way in WAYS:
        try:
            got = index.range_search(queries, radius, method=way)
        except CodeIndexError as e:  # a forced way past its probe limit is refused, never slow or wrong
            assert way == "hash" and "probes" in one_line(e)
            continue
        assert all(np.array_equal(a, b) for a, b in zip(got, scanned)), way  # the same as the scan
    one = index.range_search(queries[:1], radius)  # one query is a batch of one
    assert len(one[0]) == 2 and np.array_equal(one[2], scanned[2][: scanned[0][1]])
    lims, found = index.lookup(queries)
    assert len(lims) == len(queries) + 1
    for i, q in enumerate(queries):
        assert np.array_equal(found[lims[i]:lims[i + 1]], np.sort(all_ids[brute_distances(codes, q) == 0]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index_cases(), st.integers(0, 130))
def test_search_equals_brute_force_every_way(case, k):
    bits, codes, ids, subs, batches, queries = case
    index, all_ids = _build(bits, codes, ids, subs, batches)
    scanned = index.search(queries, k, method="scan")
    assert_knn(scanned, codes, all_ids, queries, k)
    for way in WAYS:
        if way == "hash" and bits > 12:
            continue  # growing to every bit of a long code by bit flips is refused (tested below)
        got = index.search(queries, k, method=way)
        assert np.array_equal(got[0], scanned[0]) and np.array_equal(got[1], scanned[1]), way
    d1, i1 = index.search(queries[-1:], k)
    assert d1.shape == i1.shape == (1, k) and np.array_equal(i1[0], scanned[1][-1])


def test_larger_index_every_way_agrees_with_brute_force():
    # enough items for several direct-address buckets per substring and real multi-index pruning
    rng = np.random.default_rng(1)
    for bits in (32, 64, 65, 128):
        base = rng.random((3000, bits)) < 0.5
        codes = np.concatenate([base, base[:300]])  # duplicates
        ids = rng.permutation(len(codes)).astype(np.int64)
        index = Index(bits)
        index.add(codes[:2000], ids[:2000])
        index.add(codes[2000:], ids[2000:])
        queries = np.concatenate([codes[:3], codes[5:6] ^ (rng.random((1, bits)) < 0.05), rng.random((2, bits)) < 0.5])
        for radius in (0, 1, 2, 3, 4, 9):
            for way in ("auto", "multi-index", "scan") + (("hash",) if radius <= 4 else ()):
                assert_range(index.range_search(queries, radius, method=way), codes, ids, queries, radius)
        for k in (1, 10, 100, 5000):
            for way in ("auto", "multi-index", "scan"):
                assert_knn(index.search(queries, k, method=way), codes, ids, queries, k)


@pytest.mark.parametrize("bits", [12, 64, 100])
def test_scan_over_many_blocks_with_ties(bits, monkeypatch):
    # small blocks: the threshold falls from block to block, and ties at it span blocks (numpy's blocks
    # of 512 codes; the compiled primitives' blocks are 4096 codes)
    monkeypatch.setattr(kernels, "BLOCK", 512)
    rng = np.random.default_rng(bits)
    pool = rng.random((300, bits)) < 0.5
    codes = pool[rng.integers(0, 300, 9000)]
    ids = rng.permutation(9000).astype(np.int64)
    index = Index(bits)
    index.add(codes, ids)
    queries = np.stack([codes[0], codes[1] ^ (rng.random(bits) < 0.2)])
    for k in (1, 30, 100, 700):
        assert_knn(index.search(queries, k, method="scan"), codes, ids, queries, k)
    assert_range(index.range_search(queries, bits // 4, method="scan"), codes, ids, queries, bits // 4)


def test_auto_searches_switch_to_a_scan_midway_and_stay_exact(monkeypatch):
    # codes far more clustered than the rule's uniform estimate: growing stops paying after a step or
    # two, the segment is scanned for the open queries, and no item is reported twice
    rng = np.random.default_rng(4)
    centre = rng.random(64) < 0.5
    codes = centre ^ (rng.random((5000, 64)) < 0.04)
    index = Index(64, substrings=4)
    index.add(codes)
    scans = []
    nearest, within = scan.nearest, scan.within
    monkeypatch.setattr(plan, "choose", lambda *a, **kw: "multi-index")
    monkeypatch.setattr(plan, "scan_work", lambda *a: 2.5 * plan.FIXED["multi-index"])  # a step or two
    monkeypatch.setattr(scan, "nearest", lambda *a: scans.append("nearest") or nearest(*a))
    monkeypatch.setattr(scan, "within", lambda *a: scans.append("within") or within(*a))
    queries = np.stack([codes[0], centre, ~centre])
    for k in (1, 50, 400):
        assert_knn(index.search(queries, k), codes, np.arange(5000), queries, k)
    for radius in (3, 6, 9):
        assert_range(index.range_search(queries, radius), codes, np.arange(5000), queries, radius)
    assert set(scans) == {"nearest", "within"}


def test_ties_go_to_the_smaller_id():
    codes = np.zeros((6, 16), bool)
    codes[:, 0] = [1, 0, 0, 1, 0, 0]
    index = Index(16)
    index.add(codes, ids=[50, 40, 30, 20, 10, 60])
    q = np.zeros((1, 16), bool)
    for way in WAYS:
        dist, found = index.search(q, 4, method=way)
        assert found.tolist() == [[10, 30, 40, 60]] and dist.tolist() == [[0, 0, 0, 0]]
        dist, found = index.search(q, 8, method=way)
        assert found.tolist() == [[10, 30, 40, 60, 20, 50, -1, -1]]
        assert dist.tolist() == [[0, 0, 0, 0, 1, 1, FILLER, FILLER]]
        lims, dist, found = index.range_search(q, 2, method=way)
        assert lims.tolist() == [0, 6] and found.tolist() == [10, 30, 40, 60, 20, 50]


def test_the_rule_picks_by_counts():
    # what the rule must get right whatever the machine: the full-code table for an exact lookup in many
    # items, a scan where the probes would outnumber the items, multi-index hashing for a wide radius
    rng = np.random.default_rng(0)
    big = Index(64)
    big.add(rng.integers(0, 2**63, (1_000_000, 1), dtype=np.uint64))
    seg = big.segments[0]
    assert plan.for_range(seg, 1, 1, "auto") == "hash"
    assert plan.for_range(seg, 1, 40, "auto") == "scan"
    assert plan.for_range(seg, 1, 6, "auto") == "multi-index"
    tiny = Index(64)
    tiny.add(rng.integers(0, 2**63, (50, 1), dtype=np.uint64))
    assert plan.for_range(tiny.segments[0], 1, 2, "auto") == "scan"  # fewer codes than one step's calls cost
    assert plan.for_knn(seg, 1, 100, seg.n, "auto") == "scan"


def test_the_rule_holds_the_calibration_it_cites():
    calibration = json.loads((Path(__file__).parents[1] / "bench" / "results" / "index_calibration.json").read_text())
    assert calibration["ratios"] == {"NEAREST": plan.NEAREST, "PROBE": plan.PROBE, "CANDIDATE": plan.CANDIDATE,
                                     "FIXED": plan.FIXED}


def test_bad_queries_and_arguments_are_one_line_errors():
    index = Index(70)
    index.add(np.zeros((3, 70), bool))
    q = np.zeros((1, 70), bool)
    cases = [
        lambda: index.search(np.zeros((1, 69), bool), 1),                 # wrong length
        lambda: index.search(np.zeros(70, bool), 1),                      # one query is a batch of one: (1, 70)
        lambda: index.search(np.zeros((1, 3), np.uint64), 1),             # wrong number of words
        lambda: index.search(np.array([[0, 1 << 10]], np.uint64), 1),    # bit 74 set in a 70-bit code
        lambda: index.search(np.full((1, 9), 255, np.uint8), 1),          # bits 70..71 set in FAISS's bytes
        lambda: index.search(np.zeros((1, 9), np.int32), 1),              # 9 entries, not uint8 bytes
        lambda: index.search(q, -2),
        lambda: index.search(q, 1.5),
        lambda: index.range_search(q, -1),
        lambda: index.range_search(q, True),
        lambda: index.range_search(q, 1, method="fast"),
        lambda: index.lookup(np.array([["a"] * 70])),
        lambda: index.add(np.zeros((2, 70), bool), ids=[1]),
        lambda: index.add(np.full((1, 70), 0.5)),
        lambda: Index(0),
        lambda: Index(2000),
        lambda: Index(128, substrings=1),  # a substring key is at most 64 bits
        lambda: index.append(np.zeros((1, 70), bool)),  # not on disk
        lambda: index.range_search(q, 71, method="hash"),  # too many probes: refused, not attempted
        lambda: index.search(~q, 3, method="hash"),  # the items are 70 bits away: too many bit flips
    ]
    for case in cases:
        with pytest.raises(AelabError) as e:
            case()
        one_line(e.value)


def test_empty_index_and_k_zero():
    index = Index(20)
    q = np.zeros((2, 20), bool)
    lims, found = index.lookup(q)
    assert len(index) == 0 and lims.tolist() == [0, 0, 0] and found.size == 0
    dist, found = index.search(q, 5)
    assert found.tolist() == [[-1] * 5] * 2 and (dist == FILLER).all()
    lims, dist, found = index.range_search(q, 3)
    assert lims.tolist() == [0, 0, 0] and dist.size == found.size == 0
    index.add(np.ones((2, 20), bool))
    assert index.search(q, 0)[1].shape == (2, 0)
    assert index.search(np.zeros((0, 20), bool), 3)[1].shape == (0, 3)
    assert index.range_search(q, 0)[0].tolist() == [0, 0, 0]  # nothing is at distance < 0


def test_default_ids_continue_after_the_largest():
    index = Index(8)
    index.add(np.zeros((2, 8), bool))
    index.add(np.ones((1, 8), bool), ids=[10])
    index.add(np.ones((2, 8), bool))
    assert index.lookup(np.ones((1, 8), bool))[1].tolist() == [10, 11, 12]


def test_an_index_saved_by_format_1_opens_and_answers_as_it_did(tmp_path):
    # tests/data/index-v1: saved by aelab before this API (3 segments from two appends), with that code's answers
    saved = np.load(DATA / "index-v1-codes.npz", allow_pickle=False)
    codes, ids = np.unpackbits(saved["codes"], axis=1, bitorder="little").astype(bool), saved["ids"]
    then = json.loads((DATA / "index-v1-results.json").read_text())
    queries = np.array(then["queries"], np.uint8)  # FAISS's bytes
    opened = Index.open(DATA / "index-v1")
    assert len(opened) == 300 and len(opened.segments) == 3 and opened.source["model"] == "fixture"
    dist, found = opened.search(queries, 10)
    lims, rdist, rfound = opened.range_search(queries, 4)  # "within 3 bits" then
    llims, lfound = opened.lookup(queries)
    for i in range(len(queries)):
        assert [found[i].tolist(), dist[i].tolist()] == then["top10"][i]
        a, b = lims[i], lims[i + 1]
        assert [rfound[a:b].tolist(), rdist[a:b].tolist()] == then["radius3"][i]
        assert lfound[llims[i]:llims[i + 1]].tolist() == then["lookup"][i]
    assert_knn((dist, found), codes, ids, np.unpackbits(queries, axis=1, bitorder="little").astype(bool), 10)
    copy = tmp_path / "ix"
    shutil.copytree(DATA / "index-v1", copy)
    appended = Index.open(copy)
    appended.add(codes[:5], ids=np.arange(5) + 9000)
    assert Index.open(copy).lookup(codes[:1])[1].tolist() == sorted(ids[(codes == codes[0]).all(1)].tolist() + [9000])


# -- source of the codes ---------------------------------------------------------------------------

def test_queries_from_another_model_are_refused_naming_both():
    src = {"run": "runs/hash64", "model": "semantic_hashing", "config_sha256": "aa11"}
    index = Index(16, source=src)
    index.add(np.zeros((4, 16), bool), source=src)
    q = np.zeros((1, 16), bool)
    assert index.range_search(q, 1, source=dict(src))[2].tolist() == [0, 1, 2, 3]
    other = {**src, "config_sha256": "bb22"}
    for call in (lambda: index.range_search(q, 1, source=other), lambda: index.search(q, 1, source=other),
                 lambda: index.lookup(q, source=other), lambda: index.add(np.zeros((1, 16), bool), source=other)):
        with pytest.raises(IndexSourceError) as e:
            call()
        msg = one_line(e.value)
        assert "aa11" in msg and "bb22" in msg
    assert len(index) == 4


# -- on disk ---------------------------------------------------------------------------------------

def test_save_open_memory_mapped_without_reading_codes(tmp_path):
    rng = np.random.default_rng(5)
    n = 1_000_000
    codes = rng.integers(0, 2**63, size=(n, 1), dtype=np.uint64) << np.uint64(1)
    index = Index(64, source={"model": "m"})
    index.add(codes)
    index.save(tmp_path / "ix")
    opened = Index.open(tmp_path / "ix")
    arrays = opened.mapped_arrays()
    assert arrays and all(isinstance(a, np.memmap) for a in arrays)  # mapped: open read no data
    assert sum(a.nbytes for a in arrays) > codes.nbytes
    st = opened.stats()
    assert st["memory_bytes"] == 0 and st["mapped_bytes"] > 0 and st["items"] == n
    assert opened.source == {"model": "m"} and opened.recovered is None
    queries = codes[[0, 12345, n - 1]]
    assert [0, 12345, n - 1] == [i for i in opened.lookup(queries)[1].tolist()]
    for way in ("auto", "scan", "multi-index"):
        got, want = opened.search(queries, 10, method=way), index.search(queries, 10)
        assert all(np.array_equal(a, b) for a, b in zip(got, want))
        assert all(np.array_equal(a, b) for a, b in zip(opened.range_search(queries, 4, method=way),
                                                        index.range_search(queries, 4)))
    loaded = Index.open(tmp_path / "ix", mmap=False, verify=True)
    assert not any(isinstance(a, np.memmap) for a in loaded.mapped_arrays())
    assert np.array_equal(loaded.search(codes[3:4], 5)[1], opened.search(codes[3:4], 5)[1])


def test_append_to_saved_index_and_stats(tmp_path):
    rng = np.random.default_rng(6)
    codes = rng.random((900, 40)) < 0.5
    codes[850:] = codes[:50]  # duplicates
    index = Index(40)
    index.add(codes[:500])
    index.save(tmp_path / "ix")
    opened = Index.open(tmp_path / "ix")
    for a, b in ((500, 600), (600, 700), (700, 900)):
        opened.append(codes[a:b])
    again = Index.open(tmp_path / "ix")
    assert len(again) == 900
    queries = codes[[0, 650, 899]]
    assert_knn(again.search(queries, 20), codes, np.arange(900), queries, 20)
    assert_range(again.range_search(queries, 7), codes, np.arange(900), queries, 7)
    st = again.stats()
    assert st["items"] == 900 and st["distinct_codes"] == 850
    assert st["buckets"]["max"] == 2 and st["buckets"]["singletons"] == 800
    on_disk = sum(p.stat().st_size for p in (tmp_path / "ix").rglob("*") if p.is_file() and p.name != ".lock")
    assert st["bytes_on_disk"] == on_disk  # the replaced segments are gone
    assert len(again.segments) <= 3  # merges keep the segment count logarithmic


def test_two_writers_in_turn_continue_each_others_ids(tmp_path):
    folder, _ = _saved(tmp_path, n=5, bits=16)
    a, b = Index.open(folder), Index.open(folder)
    a.append(np.ones((2, 16), bool))
    b.append(np.ones((3, 16), bool))  # b reloads a's append first, then continues its ids
    final = Index.open(folder)
    assert len(final) == 10 and len(b) == 10
    assert final.lookup(np.ones((1, 16), bool))[1].tolist() == [5, 6, 7, 8, 9]


def test_save_refuses_to_replace_without_overwrite(tmp_path):
    index = Index(8)
    index.add(np.zeros((2, 8), bool))
    index.save(tmp_path / "ix")
    other = Index(8)
    other.add(np.ones((3, 8), bool))
    with pytest.raises(CodeIndexError) as e:
        other.save(tmp_path / "ix")
    one_line(e.value)
    assert len(Index.open(tmp_path / "ix")) == 2
    other.save(tmp_path / "ix", overwrite=True)
    assert len(Index.open(tmp_path / "ix")) == 3
    assert len(list((tmp_path / "ix" / "segments").iterdir())) == 1  # the old segment was removed
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("x")
    with pytest.raises(CodeIndexError):
        other.save(tmp_path / "notes")


def _saved(tmp_path, n=300, bits=64):
    rng = np.random.default_rng(7)
    codes = rng.random((n, bits)) < 0.5
    index = Index(bits)
    index.add(codes)
    index.save(tmp_path / "ix")
    return tmp_path / "ix", codes


def test_corrupt_manifest_is_a_one_line_error_naming_it(tmp_path):
    folder, _ = _saved(tmp_path)
    manifest = folder / "manifest.json"
    good = manifest.read_text()
    for bad in (good[: len(good) // 2], "", "[1, 2]", json.dumps({**json.loads(good), "items": 5}),
                json.dumps({**json.loads(good), "version": 99})):
        manifest.write_text(bad)
        with pytest.raises(CodeIndexError) as e:
            Index.open(folder)
        msg = one_line(e.value)
        assert str(folder) in msg
    manifest.unlink()
    with pytest.raises(CodeIndexError) as e:
        Index.open(folder)
    assert "manifest.json" in one_line(e.value)


def test_truncated_missing_or_damaged_segment_file_is_named(tmp_path):
    folder, codes = _saved(tmp_path)
    seg = next((folder / "segments").iterdir())
    path = seg / "codes.npy"
    data = path.read_bytes()
    path.write_bytes(data[:-8])  # truncated
    with pytest.raises(CodeIndexError) as e:
        Index.open(folder)
    assert str(path) in one_line(e.value)
    path.write_bytes(data[:-8] + bytes(8))  # same size, different content: open cannot tell, verify can
    opened = Index.open(folder)
    with pytest.raises(CodeIndexError) as e:
        opened.verify()
    assert str(path) in one_line(e.value)
    with pytest.raises(CodeIndexError):
        Index.open(folder, verify=True)
    path.write_bytes(b"\x93NUMPY garbage" + bytes(len(data) - 14))  # a damaged header
    with pytest.raises(CodeIndexError) as e:
        Index.open(folder)
    assert str(path) in one_line(e.value)
    path.unlink()
    with pytest.raises(CodeIndexError) as e:
        Index.open(folder)
    assert str(path) in one_line(e.value)


# -- a kill at any point of an append --------------------------------------------------------------

APPENDER = """
import sys, numpy as np
from aelab.index import Index
folder, start, n, bits = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
codes = np.load(folder + ".codes.npy")
index = Index.open(folder)
index.append(codes[start:start + n], ids=np.arange(start, start + n))
print("committed")
"""


def _append_in_subprocess(folder: Path, start: int, n: int, bits: int, kill_at: int | None):
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
    wrapper = [] if kill_at is None else [KILLPOINTS, str(kill_at)]
    return subprocess.run([sys.executable, *wrapper, "-c", APPENDER, str(folder), str(start), str(n), str(bits)],
                          env=env, capture_output=True, text=True, timeout=120)


def test_append_killed_at_random_points_reopens_whole(tmp_path):
    rng = np.random.default_rng(8)
    bits, batch = 48, 60
    codes = rng.random((40 * batch, bits)) < 0.5
    folder = tmp_path / "ix"
    np.save(str(folder) + ".codes.npy", codes)
    index = Index(bits)
    index.add(codes[:batch])
    index.save(folder)
    committed = batch
    kills = random.Random(11).choices(range(1, 16), k=10)  # the N-th file operation of an append
    outcomes = set()
    for kill_at in kills:
        proc = _append_in_subprocess(folder, committed, batch, bits, kill_at)
        killed = proc.returncode == -9
        assert killed or (proc.returncode == 0 and "committed" in proc.stdout), proc.stderr
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            opened = Index.open(folder)
        n = len(opened)
        assert n in (committed, committed + batch)
        if n == committed:  # killed before the manifest's rename: says so, in one line
            assert killed
            msg = opened.recovered
            assert msg == f"index {folder}: the last append of {batch} items was not committed; opened with {n} items"
            assert [str(w.message) for w in caught if w.category is IndexRecoveryWarning] == [msg]
            outcomes.add("lost")
        else:
            assert opened.recovered is None and not caught
            outcomes.add("kept")
        committed = n
        ids = np.arange(committed)
        queries = codes[[0, committed - 1]]  # never corrupt: every search still equals the brute force
        assert_knn(opened.search(queries, 7), codes[:committed], ids, queries, 7)
        assert_range(opened.range_search(queries, 6), codes[:committed], ids, queries, 6)
        opened.verify()
    assert outcomes == {"lost", "kept"}, kills
    # a clean append afterwards removes what the killed ones left behind
    proc = _append_in_subprocess(folder, committed, batch, bits, None)
    assert proc.returncode == 0, proc.stderr
    final = Index.open(folder)
    assert len(final) == committed + batch and final.recovered is None
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {p.name for p in (folder / "segments").iterdir()} == {s["name"] for s in manifest["segments"]}
    assert not (folder / "pending.json").exists()


def test_append_killed_at_every_file_operation_reopens_whole(tmp_path):
    # the wrapper counts exactly the append's steps: pending.json, each new segment file, the manifest (the
    # commit), each segment it replaced, pending.json's removal; a kill after each one leaves a whole index
    rng = np.random.default_rng(12)
    bits, old, batch = 48, 30, 60
    codes = rng.random((old + batch, bits)) < 0.5
    base = tmp_path / "base"
    np.save(str(base) + ".codes.npy", codes)
    index = Index(bits)
    index.add(codes[:old])
    index.save(base)
    before = json.loads((base / "manifest.json").read_text())

    def fresh(name):
        folder = tmp_path / name
        shutil.copytree(base, folder)
        shutil.copy(str(base) + ".codes.npy", str(folder) + ".codes.npy")
        return folder

    proc = _append_in_subprocess(fresh("count"), old, batch, bits, 0)
    assert proc.returncode == 0 and "committed" in proc.stdout, proc.stderr
    after = json.loads((tmp_path / "count" / "manifest.json").read_text())
    old_names = {s["name"] for s in before["segments"]}
    new_files = sum(len(s["files"]) for s in after["segments"] if s["name"] not in old_names)
    replaced = len(old_names - {s["name"] for s in after["segments"]})
    assert replaced >= 1  # the new segment absorbed the old one: its removal is a step too
    total = 1 + new_files + 1 + replaced + 1
    assert f"killpoints_index: {total} file operations" in proc.stderr
    for kill_at in range(1, total + 1):
        folder = fresh(f"k{kill_at}")
        proc = _append_in_subprocess(folder, old, batch, bits, kill_at)
        assert proc.returncode == -9, (kill_at, proc.stderr)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            opened = Index.open(folder)
        committed = old if kill_at <= 1 + new_files else old + batch  # the manifest's rename is step 2 + new_files
        assert len(opened) == committed, kill_at
        if committed == old:
            msg = f"index {folder}: the last append of {batch} items was not committed; opened with {old} items"
            assert opened.recovered == msg, kill_at
            assert [str(w.message) for w in caught if w.category is IndexRecoveryWarning] == [msg], kill_at
        else:
            assert opened.recovered is None and not caught, kill_at
        opened.verify()
        queries = codes[[0, committed - 1]]
        assert_knn(opened.search(queries, 7), codes[:committed], np.arange(committed), queries, 7)


def test_interrupted_first_save_is_reported(tmp_path):
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    code = ("import numpy as np; from aelab.index import Index; i = Index(16); "
            f"i.add(np.ones((9, 16), bool)); i.save({str(tmp_path / 'ix')!r})")
    proc = subprocess.run([sys.executable, KILLPOINTS, "2", "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == -9
    with pytest.raises(CodeIndexError) as e:
        Index.open(tmp_path / "ix")
    assert "never committed" in one_line(e.value) and "9 items" in str(e.value)


def test_second_writer_is_refused_naming_the_holder(tmp_path):
    folder, _ = _saved(tmp_path, n=10, bits=16)
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from aelab.index import store\n"
         f"with store.writer_lock(Path({str(folder)!r})):\n    print('held', flush=True); time.sleep(60)"],
        env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        opened = Index.open(folder)
        with pytest.raises(CodeIndexError) as e:
            opened.append(np.zeros((1, 16), bool))
        assert f"process {holder.pid}" in one_line(e.value)
    finally:
        holder.kill()
        holder.wait()
    opened.append(np.zeros((1, 16), bool))  # the OS released the killed holder's lock
    assert len(Index.open(folder)) == 11


# -- long codes ------------------------------------------------------------------------------------

def test_the_longest_codes_plan_and_search_without_overflow():
    # 1024 bits: the rule's 2**bits must not pass through a float (it overflows past 1023 bits)
    rng = np.random.default_rng(3)
    codes = rng.random((300, 1024)) < 0.5
    index = Index(1024)
    index.add(codes)
    queries = codes[4:6] ^ (rng.random((2, 1024)) < 0.01)
    for way in ("auto", "scan", "multi-index"):
        assert_range(index.range_search(queries, 21, method=way), codes, np.arange(300), queries, 21)
    for way in ("auto", "scan"):
        assert_knn(index.search(queries, 10, method=way), codes, np.arange(300), queries, 10)
    # the 10th nearest is ~470 bits away: multi-index hashing forced that far is refused in one line, not
    # attempted (nor out of memory); auto scans
    for refused in (lambda: index.range_search(queries, 300, method="multi-index"),
                    lambda: index.search(queries, 10, method="multi-index")):
        with pytest.raises(CodeIndexError, match="method='scan'") as e:
            refused()
        one_line(e.value)


# -- the report ------------------------------------------------------------------------------------

def test_the_reports_examples_are_each_querys_nearest_by_distance_then_position():
    import re
    from types import SimpleNamespace

    from aelab.viz.retrieval import QUERIES, SHOWN, examples_html

    rng = np.random.default_rng(5)
    db = rng.random((40, 12)) < 0.5
    db[20:] = db[:20]  # every code twice: ties, which go to the earlier training item
    queries = db[[3, 30, 11]] ^ (rng.random((3, 12)) < 0.2)
    database = SimpleNamespace(y=np.arange(40), texts=[f"doc{i}" for i in range(40)], classes=None)
    shown = SimpleNamespace(y=np.zeros(3, int), texts=["q0", "q1", "q2"], classes=None)
    page = examples_html(queries.astype(np.float32), shown, db.astype(np.float32), database, None, None)
    listed = [[int(i) for i in re.findall(r"doc(\d+)", block)] for block in page.split("<div class='query'>")[1:]]
    assert len(listed) == min(QUERIES, 3)
    for q, got in zip(queries, listed):
        assert got == brute_knn(db, np.arange(40), q, SHOWN)[0].tolist()
