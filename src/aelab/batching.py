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


def progress_bar(total: int, desc: str, show: bool):
    """A tqdm bar on a terminal when `show`; nothing otherwise (a log file gets no carriage-return litter)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=None if show else True, leave=False, dynamic_ncols=True)


def batches(model: nn.Module, x: Tensor, fn: Callable[[Tensor], T], batch_size: int = 1000,
            progress: str | None = None) -> Iterator[T]:
    """`fn` on each batch of `x` (moved to the model's device), in eval mode without gradients.

    `progress` names a bar shown on a terminal while the batches run.
    """
    device = model_device(model)
    was_training = model.training
    model.eval()
    bar = progress_bar(len(x), progress or "", progress is not None)
    try:
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                yield fn(x[i : i + batch_size].to(device))
                bar.update(min(batch_size, len(x) - i))
    finally:
        bar.close()
        model.train(was_training)


def map_batches(model: nn.Module, x: Tensor, fn: Callable[[Tensor], Tensor], batch_size: int = 1000,
                progress: str | None = None) -> Tensor:
    """`fn` over all of `x` in batches, concatenated on the CPU."""
    return torch.cat([out.cpu() for out in batches(model, x, fn, batch_size, progress)])
