"""aelab.index: every search equals a brute-force scan; the folder survives kills; errors are one line."""

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
from aelab.index import Found, FoundRanges, Index, IndexRecoveryWarning, pack_bits, unpack_bits
from aelab.index.bits import ball_volume, from_bytes, to_bytes, words_for

SRC = str(Path(aelab.__file__).resolve().parents[1])
# runs Python with the index store's file operations wrapped to SIGKILL it right after the N-th
KILLPOINTS = str(Path(__file__).with_name("killpoints_index.py"))


# -- the brute-force oracle ------------------------------------------------------------------------

def brute_distances(bits: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Hamming distances by comparing unpacked bits, independent of the packed code path."""
    return (bits != query[None, :]).sum(axis=1).astype(np.int64)


def brute_radius(bits, ids, query, r):
    d = brute_distances(bits, query)
    sel = np.flatnonzero(d <= r)
    order = np.lexsort((ids[sel], d[sel]))
    return ids[sel][order], d[sel][order]


def brute_topk(bits, ids, query, k):
    d = brute_distances(bits, query)
    order = np.lexsort((ids, d))[:k]
    return ids[order], d[order]


@pytest.fixture(params=["compiled", "numpy"])
def engine(request, monkeypatch):
    """Each search test runs on the compiled inner loops and on the numpy routines they replace."""
    from aelab.index import kernels

    if request.param == "compiled" and kernels._k is None:
        pytest.skip("the compiled kernels were not built (no C compiler at install)")
    monkeypatch.setattr(kernels, "ENABLED", request.param == "compiled")
    return request.param


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
    if bits % 8 == 0:
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


# -- every search equals the brute force -----------------------------------------------------------

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
    # substrings of at most 16 bits keep a forced multi-index top-k (which may grow to every bit) cheap
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


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(index_cases(), st.integers(0, 6))
def test_radius_search_equals_brute_force_for_every_method(engine, case, r):
    bits, codes, ids, subs, batches, queries = case
    index, all_ids = _build(bits, codes, ids, subs, batches)
    assert len(index) == len(codes)
    for q in queries:
        want_ids, want_d = brute_radius(codes, all_ids, q, r)
        for method in ("auto", "enumerate", "multi-index", "scan"):
            if method == "enumerate" and ball_volume(bits, r) > 100_000:
                continue  # correct but slow; the refusal of a huge enumeration is tested below
            got = index.search_radius(q, r, method=method)
            assert np.array_equal(got.ids, want_ids), (method, got.ids, want_ids)
            assert np.array_equal(got.distances, want_d), method
            assert got.distances.dtype == np.int32
        # packed input gives the same; so does the batch form, query by query
        assert np.array_equal(index.search_radius(pack_bits(q), r).ids, want_ids)
        looked = index.lookup(q)
        assert np.array_equal(looked, np.sort(all_ids[brute_distances(codes, q) == 0]))
    batch = index.search_radius(queries, r, method="multi-index")
    assert isinstance(batch, FoundRanges) and len(batch.offsets) == len(queries) + 1
    for i, q in enumerate(queries):
        want_ids, want_d = brute_radius(codes, all_ids, q, r)
        assert np.array_equal(batch.query(i).ids, want_ids)
        assert np.array_equal(batch.query(i).distances, want_d)
    for method in ("scan", "enumerate"):
        if method == "enumerate" and ball_volume(bits, r) > 100_000:
            continue
        b2 = index.search_radius(queries, r, method=method)
        assert np.array_equal(b2.ids, batch.ids) and np.array_equal(b2.offsets, batch.offsets)
    lk = index.lookup(queries)
    for i, q in enumerate(queries):
        assert np.array_equal(lk.query(i).ids, np.sort(all_ids[brute_distances(codes, q) == 0]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(index_cases(), st.integers(0, 130))
def test_topk_equals_brute_force_for_every_method(engine, case, k):
    bits, codes, ids, subs, batches, queries = case
    index, all_ids = _build(bits, codes, ids, subs, batches)
    methods = ["auto", "scan", "multi-index"] + (["enumerate"] if bits <= 12 else [])
    for q in queries:
        want_ids, want_d = brute_topk(codes, all_ids, q, k)
        for method in methods:
            got = index.search_topk(q, k, method=method)
            assert isinstance(got, Found)
            assert np.array_equal(got.ids, want_ids), (method, k, got.ids, want_ids)
            assert np.array_equal(got.distances, want_d), method
    kk = min(k, len(codes))
    for method in methods:
        batch = index.search_topk(queries, k, method=method)
        assert batch.ids.shape == (len(queries), kk) and batch.distances.shape == (len(queries), kk)
        for i, q in enumerate(queries):
            want_ids, want_d = brute_topk(codes, all_ids, q, k)
            assert np.array_equal(batch.ids[i], want_ids), method
            assert np.array_equal(batch.distances[i], want_d), method


def test_larger_index_all_methods_agree_with_brute_force(engine):
    # enough items for several direct-address buckets per substring and real multi-index pruning
    rng = np.random.default_rng(1)
    for bits in (32, 64, 65, 128):
        base = rng.random((3000, bits)) < 0.5
        codes = np.concatenate([base, base[:300]])  # duplicates
        ids = rng.permutation(len(codes)).astype(np.int64)
        index = Index(bits)
        index.add(codes[:2000], ids[:2000])
        index.add(codes[2000:], ids[2000:])
        for q in list(codes[:3]) + [codes[5] ^ (rng.random(bits) < 0.05)]:
            for r in (0, 1, 2, 3, 8):
                want = brute_radius(codes, ids, q, r)
                for method in ("auto", "multi-index", "scan") + (("enumerate",) if r <= 3 else ()):
                    got = index.search_radius(q, r, method=method)
                    assert np.array_equal(got.ids, want[0]) and np.array_equal(got.distances, want[1])
            for k in (1, 10, 100, 5000):
                want = brute_topk(codes, ids, q, k)
                for method in ("auto", "multi-index", "scan"):
                    got = index.search_topk(q, k, method=method)
                    assert np.array_equal(got.ids, want[0]) and np.array_equal(got.distances, want[1])
        queries = codes[[0, 7, 7, 2999]] ^ (rng.random((4, bits)) < 0.1)
        for k in (1, 100):
            batch = index.search_topk(queries, k)
            for i, q in enumerate(queries):
                want = brute_topk(codes, ids, q, k)
                assert np.array_equal(batch.ids[i], want[0]) and np.array_equal(batch.distances[i], want[1])


@pytest.mark.parametrize("bits", [12, 64, 100])
def test_scan_topk_over_many_chunks_with_ties(bits, engine, monkeypatch):
    # small chunks: the threshold is lowered from chunk to chunk, and ties at it span chunks
    from aelab.index import search

    monkeypatch.setattr(search, "SCAN_BLOCK", 512)
    rng = np.random.default_rng(bits)
    pool = rng.random((300, bits)) < 0.5
    codes = pool[rng.integers(0, 300, 9000)]
    ids = rng.permutation(9000).astype(np.int64)
    index = Index(bits)
    index.add(codes, ids)
    for q in (codes[0], codes[1] ^ (rng.random(bits) < 0.2)):
        for k in (1, 30, 100, 700):
            want = brute_topk(codes, ids, q, k)
            got = index.search_topk(q, k, method="scan")
            assert np.array_equal(got.ids, want[0]) and np.array_equal(got.distances, want[1]), k
        want = brute_radius(codes, ids, q, bits // 4)
        got = index.search_radius(q, bits // 4, method="scan")
        assert np.array_equal(got.ids, want[0]) and np.array_equal(got.distances, want[1])


def test_auto_topk_switches_to_a_scan_midway_and_stays_exact(engine, monkeypatch):
    # codes far more clustered than the uniform cost model assumes: growing the radius stops paying
    # after a few steps, and the segment is scanned without reporting an item twice
    from aelab.index import search

    rng = np.random.default_rng(4)
    centre = rng.random(64) < 0.5
    codes = centre ^ (rng.random((5000, 64)) < 0.04)
    index = Index(64, substrings=4)
    index.add(codes)
    seg = index.segments[0]
    switched = []
    real_scan = search.scan_topk
    monkeypatch.setattr(search, "plan_topk", lambda *a: "multi-index")
    monkeypatch.setattr(search, "cost_scan", lambda s: 2.5 * search.costs().step)  # a step or two, then a scan
    monkeypatch.setattr(search, "scan_topk", lambda *a: switched.append(1) or real_scan(*a))
    ids = np.arange(5000)
    for q in (codes[0], centre, ~centre):
        for k in (1, 50, 400):
            want = brute_topk(codes, ids, q, k)
            got = index.search_topk(q, k)
            assert np.array_equal(got.ids, want[0]) and np.array_equal(got.distances, want[1])
    assert switched and seg.n == 5000


def test_topk_ties_are_broken_by_smaller_id():
    codes = np.zeros((6, 16), bool)
    codes[:, 0] = [1, 0, 0, 1, 0, 0]
    index = Index(16)
    index.add(codes, ids=[50, 40, 30, 20, 10, 60])
    got = index.search_topk(np.zeros(16, bool), 4)
    assert got.ids.tolist() == [10, 30, 40, 60] and got.distances.tolist() == [0, 0, 0, 0]
    got = index.search_topk(np.zeros(16, bool), 5)
    assert got.ids.tolist() == [10, 30, 40, 60, 20] and got.distances.tolist() == [0, 0, 0, 0, 1]


def test_search_combines_radius_and_top():
    rng = np.random.default_rng(3)
    codes = rng.random((400, 24)) < 0.5
    index = Index(24)
    index.add(codes)
    q = codes[7]
    ids = np.arange(400)
    within = brute_radius(codes, ids, q, 9)
    assert np.array_equal(index.search(q, radius=9).ids, within[0])
    assert np.array_equal(index.search(q, top=5).ids, brute_topk(codes, ids, q, 5)[0])
    both = index.search(q, radius=9, top=3)
    assert np.array_equal(both.ids, within[0][:3])
    batch = index.search(codes[:4], radius=9, top=2)
    for i in range(4):
        assert np.array_equal(batch.query(i).ids, brute_radius(codes, ids, codes[i], 9)[0][:2])
    with pytest.raises(CodeIndexError) as e:
        index.search(q)
    one_line(e.value)


def test_bad_queries_and_arguments_are_one_line_errors():
    index = Index(70)
    index.add(np.zeros((3, 70), bool))
    cases = [
        lambda: index.search_topk(np.zeros(69, bool), 1),                 # wrong length
        lambda: index.search_topk(np.zeros(3, np.uint64), 1),             # wrong number of words
        lambda: index.search_topk(np.array([0, 1 << 10], np.uint64), 1),  # bit 74 set in a 70-bit code
        lambda: index.search_radius(np.zeros(70, bool), -1),
        lambda: index.search_radius(np.zeros(70, bool), 1, method="fast"),
        lambda: index.search_topk(np.zeros(70, bool), -2),
        lambda: index.add(np.zeros((2, 70), bool), ids=[1]),
        lambda: index.add(np.full((1, 70), 0.5)),
        lambda: Index(0),
        lambda: Index(2000),
        lambda: Index(128, substrings=1),  # a substring key is at most 64 bits
        lambda: index.append(np.zeros((1, 70), bool)),  # not on disk
        lambda: index.search_radius(np.zeros(70, bool), 70, method="enumerate"),  # too many probes
    ]
    for case in cases:
        with pytest.raises(AelabError) as e:
            case()
        one_line(e.value)


def test_empty_index_and_k_zero():
    index = Index(20)
    q = np.zeros(20, bool)
    assert len(index) == 0 and index.lookup(q).size == 0
    assert index.search_topk(q, 5).ids.size == 0
    assert index.search_radius(q, 3).ids.size == 0
    index.add(np.ones((2, 20), bool))
    assert index.search_topk(q, 0).ids.size == 0
    assert index.search_topk(np.zeros((3, 20), bool), 0).ids.shape == (3, 0)


def test_default_ids_continue_after_the_largest():
    index = Index(8)
    index.add(np.zeros((2, 8), bool))
    index.add(np.ones((1, 8), bool), ids=[10])
    index.add(np.ones((2, 8), bool))
    assert index.lookup(np.ones(8, bool)).tolist() == [10, 11, 12]


# -- source of the codes ---------------------------------------------------------------------------

def test_queries_from_another_model_are_refused_naming_both():
    src = {"run": "runs/hash64", "model": "semantic_hashing", "config_sha256": "aa11"}
    index = Index(16, source=src)
    index.add(np.zeros((4, 16), bool), source=src)
    q = np.zeros(16, bool)
    assert index.search(q, radius=0, source=dict(src)).ids.tolist() == [0, 1, 2, 3]
    other = {**src, "config_sha256": "bb22"}
    for call in (lambda: index.search(q, radius=1, source=other), lambda: index.search_topk(q, 1, source=other),
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
    for i in (0, 12345, n - 1):
        q = codes[i]
        assert i in opened.lookup(q).tolist()
        assert np.array_equal(opened.search_topk(q, 10).ids, index.search_topk(q, 10).ids)
        assert np.array_equal(opened.search_radius(q, 3).ids, index.search_radius(q, 3).ids)
    loaded = Index.open(tmp_path / "ix", mmap=False, verify=True)
    assert not any(isinstance(a, np.memmap) for a in loaded.mapped_arrays())
    assert np.array_equal(loaded.search_topk(codes[3], 5).ids, opened.search_topk(codes[3], 5).ids)


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
    ids = np.arange(900)
    for q in codes[[0, 650, 899]]:
        assert np.array_equal(again.search_topk(q, 20).ids, brute_topk(codes, ids, q, 20)[0])
        assert np.array_equal(again.search_radius(q, 6).ids, brute_radius(codes, ids, q, 6)[0])
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
    assert final.lookup(np.ones(16, bool)).tolist() == [5, 6, 7, 8, 9]


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
        for q in codes[[0, committed - 1]]:  # never corrupt: every search still equals the brute force
            assert np.array_equal(opened.search_topk(q, 7).ids, brute_topk(codes[:committed], ids, q, 7)[0])
            assert np.array_equal(opened.search_radius(q, 5).ids, brute_radius(codes[:committed], ids, q, 5)[0])
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
        ids = np.arange(committed)
        for q in codes[[0, committed - 1]]:
            assert np.array_equal(opened.search_topk(q, 7).ids, brute_topk(codes[:committed], ids, q, 7)[0])


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


# -- FAISS -----------------------------------------------------------------------------------------

def test_faiss_round_trip_gives_the_same_neighbours():
    faiss = pytest.importorskip("faiss")
    rng = np.random.default_rng(9)
    codes = rng.random((2000, 64)) < 0.5
    index = Index(64)
    index.add(codes)
    flat = index.export_faiss()
    assert isinstance(flat, faiss.IndexBinaryFlat) and flat.ntotal == 2000
    queries = codes[:20] ^ (rng.random((20, 64)) < 0.1)
    d_f, i_f = flat.search(np.packbits(queries, axis=1, bitorder="little"), 30)
    ours = index.search_topk(queries, 30)
    assert np.array_equal(np.sort(d_f, axis=1), ours.distances)  # the same distances, as a set
    for row in range(20):  # and the same ids below the 30th distance (FAISS breaks ties its own way)
        kth = ours.distances[row, -1]
        assert set(i_f[row][d_f[row] < kth]) == set(ours.ids[row][ours.distances[row] < kth])
    back = Index.from_faiss(flat)
    assert np.array_equal(back.search_topk(queries, 30).ids, ours.ids)
    # arbitrary ids travel through an IndexBinaryIDMap; IndexBinaryHash holds the same codes
    ids = rng.permutation(2000).astype(np.int64) * 5
    custom = Index(64)
    custom.add(codes, ids)
    mapped = custom.export_faiss()
    assert isinstance(mapped, faiss.IndexBinaryIDMap)
    assert np.array_equal(Index.from_faiss(mapped).search_topk(queries, 10).ids, custom.search_topk(queries, 10).ids)
    hashed = custom.export_faiss("hash")
    hashed.nflip = 2
    lims, d_h, i_h = hashed.range_search(np.packbits(queries[:5], axis=1, bitorder="little"), 3)
    ours_r = custom.search_radius(queries[:5], 2)
    for row in range(5):
        got = set(zip(i_h[lims[row]:lims[row + 1]].tolist(), d_h[lims[row]:lims[row + 1]].astype(int).tolist()))
        want = set(zip(ours_r.query(row).ids.tolist(), ours_r.query(row).distances.tolist()))
        assert got == want
    with pytest.raises(CodeIndexError) as e:
        Index(12).export_faiss()
    one_line(e.value)


def test_the_longest_codes_plan_and_search_without_overflow(engine):
    # 1024 bits: the cost model's 2**bits must not pass through a float (it overflows past 1023 bits)
    rng = np.random.default_rng(3)
    codes = rng.random((300, 1024)) < 0.5
    index = Index(1024)
    index.add(codes)
    q = codes[4] ^ (rng.random(1024) < 0.01)
    for method in ("auto", "scan", "multi-index"):
        got = index.search_topk(q, 10, method=method)
        want = brute_topk(codes, np.arange(300), q, 10)
        assert np.array_equal(got.ids, want[0]) and np.array_equal(got.distances, want[1])
        got = index.search_radius(q, 20, method=method)
        want = brute_radius(codes, np.arange(300), q, 20)
        assert np.array_equal(got.ids, want[0]) and np.array_equal(got.distances, want[1])
    with pytest.raises(CodeIndexError, match="method='scan'"):
        index.search_radius(q, 300, method="multi-index")  # refused in one line, not attempted (nor out of memory)
