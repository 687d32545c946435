"""Target codes from the training items' neighbourhood: each item's features averaged with its nearest neighbours'
(repeated `hops` times, a diffusion over the k-nearest-neighbour graph), then hashed by ITQ. An encoder trained to
predict these bits is the second step of self-taught hashing (Zhang et al., SIGIR 2010); the smoothing over
neighbours is what SNUH (Ou et al., ACL 2021) brings in through a graph, here done before training."""

from __future__ import annotations

import numpy as np

from .itq import itq, itq_rotation, principal_components

CHUNK = 1024  # rows of the (chunk x N) similarity block at a time (fewer for large N: at most BLOCK numbers)
BLOCK = 2**26


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (a zero row stays zero)."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def nearest(features: np.ndarray, k: int, database: np.ndarray | None = None) -> np.ndarray:
    """(Q, k) indices of each row's k most cosine-similar rows of `database` (rows of unit length); without a
    database, of the other rows of `features` (never itself). Exact: Q N D work."""
    own = database is None
    db = features if own else database
    k = min(k, len(db) - own)
    out = np.empty((len(features), k), dtype=np.int64)
    chunk = max(1, min(CHUNK, BLOCK // max(len(db), 1)))
    for start in range(0, len(features), chunk):
        sims = features[start : start + chunk] @ db.T
        if own:
            rows = np.arange(len(sims))
            sims[rows, rows + start] = -np.inf  # not its own neighbour
        out[start : start + chunk] = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    return out


def smooth(features: np.ndarray, neighbours: np.ndarray, hops: int) -> np.ndarray:
    """r <- unit(f + mean of r over each row's neighbours), `hops` times, starting from r = f."""
    r = features
    for _ in range(hops):
        nxt = np.empty_like(features)
        for start in range(0, len(features), CHUNK):
            part = slice(start, start + CHUNK)
            nxt[part] = unit_rows(features[part] + r[neighbours[part]].mean(1))
        r = nxt
    return r


def neighbourhood_codes(features: np.ndarray, bits: int, neighbours: int = 10, hops: int = 2,
                        dims: int = 128, subspace: int = 0, seed: int = 0) -> np.ndarray:
    """(N, bits) bool: ITQ codes of the items smoothed over their k-nearest-neighbour graph (`smoothed`, then
    `codes_of`)."""
    return codes_of(smoothed(features, bits, neighbours, hops, dims), bits, subspace, seed)


def smoothed(features: np.ndarray, bits: int, neighbours: int = 10, hops: int = 2, dims: int = 128) -> np.ndarray:
    """(N, d) unit rows: the items' top d = max(dims, bits) principal directions (fewer if they have fewer), smoothed over their feature graph.

    The graph is of the features (cosine); the smoothing runs in their top `dims` principal directions (at least
    `bits`), which in an exploratory comparison on 20 Newsgroups' validation queries (one seed, a script outside the
    repository) retrieved better than smoothing the TF-IDF itself (precision@100 0.661 vs 0.642 at 32 bits), and costs
    N x dims instead of N x vocabulary.
    """
    f = unit_rows(features)
    mean, top = principal_components(f, min(max(dims, bits), f.shape[1], len(f)))
    z = unit_rows((f - mean) @ top)
    if neighbours and hops and len(f) > 1:
        z = smooth(z, nearest(f, neighbours), hops)
    return z


def codes_of(z: np.ndarray, bits: int, subspace: int = 0, seed: int = 0) -> np.ndarray:
    """(N, bits) bool codes of smoothed items: one ITQ code over as many directions as bits, or with `subspace` > 0
    and shorter than `bits` (or z narrower than `bits`), several codes of the top `subspace` directions
    (`subspace_codes`)."""
    if subspace and bits > subspace:
        return subspace_codes(z, bits, subspace, seed)
    if z.shape[1] < bits:  # fewer directions than bits (few features or items): several codes of all of them
        return subspace_codes(z, bits, z.shape[1], seed)
    mean, projection = itq(z, bits, seed=seed)
    return (z - mean) @ projection > 0


def subspace_codes(z: np.ndarray, bits: int, subspace: int, seed: int = 0) -> np.ndarray:
    """(N, bits) bool: ceil(bits / subspace) ITQ codes of z's top `subspace` principal directions, each after its own
    seeded random rotation, concatenated. The directions past the first few dozen carry little but noise, and
    every bit drawn from them blurs a Hamming ranking; several codes of the same informative directions do not.
    How many directions are informative depends on the corpus (its topics), so a run chooses `subspace` on its own
    validation items (models/semhash.py, SemanticHasher.choose_settings)."""
    mean, top = principal_components(z, min(subspace, z.shape[1]))
    v = (z - mean) @ top
    parts, left, k = [], bits, 0
    while left > 0:
        n = min(left, v.shape[1])
        turn, _ = np.linalg.qr(np.random.default_rng(seed + 100 + k).standard_normal((v.shape[1], n)))
        w = v @ turn
        parts.append(w @ itq_rotation(w, seed=seed + k) > 0)
        left, k = left - n, k + 1
    return np.concatenate(parts, axis=1)
