"""Log-likelihood evaluation of latent-variable models: ELBO, importance-weighted NLL, active units."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ..errors import ConfigError
from ..models.base import Autoencoder, LatentVariableModel
from ..nn import gaussian_kl
from ..batching import batches, progress_bar

ACTIVE_THRESHOLD = 0.01  # Burda et al. 2016, Sec. 5.2: Cov_x(E_q[z_u|x]) > 0.01


def require_likelihood(model: Autoencoder) -> LatentVariableModel:
    """`model` if it defines p(x|z) and q(z|x), else a one-line error."""
    if not isinstance(model, LatentVariableModel):
        raise ConfigError(f"model {model.name!r} defines no likelihood p(x|z); ELBO and NLL need a VAE-type model")
    return model


def iwae_nll(model: LatentVariableModel, x: Tensor, k: int = 5000, max_rows: int = 20000,
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


def latent_diagnostics(model: LatentVariableModel, x: Tensor, batch_size: int = 1000) -> dict[str, Any]:
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


def likelihood_metrics(model: LatentVariableModel, x: Tensor, k: int = 5000, seed: int = 0,
                       progress: bool = False) -> dict[str, Any]:
    """Test ELBO terms (one z per example), the k-sample NLL bound and the latent diagnostics, in nats."""
    from .reconstruction import evaluate

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        terms = evaluate(model, x)
    nll = iwae_nll(model, x, k=k, seed=seed, progress=progress)
    return {"nelbo": terms["nelbo"], "rec": terms["rec"], "kl": terms["kl"], "nll": float(nll.mean()),
            "nll_k": k, **latent_diagnostics(model, x)}
