"""Evaluation over a whole data set, batched: the mean of each model's per-example terms."""

from __future__ import annotations

from torch import Tensor

from ..batching import batches, map_batches
from ..models.base import Autoencoder, Trainable


def evaluate(model: Trainable, x: Tensor, batch_size: int = 1000, progress: str | None = None) -> dict[str, float]:
    """Mean over `x` of `model.eval_terms` (sq_err is the Science 2006 metric: summed over pixels)."""
    sums: dict[str, float] = {}
    for terms in batches(model, x, model.eval_terms, batch_size, progress):
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + float(v.double().sum())
    return {k: v / len(x) for k, v in sums.items()}


def encode_all(model: Autoencoder, x: Tensor, batch_size: int = 1000, progress: str | None = None) -> Tensor:
    """Codes for a whole data set, flattened to (N, d), on the CPU."""
    return map_batches(model, x, lambda b: model.encode(b).flatten(1), batch_size, progress)


def reconstruct_all(model: Autoencoder, x: Tensor, batch_size: int = 1000) -> Tensor:
    """Reconstructions for a whole data set, in data shape, on the CPU."""
    return map_batches(model, x, model, batch_size)
