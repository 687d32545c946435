"""Retrieval quality: test items as queries against a database, relevant = same label.

Mean average precision and precision@k over the full ranking (ties broken by database order, so every number
is reproducible), and, for binary codes, precision and recall at each Hamming radius (a tie-free
precision-recall curve, the one semantic hashing is read by: everything within radius r comes back).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import ConfigError

Distances = Callable[[np.ndarray], np.ndarray]  # query rows -> (Q, N_db) distances, smaller is nearer


def no_labels(kind: str = "counts") -> str:
    """Why a hasher of unlabelled data has no retrieval scores: the one line `aelab eval` and the report give."""
    return f"no labels: retrieval precision needs labelled {'documents' if kind == 'counts' else 'items'}"


def hamming_distances(queries: np.ndarray, database: np.ndarray) -> np.ndarray:
    """(Q, N) Hamming distances between bool codes (Q, bits) and (N, bits), as int32."""
    q = np.packbits(queries.astype(bool), axis=1)
    d = np.packbits(database.astype(bool), axis=1)
    out = np.zeros((len(q), len(d)), dtype=np.int32)
    for byte in range(q.shape[1]):  # one byte column at a time keeps memory at Q x N
        out += np.bitwise_count(q[:, byte, None] ^ d[None, :, byte]).astype(np.int32)
    return out


def cosine_distances(queries: np.ndarray, database: np.ndarray) -> np.ndarray:
    """(Q, N) one minus cosine similarity of float vectors (TF-IDF ranking)."""
    q = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    d = database / np.maximum(np.linalg.norm(database, axis=1, keepdims=True), 1e-12)
    return 1.0 - q @ d.T


def ranking_scores(distance: Callable[[np.ndarray, np.ndarray], np.ndarray], queries: np.ndarray,
                   query_labels: np.ndarray, database: np.ndarray, database_labels: np.ndarray,
                   ks: tuple[int, ...] = (100,), chunk: int = 256) -> dict[str, float]:
    """mAP over the whole database and precision@k, averaged over queries."""
    if len(queries) != len(query_labels) or len(database) != len(database_labels):
        raise ConfigError("every query and database item needs a label")
    if not len(queries) or not len(database):
        raise ConfigError("retrieval needs at least one query and one database item")
    ap_sum = 0.0
    hits_at = {k: 0.0 for k in ks}
    for start in range(0, len(queries), chunk):
        dist = distance(queries[start : start + chunk], database)
        order = np.argsort(dist, axis=1, kind="stable")
        relevant = database_labels[order] == query_labels[start : start + chunk, None]
        cum = np.cumsum(relevant, axis=1)
        ranks = np.arange(1, relevant.shape[1] + 1)
        n_rel = relevant.sum(1)
        ap = (relevant * (cum / ranks)).sum(1) / np.maximum(n_rel, 1)
        ap_sum += float(ap.sum())
        for k in ks:
            hits_at[k] += float((cum[:, min(k, relevant.shape[1]) - 1] / min(k, relevant.shape[1])).sum())
    n = len(queries)
    return {"map": ap_sum / n, **{f"precision@{k}": v / n for k, v in hits_at.items()}}


def radius_curve(queries: np.ndarray, query_labels: np.ndarray, database: np.ndarray, database_labels: np.ndarray,
                 chunk: int = 256) -> dict[str, list[float]]:
    """Precision and recall of "everything within Hamming radius r", for r = 0..bits, averaged over queries.

    A query that gets nothing back at radius r counts precision 0 there (as in the hashing literature).
    """
    bits = queries.shape[1]
    precision = np.zeros(bits + 1)
    recall = np.zeros(bits + 1)
    returned = np.zeros(bits + 1)
    for start in range(0, len(queries), chunk):
        dist = hamming_distances(queries[start : start + chunk], database)
        relevant = database_labels[None, :] == query_labels[start : start + chunk, None]
        q = len(dist)
        flat = (dist + np.arange(q)[:, None] * (bits + 1)).ravel()  # one histogram of distances per query
        got = np.cumsum(np.bincount(flat, minlength=q * (bits + 1)).reshape(q, bits + 1), axis=1)
        good = np.cumsum(np.bincount(flat, weights=relevant.ravel(), minlength=q * (bits + 1)).reshape(q, bits + 1),
                         axis=1)
        n_rel = np.maximum(relevant.sum(1), 1)[:, None]
        precision += np.where(got > 0, good / np.maximum(got, 1), 0.0).sum(0)
        recall += (good / n_rel).sum(0)
        returned += got.sum(0)
    n = len(queries)
    return {"radius": list(range(bits + 1)), "precision": (precision / n).tolist(), "recall": (recall / n).tolist(),
            "returned": (returned / n).tolist()}
