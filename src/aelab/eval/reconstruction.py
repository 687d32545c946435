"""Evaluation over a whole data set, batched: the mean of each model's per-example terms."""

from __future__ import annotations

from typing import Callable, Iterator

import torch
from torch import Tensor

from ..models.base import Autoencoder


def _batches(model: Autoencoder, x: Tensor, fn: Callable[[Tensor], object], batch_size: int) -> Iterator:
    """`fn` on each batch of `x` (moved to the model's device), in eval mode without gradients."""
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                yield fn(x[i : i + batch_size].to(device))
    finally:
        model.train(was_training)


def evaluate(model: Autoencoder, x: Tensor, batch_size: int = 1000) -> dict[str, float]:
    """Mean over `x` of `model.eval_terms` (sq_err is the Science 2006 metric: summed over pixels)."""
    sums: dict[str, float] = {}
    for terms in _batches(model, x, model.eval_terms, batch_size):
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + float(v.double().sum())
    return {k: v / len(x) for k, v in sums.items()}


def encode_all(model: Autoencoder, x: Tensor, batch_size: int = 1000) -> Tensor:
    """Codes for a whole data set, flattened to (N, d), on the CPU."""
    return torch.cat(list(_batches(model, x, lambda b: model.encode(b).flatten(1).cpu(), batch_size)))


def reconstruct_all(model: Autoencoder, x: Tensor, batch_size: int = 1000) -> Tensor:
    """Reconstructions for a whole data set, in data shape, on the CPU."""
    return torch.cat(list(_batches(model, x, lambda b: model(b).cpu(), batch_size)))
