"""Principal components and iterative quantisation (Gong & Lazebnik, CVPR 2011, Sec. 2.3), written once: the ITQ
baseline of eval/hashing.py and the neighbourhood targets of semantic hashing (nn/neighbours.py) both use it."""

from __future__ import annotations

import numpy as np


def principal_components(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean (D,), top n components (D, n)) of the rows of x, each component's sign fixed: reproducible."""
    mean = x.mean(0)
    centred = x - mean  # float32 for wide data (N x D twice would not fit), float64 for its D x D covariance
    if x.shape[1] <= 4096:  # the covariance (D x D) is cheap
        centred = centred.astype(np.float64)
        values, vectors = np.linalg.eigh(centred.T @ centred)
        top = vectors[:, np.argsort(values)[::-1][:n]]
    else:  # wide data (documents over a large vocabulary): the rows' Gram matrix instead, or a thin SVD
        _, _, vt = np.linalg.svd(centred, full_matrices=False) if len(x) <= 4096 else _randomized_svd(centred, n)
        top = vt[:n].T
    top = top * np.sign(top[np.argmax(np.abs(top), axis=0), range(top.shape[1])])
    return mean.astype(np.float32), top.astype(np.float32)


def _randomized_svd(x: np.ndarray, n: int, oversample: int = 20, iterations: int = 5) -> tuple:
    """Halko, Martinsson & Tropp (2011), Alg. 4.4 with power iterations, seeded: the top right-singular vectors."""
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(x @ rng.standard_normal((x.shape[1], n + oversample)))
    for _ in range(iterations):
        q, _ = np.linalg.qr(x.T @ q)
        q, _ = np.linalg.qr(x @ q)
    _, s, vt = np.linalg.svd(q.T @ x, full_matrices=False)
    return None, s, vt


def itq_rotation(v: np.ndarray, iterations: int = 50, seed: int = 0) -> np.ndarray:
    """The orthogonal R that makes sign(V R) closest to V R: alternate B = sign(V R) and Procrustes (Eq. 2-3)."""
    bits = v.shape[1]
    rng = np.random.default_rng(seed)
    rotation, _ = np.linalg.qr(rng.standard_normal((bits, bits)))
    v = v.astype(np.float64)
    for _ in range(iterations):
        b = np.where(v @ rotation > 0, 1.0, -1.0)
        u, _, wt = np.linalg.svd(b.T @ v)  # B^T V = U S W^T  ->  R = W U^T
        rotation = wt.T @ u.T
    return rotation


def itq(x: np.ndarray, bits: int, iterations: int = 50, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(mean, projection (D, bits)): bits = (x - mean) @ projection > 0."""
    mean, top = principal_components(x, bits)
    rotation = itq_rotation((x - mean) @ top, iterations, seed)
    return mean, (top @ rotation).astype(np.float32)
