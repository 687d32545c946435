"""Retrieval metrics against hand-computed values and a brute-force reading of their definitions."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aelab.errors import ConfigError
from aelab.eval.retrieval import cosine_distances, hamming_distances, radius_curve, ranking_scores


def test_average_precision_by_hand():
    db = np.array([[0, 0], [0, 1], [1, 1], [1, 0]], dtype=bool)
    labels = np.array([1, 0, 1, 0])
    q = np.array([[0, 0]], dtype=bool)
    # distances 0, 1, 2, 1 -> order (stable) 0, 1, 3, 2 -> relevant 1, 0, 0, 1 -> AP = (1/1 + 2/4) / 2
    got = ranking_scores(hamming_distances, q, np.array([1]), db, labels, ks=(1, 2, 4))
    assert got["map"] == pytest.approx(0.75)
    assert got["precision@1"] == 1.0 and got["precision@2"] == 0.5 and got["precision@4"] == 0.5


def test_precision_at_k_larger_than_the_database_is_over_the_database():
    db = np.array([[0], [1]], dtype=bool)
    got = ranking_scores(hamming_distances, np.array([[0]], dtype=bool), np.array([0]), db, np.array([0, 1]), ks=(100,))
    assert got["precision@100"] == 0.5


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40), st.integers(1, 12), st.integers(1, 30), st.integers(0, 2**31 - 1))
def test_radius_curve_is_the_definition(bits, n_q, n_db, seed):
    rng = np.random.default_rng(seed)
    q, db = rng.random((n_q, bits)) > 0.5, rng.random((n_db, bits)) > 0.5
    ql, dbl = rng.integers(0, 3, n_q), rng.integers(0, 3, n_db)
    curve = radius_curve(q, ql, db, dbl, chunk=5)
    dist = np.array([[int((a != b).sum()) for b in db] for a in q])
    for r in range(bits + 1):
        within = dist <= r
        rel = dbl[None, :] == ql[:, None]
        prec = [(w & e).sum() / w.sum() if w.sum() else 0.0 for w, e in zip(within, rel)]
        rec = [(w & e).sum() / max(e.sum(), 1) for w, e in zip(within, rel)]
        assert curve["precision"][r] == pytest.approx(np.mean(prec))
        assert curve["recall"][r] == pytest.approx(np.mean(rec))


def test_cosine_ranking_and_bad_input():
    db = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    assert np.allclose(cosine_distances(np.array([[2.0, 0.0]]), db)[0], [0.0, 1.0, 1 - 0.7 / np.hypot(0.7, 0.7)])
    with pytest.raises(ConfigError, match="label"):
        ranking_scores(cosine_distances, db, np.array([0]), db, np.array([0, 1, 0]))
