"""Evaluation over a whole data set, batched: the mean of each model's per-example terms."""

from __future__ import annotations

import torch
from torch import Tensor

from ..models.base import Autoencoder


@torch.no_grad()
def evaluate(model: Autoencoder, x: Tensor, batch_size: int = 1000) -> dict[str, float]:
    """Mean over `x` of `model.eval_terms` (sq_err is the Science 2006 metric: summed over pixels)."""
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    for i in range(0, len(x), batch_size):
        for k, v in model.eval_terms(x[i : i + batch_size]).items():
            sums[k] = sums.get(k, 0.0) + float(v.double().sum())
    model.train(was_training)
    return {k: v / len(x) for k, v in sums.items()}


@torch.no_grad()
def encode_all(model: Autoencoder, x: Tensor, batch_size: int = 1000) -> Tensor:
    """Codes for a whole data set, flattened to (N, d)."""
    model.eval()
    return torch.cat([model.encode(x[i : i + batch_size]).flatten(1) for i in range(0, len(x), batch_size)])


@torch.no_grad()
def reconstruct_all(model: Autoencoder, x: Tensor, batch_size: int = 1000) -> Tensor:
    """Reconstructions for a whole data set, in data shape."""
    model.eval()
    return torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
