"""The one batching helper: apply a function to a whole data set in batches, in eval mode, without gradients."""

from __future__ import annotations

from typing import Callable, Iterator, TypeVar

import torch
from torch import Tensor, nn

T = TypeVar("T")


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's parameters (CPU for a model without any)."""
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def batches(model: nn.Module, x: Tensor, fn: Callable[[Tensor], T], batch_size: int = 1000) -> Iterator[T]:
    """`fn` on each batch of `x` (moved to the model's device), in eval mode without gradients."""
    device = model_device(model)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                yield fn(x[i : i + batch_size].to(device))
    finally:
        model.train(was_training)


def map_batches(model: nn.Module, x: Tensor, fn: Callable[[Tensor], Tensor], batch_size: int = 1000) -> Tensor:
    """`fn` over all of `x` in batches, concatenated on the CPU."""
    return torch.cat([out.cpu() for out in batches(model, x, fn, batch_size)])
