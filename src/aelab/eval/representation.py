"""How useful a model's codes are: a linear probe (Berthelot et al. 2019, ACAI, Table 2) and k-means clustering
accuracy (ACAI, Table 3), on frozen codes of any model with an `encode`.

Differences from the paper, on purpose: ACAI trains its one-layer classifier on the latents during the
autoencoder's training (gradients stopped); ours is fitted afterwards, to convergence. The official cluster.py
fits whitening and k-means on the training latents and scores the test latents; `cluster_accuracy` fits and
scores the codes it is given, with 100 k-means initialisations instead of 1000.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..batching import map_batches

PROBE_C = 1.0  # inverse L2 strength of the probe (scikit-learn's default), on standardised codes
CLUSTER_N_INIT = 100  # the paper: 1000; 100 take 6 s (32 dims) to 17 s (128 dims) on 10,000 MNIST codes, 1 core
CLUSTER_MAX_DIMS = 256  # k-means on at most this many whitened principal directions (the top ones)


def _array(z: Any) -> np.ndarray:
    """Codes as a numpy array (N, d), flattened per example, in their own dtype."""
    a = z.detach().cpu().numpy() if isinstance(z, Tensor) else np.asarray(z)
    return a.reshape(len(a), -1)


def _labels(y: Any) -> np.ndarray:
    return (y.detach().cpu().numpy() if isinstance(y, Tensor) else np.asarray(y)).reshape(-1)


def codes_of(model: torch.nn.Module, x: Tensor, batch_size: int = 1000) -> Tensor:
    """The model's `encode` of `x`, flattened to (N, d) (a VQ-VAE's (B, D, h, w) grid too), in batches on the CPU."""
    return map_batches(model, x, lambda b: model.encode(b).flatten(1), batch_size)  # type: ignore[operator]


def linear_probe(train_z: Any, train_y: Any, test_z: Any, test_y: Any, *, C: float = PROBE_C,
                 max_iter: int = 2000, seed: int = 0) -> dict[str, float]:
    """Test accuracy of one linear softmax layer on standardised frozen codes (ACAI, Berthelot et al. 2019, Table 2).

    Multinomial logistic regression (scikit-learn, L-BFGS, L2 with C=1.0, max_iter 2000) on codes standardised
    with the training codes' mean and standard deviation (+1e-6); L-BFGS is deterministic (`seed`: random_state).
    """
    from sklearn.linear_model import LogisticRegression

    ztr, zte = _array(train_z), _array(test_z)
    mu, sd = ztr.mean(0), ztr.std(0) + 1e-6
    clf = LogisticRegression(C=C, max_iter=max_iter, random_state=seed).fit((ztr - mu) / sd, _labels(train_y))
    return {"accuracy": float(clf.score((zte - mu) / sd, _labels(test_y))),
            "train_accuracy": float(clf.score((ztr - mu) / sd, _labels(train_y))), "n_train": len(ztr)}


def whiten(z: Any, max_dims: int = CLUSTER_MAX_DIMS) -> np.ndarray:
    """Codes centred, rotated onto their principal directions and divided by the singular values (as ACAI's
    cluster.py does), keeping the top `max_dims` directions above the numerical rank (float32 precision)."""
    a = _array(z).astype(np.float64)
    a = a - a.mean(0)
    if a.shape[1] <= a.shape[0]:  # the d x d scatter's eigenvectors: the same directions, 4x faster at d ~ 3000
        e, v = np.linalg.eigh(a.T @ a)
        s, vt = np.sqrt(e[::-1].clip(min=0)), v[:, ::-1].T
    else:
        _, s, vt = np.linalg.svd(a, full_matrices=False)
    tol = (s[0] if len(s) else 0.0) * max(a.shape) * np.finfo(np.float32).eps  # as numpy's matrix_rank, float32 eps
    keep = max(1, min(int((s > tol).sum()), max_dims))
    return (a @ vt[:keep].T / s[:keep].clip(min=1e-12)).astype(np.float32)  # float32: k-means twice as fast


def matched_accuracy(clusters: Any, y: Any) -> float:
    """Accuracy under the best one-to-one matching of clusters to classes (Hungarian, on the contingency table)."""
    from scipy.optimize import linear_sum_assignment

    _, c = np.unique(_labels(clusters), return_inverse=True)
    _, t = np.unique(_labels(y), return_inverse=True)
    table = np.zeros((c.max(initial=-1) + 1, t.max(initial=-1) + 1), np.int64)
    np.add.at(table, (c, t), 1)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / max(len(t), 1))


def cluster_accuracy(z: Any, y: Any, k: int | None = None, n_init: int = CLUSTER_N_INIT,
                     seed: int = 0) -> dict[str, float]:
    """k-means accuracy of whitened codes, clusters matched to classes (ACAI, Berthelot et al. 2019, Table 3).

    k = the number of classes unless given; k-means as the official code runs it (random initialisation,
    max_iter 1000) but with n_init 100 (the paper: 1000), seeded. Also the NMI of clusters and labels.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score

    labels = _labels(y)
    k = k or len(np.unique(labels))
    w = whiten(z)
    clusters = KMeans(n_clusters=k, init="random", n_init=n_init, max_iter=1000, random_state=seed).fit_predict(w)
    nmi = float(normalized_mutual_info_score(labels, clusters))
    return {"accuracy": matched_accuracy(clusters, labels), "nmi": nmi, "k": k, "dims": w.shape[1]}
