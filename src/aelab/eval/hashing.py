"""Binary-code baselines for semantic hashing, fitted on the training items, in the same harness as the models.

- LSH: signs of Gaussian random projections (Charikar 2002, the cosine-preserving hash);
- PCA-sign: signs of the top principal components of the centred data;
- ITQ: PCA, then the rotation that minimises the quantisation error (Gong & Lazebnik, CVPR 2011, Sec. 2.3);
- TF-IDF: the non-hashing reference for documents (`tfidf`), and cosine re-ranking of a Hamming short-list.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..nn.itq import itq as iterative_quantisation, principal_components


def tfidf(train_counts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """TF-IDF weights of `counts` with the inverse document frequencies of the training set (scikit-learn's
    `TfidfTransformer`: smooth idf, each row L2-normalised)."""
    from sklearn.feature_extraction.text import TfidfTransformer

    # float64 inside, as the weights were computed before scikit-learn did it: float32 would move them by an ulp
    weights = TfidfTransformer().fit(np.asarray(train_counts, np.float64)).transform(np.asarray(counts, np.float64))
    return weights.toarray().astype(np.float32)


@dataclass
class LinearHash:
    """bits = sign((x - mean) @ projection): every baseline here is one of these."""

    name: str
    mean: np.ndarray
    projection: np.ndarray

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) @ self.projection) > 0

    @property
    def bits(self) -> int:
        return self.projection.shape[1]


def _check(x: np.ndarray, bits: int) -> None:
    if x.ndim != 2 or not len(x):
        raise ConfigError(f"baseline hashes need a 2-D array of items, got shape {x.shape}")
    if not 1 <= bits <= x.shape[1]:
        raise ConfigError(f"{bits} bits from {x.shape[1]}-dimensional data: PCA-based hashes need bits <= dimensions")


def lsh(x: np.ndarray, bits: int, seed: int = 0) -> LinearHash:
    """Sign of random projections, uncentred (the hash whose collision rate follows the angle)."""
    rng = np.random.default_rng(seed)
    return LinearHash("lsh", np.zeros(x.shape[1], dtype=np.float32),
                      rng.standard_normal((x.shape[1], bits)).astype(np.float32))


def _pca(x: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    _check(x, bits)
    return principal_components(x, bits)


def pca_sign(x: np.ndarray, bits: int) -> LinearHash:
    mean, top = _pca(x, bits)
    return LinearHash("pca-sign", mean, top)


def itq(x: np.ndarray, bits: int, iterations: int = 50, seed: int = 0) -> LinearHash:
    """Iterative quantisation: alternate B = sign(V R) and the orthogonal Procrustes R for fixed B (Eq. 2-3)."""
    _check(x, bits)
    mean, projection = iterative_quantisation(x, bits, iterations, seed)
    return LinearHash("itq", mean, projection)


def rerank(short_list: np.ndarray, query_vectors: np.ndarray, database_vectors: np.ndarray) -> np.ndarray:
    """Order each query's short-list (Q, L) of database rows by cosine similarity of L2-normalised vectors."""
    out = np.empty_like(short_list)
    for start in range(0, len(short_list), 64):  # (64, N) similarities at a time, never (Q, L, D)
        part = short_list[start : start + 64]
        sims = np.take_along_axis(query_vectors[start : start + 64] @ database_vectors.T, part, axis=1)
        out[start : start + 64] = np.take_along_axis(part, np.argsort(-sims, axis=1, kind="stable"), axis=1)
    return out
