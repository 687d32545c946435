"""Training on several processes with PyTorch's own engine (torch.distributed, started by torchrun).

Why not the DistributedDataParallel wrapper: a model's updates call its submodules directly (VAE-GAN's
three updates share parameters and bypass `forward`), and one DDP reducer per update would fire on each
other's gradients. The trainer therefore does what DDP does, once for every model: the same initial
weights on every rank, each rank a contiguous shard of the global batch, and after each update's
backward pass the gradients of that update's parameters averaged across ranks in one bucket.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn

from ..errors import ConfigError, TrainingDiverged


@dataclass(frozen=True)
class Ranks:
    """This process's place among the training processes (rank 0 alone writes the run folder)."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def shard(self, idx: Tensor) -> Tensor:
        """This rank's contiguous part of a global batch's indices."""
        return idx.tensor_split(self.world)[self.rank] if self.distributed else idx

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def all_sum(self, t: Tensor) -> None:
        """Sum `t` over the ranks, in place (a model's statistics of the global batch: VQ-VAE's EMA codebook)."""
        if self.distributed:
            dist.all_reduce(t)

    def span(self, rows: int, device: torch.device) -> tuple[int, int]:
        """(where this rank's `rows` start in the global batch, the global batch's rows): shards are contiguous."""
        if not self.distributed:
            return 0, rows
        sizes = [torch.zeros(1, dtype=torch.long, device=device) for _ in range(self.world)]
        dist.all_gather(sizes, torch.tensor([rows], device=device))
        shard = [int(s) for s in sizes]
        return sum(shard[: self.rank]), sum(shard)

    def agree(self, value: int, what: str) -> None:
        """Refuse to go on when the ranks decided differently (they would wait in different collectives)."""
        if not self.distributed:
            return
        mine = torch.tensor([int(value)], dtype=torch.int64)
        gathered = [torch.zeros_like(mine) for _ in range(self.world)]
        dist.all_gather(gathered, mine)
        if any(int(g) != int(mine) for g in gathered):
            raise ConfigError(f"the training processes disagree on {what}: {[int(g) for g in gathered]}")


SINGLE = Ranks()


def from_environment(device: str = "auto") -> tuple[Ranks, str]:
    """Join the process group torchrun describes (gloo on CPU, nccl on GPUs); a single process otherwise.

    Returns the ranks and the device this process trains on (cuda:LOCAL_RANK under torchrun with GPUs).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE, device
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        if torch.cuda.device_count() <= local:
            raise ConfigError(f"rank {rank} wants cuda:{local}, but this machine has {torch.cuda.device_count()} GPU(s)")
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    elif device == "auto":
        device = "cpu"
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Ranks(rank, world), device


def broadcast_parameters(module: nn.Module) -> None:
    """Every rank starts from rank 0's weights and buffers."""
    for t in module.state_dict().values():
        dist.broadcast(t.data if isinstance(t, nn.Parameter) else t, src=0)


def average_gradients(params: list[nn.Parameter], share: float) -> None:
    """Average the gradients of `params` across ranks, as one flat bucket (a missing gradient counts as zero), each
    rank's weighted by `share`, its part of the global batch's rows: a loss that is a mean over a rank's rows then
    gets the gradient of the mean over the global batch even where the batch does not split evenly (an epoch's
    last batch, or a global batch that the number of processes does not divide)."""
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    flat *= share
    dist.all_reduce(flat)
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


def check_ranks_agree(module: nn.Module, step: int) -> None:
    """Refuse to go on when the ranks' weights differ (a model whose update escaped the gradient averaging)."""
    total = torch.stack([p.detach().double().sum() for p in module.parameters()]).sum().reshape(1)
    gathered = [torch.zeros_like(total) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, total)
    if any(not torch.equal(g, gathered[0]) for g in gathered):
        raise TrainingDiverged(f"the training processes hold different weights at step {step}; "
                               "a model's update changed parameters that its gradient averaging did not cover")
