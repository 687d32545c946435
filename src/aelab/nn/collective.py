"""What a model's loss may ask of the processes that share a training batch, without knowing torch.distributed.

The trainer's `train.distributed.Ranks` is the one implementation for several processes; `ALONE` is one process.
A model that keeps statistics of the whole batch (VQ-VAE's EMA codebook) reduces them through `Batch.ranks`.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor


class Collective(Protocol):
    """The processes that share each training batch: the trainer's distributed helper (`train.distributed.Ranks`)."""

    def all_sum(self, t: Tensor) -> None:
        """Sum `t` over the processes, in place."""

    def span(self, rows: int, device: torch.device) -> tuple[int, int]:
        """(where this process's `rows` start in the global batch, the global batch's rows)."""


class Alone:
    """One process: the collectives of a batch that is all there is."""

    def all_sum(self, t: Tensor) -> None:
        pass

    def span(self, rows: int, device: torch.device) -> tuple[int, int]:
        return 0, rows


ALONE = Alone()
