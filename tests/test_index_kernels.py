"""The index's primitives (aelab.index.kernels): each compiled one returns what its numpy reference returns."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aelab.index import Index, kernels
from aelab.index.bits import flip_masks, words_for
from aelab.index.multiindex import _substring_bits

needs_compiled = pytest.mark.skipif(not kernels.COMPILED, reason="the C extension was not built (no compiler)")
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _same(got, want) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)


def _segment(seed: int, bits: int, n: int, tables: int | None = None, pool: int | None = None):
    rng = np.random.default_rng(seed)
    codes = rng.random((n if pool is None else pool, bits)) < 0.5
    if pool is not None:  # repeated codes: runs longer than one, ties in the scans
        codes = codes[rng.integers(0, pool, n)]
    index = Index(bits, substrings=tables)
    index.add(codes)
    seg = index.segments[0]
    queries = np.concatenate([seg.codes[rng.integers(0, n, 3)], rng.integers(0, 2**63, (3, seg.words), np.uint64)])
    spare = bits % 64
    if spare:
        queries[:, -1] &= np.uint64((1 << spare) - 1)
    return rng, seg, queries


def test_engine_names_what_runs():
    assert kernels.engine() == ("numpy" if not kernels.ENABLED else f"compiled ({kernels._k.scan})")
    assert set(kernels.COMPILED) in (set(), set(kernels.NUMPY))


@needs_compiled
@SETTINGS
@given(st.integers(0, 2**32 - 1), st.sampled_from([5, 12, 32, 64, 100, 200]), st.integers(1, 9000),
       st.integers(0, 40), st.integers(1, 150), st.booleans())
def test_scans_equal_numpy(seed, bits, n, radius, k, repeated):
    _, seg, queries = _segment(seed, bits, n, pool=max(2, n // 20) if repeated else None)
    for name, args in (("scan_within", (seg.codes, queries, radius)),
                       ("scan_nearest", (seg.codes, queries, k, bits))):
        _same(kernels.COMPILED[name](*args), kernels.NUMPY[name](*args))


@needs_compiled
@SETTINGS
@given(st.integers(0, 2**32 - 1), st.sampled_from([8, 16, 20, 40, 64, 130]), st.integers(1, 5000),
       st.integers(0, 2), st.booleans())
def test_table_probes_equal_numpy(seed, bits, n, flips, repeated):
    _, seg, queries = _segment(seed, bits, n, tables=max(2, words_for(bits)) if bits >= 16 else None, pool=max(2, n // 10) if repeated else None)
    masks = flip_masks(bits, min(flips, bits))
    prefix = 0 if seg.full.kind == "direct" else seg.full.prefix
    args = (seg.codes, seg.full.offsets, prefix, queries, masks)
    _same(kernels.COMPILED["find_codes"](*args), kernels.NUMPY["find_codes"](*args))
    for start, width, table in seg.subs:
        sub_masks = np.ascontiguousarray(flip_masks(width, min(flips, width))[:, 0])
        data = table.offsets if table.kind == "direct" else table.keys
        args = (table.kind, data, table.order, queries, start, width, sub_masks)
        _same(kernels.COMPILED["probe_table"](*args), kernels.NUMPY["probe_table"](*args))


@needs_compiled
@SETTINGS
@given(st.integers(0, 2**32 - 1), st.sampled_from([16, 33, 64, 128]), st.integers(1, 3000), st.integers(2, 8),
       st.integers(0, 6), st.integers(0, 130))
def test_verify_equals_numpy(seed, bits, n, tables, rho, limit):
    rng, seg, queries = _segment(seed, bits, n, tables=tables)
    count = int(rng.integers(0, 400))
    rows = rng.integers(0, len(queries), count).astype(np.int64)
    pos = rng.integers(0, seg.n, count).astype(np.int64)
    sub_bits = _substring_bits(seg)
    for j in range(len(seg.subs)):
        args = (seg.codes, queries, rows, pos, sub_bits, j, rho, limit)
        _same(kernels.COMPILED["verify"](*args), kernels.NUMPY["verify"](*args))


@needs_compiled
def test_compiled_primitives_refuse_bad_buffers():
    codes = np.zeros((4, 1), np.uint64)
    with pytest.raises(ValueError):
        kernels._k.scan_within(codes, 3, codes, 2)  # 4 words are no whole 3-word codes
    with pytest.raises(IndexError):
        kernels._k.verify(codes, 1, codes, np.zeros(1, np.int64), np.full(1, 9, np.int64),
                          np.ones((2, 1), np.uint64), 0, 0, 5)
    assert words_for(64) == 1


def test_the_environment_forces_numpy():
    # AELAB_INDEX_KERNELS=0: every primitive is the numpy one, and the searches give the same results
    code = ("import numpy as np; from aelab.index import Index, kernels; "
            "assert kernels.engine() == 'numpy'; assert all(getattr(kernels, n) is f for n, f in kernels.NUMPY.items()); "
            "rng = np.random.default_rng(0); c = rng.random((3000, 40)) < 0.5; i = Index(40); i.add(c); "
            "d, ids = i.search(c[:5], 7); print(np.concatenate([d, ids], axis=1).tolist())")
    env = {**os.environ, "AELAB_INDEX_KERNELS": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True, text=True).stdout
    rng = np.random.default_rng(0)
    c = rng.random((3000, 40)) < 0.5
    index = Index(40)
    index.add(c)
    d, ids = index.search(c[:5], 7)
    assert json.loads(out) == np.concatenate([d, ids], axis=1).tolist()
