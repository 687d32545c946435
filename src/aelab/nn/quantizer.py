"""The vector quantiser of VQ-VAE (van den Oord, Vinyals & Kavukcuoglu 2017, arXiv:1711.00937, Sec. 3.1-3.2, App. A.1).

Conventions, chosen once for every model that uses it:
- Inputs are channels-first, (B, D, *spatial), as conv encoders give; (B, D) is the case without spatial dims.
  Each of the B * prod(spatial) D-vectors is quantised on its own; indices are (B, *spatial), long.
- Distances and codebook statistics are computed in the codebook's dtype (float32) with autocast off: under
  bf16 autocast the -2 z.e term would round enough to pick the wrong code.
- The loss terms are mean squared errors over all elements (as the official Sonnet VQ-VAE code), not the
  paper's squared norms per vector: the same minimiser, divided by B * prod(spatial) * D, so `beta` keeps its
  meaning across code sizes and the loss is on the scale of a per-pixel reconstruction MSE.
- The codebook starts uniform in (-1/K, 1/K), as in the paper's reference code; `init_from_data` (for a
  model's `prepare`) replaces it by random encoder outputs instead.
- All state (codebook, EMA statistics, steps each code has gone unused) is in the state_dict as plain
  tensors, so a checkpoint (safetensors) resumes bit-exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError
from .collective import ALONE, Collective


def codebook_usage(counts: Tensor) -> dict[str, Tensor]:
    """Fraction of codes used and perplexity exp(-sum_k p_k log p_k) of a code histogram `counts` (K,).

    Perplexity is the effective number of codes: k for a uniform use of k codes, 1 for a single code.
    Returns 0-dim tensors (no device sync; `float()` them to print).
    """
    counts = counts.to(torch.float32)
    p = counts / counts.sum().clamp_min(1.0)
    entropy = -torch.special.xlogy(p, p).sum()  # xlogy: 0 log 0 = 0 for unused codes
    return {"usage": (counts > 0).to(torch.float32).mean(), "perplexity": entropy.exp()}


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"VectorQuantizer {name} must be an integer >= {low}; got {value!r}")
    return value


def _check_float(name: str, value: object, ok: Callable[[float], bool], want: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not ok(value):
        raise ConfigError(f"VectorQuantizer {name} must be {want}; got {value!r}")
    return float(value)


class VectorQuantizer(nn.Module):
    """z_e -> e_k, k = argmin_j ||z_e - e_j||^2, straight-through gradients (van den Oord et al. 2017, Eq. 1-3).

    `quantized, indices, loss = vq(z_e)`: `quantized` has z_e's shape and dtype and holds codebook rows exactly;
    its gradient is copied to z_e unchanged (Sec. 3.1). `loss` is Eq. 3 without the reconstruction term:
    ||sg[z_e] - e||^2 (codebook, left out when `ema`) + beta ||z_e - sg[e]||^2 (commitment), each as a mean
    over elements. The codebook is a Parameter when trained by gradient; with `ema=True` it is a buffer updated
    by exponential moving averages (App. A.1): a buffer rather than a frozen Parameter because the trainer
    hands every parameter of an update to its optimiser, and a frozen Parameter would still be shrunk by
    weight decay (and, across processes, given a zero gradient and stepped).

    Training-mode calls also update state, after the outputs are computed (with `ranks`, the trainer's processes
    that share the batch, the statistics are summed over them so N processes train as one; the quantiser itself
    holds no collective):
    - EMA (App. A.1): N_i <- decay N_i + (1 - decay) n_i, m_i <- decay m_i + (1 - decay) sum_{z -> i} z,
      e_i = m_i / N~_i with Laplace-smoothed sizes N~ = (N + eps) / (sum N + K eps) * sum N (as Sonnet), so an
      unused code divides by a positive number. Each code starts as one pseudo-vector at its own place
      (N_i = 1, m_i = e_i): from N_i = 0 an unused code's m_i would be divided by about eps on the first step.
    - dead-code restart (`restart_after` > 0): a code unused in `restart_after` training calls in a row is set
      to a random encoder output of the current batch (EMA: N_i = 1, m_i = that vector). The rows are drawn
      from `generator` when given, else from torch's global CPU generator (which the trainer checkpoints),
      over the global batch, so the draw is the same on every rank and on resume. (Without EMA the optimiser's
      moments of a restarted row are kept; its gradient in the restarting step is zero, as the code was unused.)
    Call it in training mode once per training step: each training call is one EMA step and one restart tick.
    """

    codebook: Tensor

    def __init__(self, num_codes: int, dim: int, beta: float = 0.25, ema: bool = False, decay: float = 0.99,
                 eps: float = 1e-5, restart_after: int = 0) -> None:
        super().__init__()
        self.num_codes = _check_int("num_codes", num_codes, 1)
        self.dim = _check_int("dim", dim, 1)
        self.restart_after = _check_int("restart_after", restart_after, 0)
        self.beta = _check_float("beta", beta, lambda v: v >= 0, "a finite number >= 0")
        self.decay = _check_float("decay", decay, lambda v: 0 <= v < 1, "in [0, 1)")
        self.eps = _check_float("eps", eps, lambda v: v > 0, "a finite number > 0")
        if not isinstance(ema, bool):
            raise ConfigError(f"VectorQuantizer ema must be true or false; got {ema!r}")
        self.ema = ema
        codebook = torch.empty(num_codes, dim).uniform_(-1.0 / num_codes, 1.0 / num_codes)
        if ema:
            self.register_buffer("codebook", codebook)
            self.register_buffer("cluster_size", torch.ones(num_codes))  # N_i
            self.register_buffer("code_sum", codebook.clone())  # m_i; a copy: safetensors refuses shared storage
        else:
            self.codebook = nn.Parameter(codebook)
        if restart_after:
            self.register_buffer("unused_steps", torch.zeros(num_codes, dtype=torch.long))

    def extra_repr(self) -> str:
        return (f"num_codes={self.num_codes}, dim={self.dim}, beta={self.beta}, ema={self.ema}"
                + (f", decay={self.decay}, eps={self.eps}" if self.ema else "")
                + (f", restart_after={self.restart_after}" if self.restart_after else ""))

    # --- shapes -------------------------------------------------------------------------------------------
    def _rows(self, z_e: Tensor) -> Tensor:
        """(B, D, *spatial) -> (B * prod(spatial), D) in the codebook's dtype."""
        if z_e.ndim < 2 or z_e.shape[1] != self.dim or not z_e.is_floating_point():
            raise ConfigError(f"VectorQuantizer(dim={self.dim}) needs floating inputs shaped (B, {self.dim}, ...); "
                              f"got {z_e.dtype} {tuple(z_e.shape)}")
        return z_e.movedim(1, z_e.ndim - 1).reshape(-1, self.dim).to(self.codebook.dtype)  # (ONNX: no negative dims)

    @staticmethod
    def _channels_first(rows: Tensor, lead: tuple[int, ...]) -> Tensor:
        """(prod(lead), D) -> (B, D, *spatial) for lead = (B, *spatial)."""
        out = rows.reshape(*lead, rows.shape[-1])
        return out.movedim(out.ndim - 1, 1).contiguous() if len(lead) >= 2 else out

    # --- nearest codes ------------------------------------------------------------------------------------
    def _scores(self, rows: Tensor) -> Tensor:
        """||e_j||^2 - 2 z.e_j (N, K): the squared distance less ||z||^2, which is the same for every code.

        Leaving the constant out keeps the argmin exact: adding a large ||z||^2 rounds nearby distances together.
        """
        return torch.addmm(self.codebook.pow(2).sum(1), rows, self.codebook.t(), alpha=-2.0)

    def distances(self, z_e: Tensor) -> Tensor:
        """Squared distances ||z||^2 - 2 z.e + ||e||^2 from each vector of z_e to each code: (B, *spatial, K)."""
        with torch.autocast(z_e.device.type, enabled=False):
            rows = self._rows(z_e)
            d = (self._scores(rows) + rows.pow(2).sum(1, keepdim=True)).clamp_min(0.0)
        return d.reshape(z_e.shape[0], *z_e.shape[2:], self.num_codes)

    @torch.no_grad()
    def nearest(self, z_e: Tensor) -> Tensor:
        """Index of the nearest code for each vector of z_e (B, D, *spatial) -> (B, *spatial) long; no state change."""
        with torch.autocast(z_e.device.type, enabled=False):
            idx = self._scores(self._rows(z_e)).argmin(1)
        return idx.reshape(z_e.shape[0], *z_e.shape[2:])

    def lookup(self, indices: Tensor) -> Tensor:
        """Code vectors for `indices` (B, *spatial) -> (B, D, *spatial), the inverse of `nearest`; (B,) -> (B, D)."""
        if indices.is_floating_point() or indices.is_complex() or indices.dtype == torch.bool:
            raise ConfigError(f"code indices must be integers; got {indices.dtype}")
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= self.num_codes):
            raise ConfigError(f"code indices must lie in 0..{self.num_codes - 1}; "
                              f"got {int(indices.min())}..{int(indices.max())}")
        rows = F.embedding(indices.reshape(-1).long(), self.codebook)
        return self._channels_first(rows, tuple(indices.shape)) if indices.ndim else rows.reshape(self.dim)

    # --- statistics ---------------------------------------------------------------------------------------
    def counts(self, indices: Tensor) -> Tensor:
        """How often each code occurs in `indices` (any shape): (K,) long; sum these over batches for a data set."""
        return torch.bincount(indices.reshape(-1).long(), minlength=self.num_codes)

    def usage(self, indices: Tensor) -> dict[str, Tensor]:
        """{"usage": fraction of codes used, "perplexity": exp(entropy) of the code histogram} of `indices`."""
        return codebook_usage(self.counts(indices))

    # --- the quantiser ------------------------------------------------------------------------------------
    def forward(self, z_e: Tensor, generator: torch.Generator | None = None,
                ranks: Collective = ALONE) -> tuple[Tensor, Tensor, Tensor]:
        """(quantized like z_e, indices (B, *spatial), loss) for z_e (B, D, *spatial) (van den Oord et al., Eq. 3)."""
        lead = (z_e.shape[0], *z_e.shape[2:])
        with torch.autocast(z_e.device.type, enabled=False):
            rows = self._rows(z_e)
            idx = self._scores(rows.detach()).argmin(1)
            # embedding's backward needs only the indices, so a restart rewriting the codebook in place below
            # does not invalidate this graph
            e = F.embedding(idx, self.codebook)
            loss = self.beta * F.mse_loss(rows, e.detach())  # commitment: pulls the encoder to its code
            if not self.ema:
                loss = loss + F.mse_loss(e, rows.detach())  # codebook term: pulls the code to its vectors
            # straight-through: the value is e exactly (z - sg[z] is exactly 0), the gradient reaches z unchanged;
            # the paper's z + sg[e - z] would be e only up to rounding
            q = e.detach() + (rows - rows.detach())
        if self.training:
            self._update(rows.detach(), idx, generator, ranks)
        return self._channels_first(q, lead).to(z_e.dtype), idx.reshape(lead), loss

    @torch.no_grad()
    def _update(self, rows: Tensor, idx: Tensor, generator: torch.Generator | None, ranks: Collective) -> None:
        """One training step of the EMA statistics and the dead-code clocks, on the global batch."""
        onehot = F.one_hot(idx, self.num_codes).to(rows.dtype)  # (N, K)
        counts = onehot.sum(0)
        # sums through a matmul, not index_add_: its CUDA atomics would add in a varying order
        stats = torch.cat([counts[:, None], onehot.t() @ rows], 1) if self.ema else counts[:, None]
        ranks.all_sum(stats)
        counts = stats[:, 0]
        if self.ema:
            self.cluster_size.mul_(self.decay).add_(counts, alpha=1.0 - self.decay)
            self.code_sum.mul_(self.decay).add_(stats[:, 1:], alpha=1.0 - self.decay)
            self._recompute_codebook()
        if self.restart_after:
            self.unused_steps.add_(1).masked_fill_(counts > 0, 0)
            dead = (self.unused_steps >= self.restart_after).nonzero().squeeze(1)
            if dead.numel():
                new = self._draw_rows(rows, dead.numel(), generator, ranks)
                if new is not None:
                    self._set_codes(dead, new)

    def _recompute_codebook(self) -> None:
        """e_i = m_i / N~_i with Laplace-smoothed cluster sizes (App. A.1; smoothing as in Sonnet)."""
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (total + self.num_codes * self.eps) * total
        self.codebook.copy_(self.code_sum / smoothed[:, None])

    def _set_codes(self, which: Tensor, vectors: Tensor) -> None:
        self.codebook[which] = vectors
        if self.ema:
            self.code_sum[which] = vectors  # one pseudo-vector at the new place, like a fresh code
            self.cluster_size[which] = 1.0
        if self.restart_after:
            self.unused_steps[which] = 0

    def _draw_rows(self, rows: Tensor, n: int, generator: torch.Generator | None,
                   ranks: Collective) -> Tensor | None:
        """`n` rows of the global batch (distinct when it has enough), the same on every rank; None if it is empty."""
        here = rows.shape[0]
        offset, total = ranks.span(here, rows.device)  # each rank holds a contiguous shard of the global batch
        if total == 0:
            return None
        # drawn on the CPU, from the generator given or torch's global one: the same numbers on any device
        pos = (torch.randperm(total, generator=generator)[:n] if total >= n
               else torch.randint(total, (n,), generator=generator)).to(rows.device)
        local = pos - offset
        mine = (local >= 0) & (local < here)
        picked = torch.zeros(n, self.dim, dtype=rows.dtype, device=rows.device)
        picked[mine] = rows[local[mine]]
        ranks.all_sum(picked)  # each row comes from its one owner, zeros from the others: an exact copy
        return picked

    @torch.no_grad()
    def init_from_data(self, z_e: Tensor, generator: torch.Generator | None = None, ranks: Collective = ALONE) -> None:
        """Set every code to a random vector of z_e (B, D, *spatial) and reset the EMA and restart state.

        The data-dependent alternative to the uniform start, for a model's `prepare` (run with every rank's shard).
        """
        new = self._draw_rows(self._rows(z_e.detach()), self.num_codes, generator, ranks)
        if new is None:
            raise ConfigError("VectorQuantizer.init_from_data needs at least one encoder output")
        self._set_codes(torch.arange(self.num_codes, device=new.device), new)
