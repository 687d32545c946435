"""What a run chooses its epoch by: a score of the model on validation items held out of its training data.

A hasher (BinaryCoder) is scored by retrieval, the validation items as queries against the training items: with
labels, precision@100 (relevant = same label, the measure the hashing literature reports); without, the share of
each query's 10 nearest training items in input space (cosine; TF-IDF for word counts) that come back in its 100
nearest by Hamming distance, a label-free score of what the codes are for. Higher is better.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from torch import Tensor

from ..batching import map_batches
from ..errors import ConfigError
from ..models.capabilities import BinaryCoder
from ..nn.neighbours import nearest, unit_rows
from .hashing import tfidf

MAX_QUERIES = 2000  # validation queries scored at most (a seeded subset): the score is read after every epoch
NEAREST = 10  # input-space neighbours a label-free score looks for


CodeScore = Callable[[np.ndarray, np.ndarray], tuple[str, float]]


def validation_score(model: type, fit_x: Tensor, fit_y: Tensor | None, val_x: Tensor, val_y: Tensor | None,
                     documents: bool = False) -> Callable[[object], tuple[str, float]]:
    """A function model -> (metric, value) for `KeepBest`, with what it needs of the data computed once; `model` is
    the model's class (checked before anything trains); `documents`: the items are word counts (their neighbours by
    TF-IDF cosine)."""
    check_scorable(model)
    return model_score(fit_x, *code_score(fit_x, fit_y, val_x, val_y, documents))


def check_scorable(model: type) -> None:
    """A one-line error unless the model's class has binary codes to score (before anything trains)."""
    if not issubclass(model, BinaryCoder):  # the Protocol holds only methods: a class answers it
        raise ConfigError(f"validation chooses the epoch by retrieval, and model {getattr(model, 'name', model)!r} "
                          "has no binary codes; leave validation at 0")


def model_score(fit_x: Tensor, queries: Tensor, score: CodeScore) -> Callable[[object], tuple[str, float]]:
    """`score` of a model's codes of `queries` against its codes of the training items."""
    return lambda m: score(_codes(m, queries), _codes(m, fit_x))


def code_score(fit_x: Tensor, fit_y: Tensor | None, val_x: Tensor, val_y: Tensor | None,
               documents: bool = False) -> tuple[Tensor, CodeScore]:
    """(the validation queries scored: at most MAX_QUERIES of val_x, a seeded subset; a function (their codes, the
    training items' codes) -> (metric, value)): the module's score of binary codes, whatever made them."""
    if len(val_x) > MAX_QUERIES:
        keep = np.sort(np.random.default_rng(0).choice(len(val_x), MAX_QUERIES, replace=False))
        val_x, val_y = val_x[keep], None if val_y is None else val_y[keep]
    k = min(100, len(fit_x))
    if val_y is not None and fit_y is not None:
        from .retrieval import hamming_distances, ranking_scores

        labels, db_labels = val_y.numpy(), fit_y.numpy()

        def by_labels(q: np.ndarray, db: np.ndarray) -> tuple[str, float]:
            return f"precision@{k}", ranking_scores(hamming_distances, q, labels, db, db_labels, ks=(k,))[
                f"precision@{k}"]

        return val_x, by_labels
    wanted = _input_neighbours(fit_x, val_x, min(NEAREST, len(fit_x)), documents)
    return val_x, lambda q, db: (f"neighbours@{k}", neighbour_recall(q, db, wanted, k))


def _codes(model: object, x: Tensor) -> np.ndarray:
    return map_batches(model, x, model.binary_codes).numpy()  # type: ignore[attr-defined]


def _input_neighbours(fit_x: Tensor, val_x: Tensor, n: int, counts: bool) -> np.ndarray:
    """(Q, n) indices of each validation item's n nearest training items by cosine in input space."""
    fit, val = fit_x.flatten(1).numpy(), val_x.flatten(1).numpy()
    if counts:
        fit, val = tfidf(fit, fit), tfidf(fit, val)
    return nearest(unit_rows(val), n, database=unit_rows(fit))


def neighbour_recall(queries: np.ndarray, database: np.ndarray, wanted: np.ndarray, k: int) -> float:
    """Mean share of each query's `wanted` database rows found among its k nearest codes (ties by database order)."""
    from .retrieval import hamming_distances

    found = 0
    for start in range(0, len(queries), 256):
        dist = hamming_distances(queries[start : start + 256], database)
        top = np.argsort(dist, axis=1, kind="stable")[:, :k]
        want = wanted[start : start + 256]
        found += int((want[:, :, None] == top[:, None, :]).any(2).sum())
    return found / max(1, wanted.size)
