"""Log-likelihood evaluation of latent-variable models: ELBO, importance-weighted NLL, active units."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from ..errors import ConfigError
from ..models.capabilities import LikelihoodBound
from ..nn import gaussian_kl
from ..batching import batches, progress_bar

ACTIVE_THRESHOLD = 0.01  # Burda et al. 2016, Sec. 5.2: Cov_x(E_q[z_u|x]) > 0.01
MAX_ROWS = 20000  # (example, sample) pairs per decoder call of iwae_nll
AUTO_SECONDS = 60.0  # what an automatic choice of k aims the NLL at: a wait, not an overnight job
AUTO_K = (50, 100, 200, 500, 1000, 2000, 5000)  # the choices: round numbers, 5000 as in Burda et al. 2016
_PROBE_K = 1000  # importance samples per example in the timing probe


def require_likelihood(model: Any) -> LikelihoodBound:
    """`model` if it defines p(x|z) and q(z|x), else a one-line error."""
    if not isinstance(model, LikelihoodBound):
        raise ConfigError(f"model {model.name!r} defines no likelihood p(x|z); ELBO and NLL need a VAE-type model")
    return model


def iwae_nll(model: LikelihoodBound, x: Tensor, k: int = 5000, max_rows: int = MAX_ROWS,
             seed: int = 0, progress: bool = False) -> Tensor:
    """Per-example -log p(x) estimated with k importance samples (Burda et al. 2016, Eq. 8); shape (N,).

    Examples go through the decoder in chunks of at most `max_rows` (example, sample) pairs, so memory
    stays bounded for any k; the log-mean-exp is accumulated across chunks in float64.
    """
    require_likelihood(model)
    if k < 1:
        raise ConfigError(f"the number of importance samples must be >= 1, got {k}")
    per_batch = max(1, max_rows // k)  # examples per decoder call when k fits
    chunk = min(k, max_rows)  # samples per call when it does not
    out: list[Tensor] = []
    bar = progress_bar(len(x), f"IWAE k={k}", progress)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for xb in batches(model, x, lambda b: b, per_batch):
            acc = torch.full((xb.shape[0],), -math.inf, dtype=torch.float64, device=xb.device)
            for start in range(0, k, chunk):
                lw = model.log_weights(xb, min(chunk, k - start)).double()
                acc = torch.logaddexp(acc, torch.logsumexp(lw, dim=1))
            out.append(-(acc - math.log(k)).cpu())
            bar.update(xb.shape[0])
    bar.close()
    return torch.cat(out)


@dataclass
class IWPlan:
    """How an IWAE NLL will be computed: k samples for each of `examples`, about `seconds` on this machine."""

    k: int
    examples: int
    seconds: float
    auto: bool  # k was chosen to fit AUTO_SECONDS, not asked for

    def describe(self) -> str:
        """One line: 'IWAE NLL: k=1000 importance samples × 10000 examples, about 40 s'."""
        return (f"IWAE NLL: k={self.k} importance samples \u00d7 {self.examples} examples, "
                f"about {format_seconds(self.seconds)}")


def format_seconds(seconds: float) -> str:
    """A duration as people say it: '4 s', '12 min', '3.5 h'."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def _timed_log_weights(model: LikelihoodBound, x: Tensor, k: int) -> float:
    start = time.perf_counter()
    for _ in batches(model, x, lambda b: model.log_weights(b, k).sum().cpu(), len(x)):  # .cpu() waits for a GPU
        pass
    return time.perf_counter() - start


def iwae_seconds_per_sample(model: LikelihoodBound, x: Tensor, max_rows: int = MAX_ROWS, seed: int = 0) -> float:
    """Seconds per (example, importance sample) pair of `iwae_nll` here, timed on a small first chunk of `x`.

    The chunk is one decoder call of the size iwae_nll makes (`max_rows` pairs), because a smaller one
    would mostly time the call overhead on a GPU; a tiny call before it pays the first-call costs
    (allocation, kernel choice) that the real run pays only once. The draws come from a forked,
    seeded RNG, so timing changes neither the estimate that follows nor its randomness.
    """
    require_likelihood(model)
    if len(x) == 0:
        raise ConfigError("no examples to estimate the NLL of")
    k = min(_PROBE_K, max_rows)
    n = max(1, min(len(x), max_rows // k))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        _timed_log_weights(model, x[:1], 2)
        return _timed_log_weights(model, x[:n], k) / (n * k)


def plan_iwae(model: LikelihoodBound, x: Tensor, k: int | Literal["auto"] = "auto",
              budget_s: float = AUTO_SECONDS, seed: int = 0) -> IWPlan:
    """How long an IWAE NLL of `x` takes with k samples; k="auto": the largest of AUTO_K that fits `budget_s`.

    With "auto", k is at least AUTO_K[0] even when that takes longer than the budget: fewer samples
    would hardly tighten the bound over the ELBO; the plan's `seconds` then says how long it takes.
    """
    if k != "auto" and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise ConfigError(f"the number of importance samples must be 'auto' or an integer >= 1, got {k!r}")
    per_sample = iwae_seconds_per_sample(model, x, seed=seed)
    n = len(x)
    if k == "auto":
        fits = [c for c in AUTO_K if c * n * per_sample <= budget_s]
        chosen = fits[-1] if fits else AUTO_K[0]
        return IWPlan(chosen, n, chosen * n * per_sample, auto=True)
    return IWPlan(k, n, k * n * per_sample, auto=False)


def latent_diagnostics(model: LikelihoodBound, x: Tensor, batch_size: int = 1000) -> dict[str, Any]:
    """KL per latent dimension (mean over x) and active units: Cov_x(E_q[z_u|x]) > 0.01 (Burda et al. 2016)."""
    require_likelihood(model)
    parts = list(batches(model, x, lambda b: model.posterior(b), batch_size))
    mu = torch.cat([m for m, _ in parts]).double().cpu()
    logvar = torch.cat([lv for _, lv in parts]).double().cpu()
    kl_dim = gaussian_kl(mu, logvar).mean(0)
    activity = mu.var(0, unbiased=True) if len(mu) > 1 else torch.zeros(mu.shape[1], dtype=torch.float64)
    return {
        "active_units": int((activity > ACTIVE_THRESHOLD).sum()),
        "latent_dim": int(mu.shape[1]),
        "kl_per_dim": [float(v) for v in kl_dim],
        "activity": [float(v) for v in activity],
    }


def likelihood_metrics(model: LikelihoodBound, x: Tensor, k: int = 5000, seed: int = 0,
                       progress: bool = False) -> dict[str, Any]:
    """Test ELBO terms (one z per example), the k-sample NLL bound and the latent diagnostics, in nats."""
    from .reconstruction import evaluate

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        terms = evaluate(model, x)
    nll = iwae_nll(model, x, k=k, seed=seed, progress=progress)
    return {"nelbo": terms["nelbo"], "rec": terms["rec"], "kl": terms["kl"], "nll": float(nll.mean()),
            "nll_k": k, **latent_diagnostics(model, x)}
