"""Reconstruction likelihoods p(x | decoder output): every model's reconstruction term, written once.

Each function gives log p(x | out) per example, summed over the inputs (shape (B,)), from the decoder's raw
output; `weight` (B, D) scales each input's own term (a denoiser's emphasis on destroyed inputs, Vincent et al.
2010), and a term that belongs to no single input (the multinomial's log N!) stays unweighted. Targets and
outputs are flat, (B, D).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from .gaussian import gaussian_log_density

LEVELS = 256  # intensities of an 8-bit pixel
BERNOULLI_EPS = 1e-7  # how far a probability is kept from 0 and 1 before its log, when no logits are at hand


def _summed(per: Tensor, weight: Tensor | None) -> Tensor:
    return (per if weight is None else per * weight).sum(1)


def bernoulli(logits: Tensor, x: Tensor, weight: Tensor | None = None) -> Tensor:
    """log Bernoulli(x | sigmoid(logits)), stable in the logits, x anywhere in [0, 1] (Kingma & Welling 2014,
    Appendix C.1)."""
    return -_summed(F.binary_cross_entropy_with_logits(logits, x, reduction="none"), weight)


def bernoulli_probs(probs: Tensor, x: Tensor, weight: Tensor | None = None, eps: float = BERNOULLI_EPS) -> Tensor:
    """log Bernoulli(x | probs) for a model that gives only probabilities, each clamped to [eps, 1 - eps]."""
    p = probs.clamp(eps, 1 - eps)
    return _summed(x * p.log() + (1 - x) * (1 - p).log(), weight)


def gaussian(mean: Tensor, x: Tensor, log_sigma: Tensor, weight: Tensor | None = None) -> Tensor:
    """log N(x | mean, sigma^2); log_sigma is one value (fixed or learned) or one per input (Kingma & Welling 2014,
    Appendix C.2)."""
    return _summed(gaussian_log_density(x, mean, log_sigma), weight)


def squared_error(mean: Tensor, x: Tensor, weight: Tensor | None = None) -> Tensor:
    """sum_i w_i (x_i - mean_i)^2: -2 sigma^2 log N(x | mean, sigma^2) less its constant, the loss of a Gaussian
    whose variance is fixed (Science 2006's and ACAI's squared error)."""
    return _summed((x - mean).pow(2), weight)


def levels(x: Tensor) -> Tensor:
    """Intensities in [0, 1] as 8-bit levels 0..255 (nearest), the classes of the 256-way categorical."""
    return (x * (LEVELS - 1)).round().long().clamp(0, LEVELS - 1)


def categorical256(logits: Tensor, x: Tensor, weight: Tensor | None = None) -> Tensor:
    """log Cat(level(x) | softmax) with 256 logits per input, laid out (B, 256, D): pixels as discrete variables
    (van den Oord et al., Pixel recurrent neural networks 2016, Sec. 2.2)."""
    per = F.cross_entropy(logits.reshape(len(logits), LEVELS, -1), levels(x), reduction="none")
    return -_summed(per, weight)


def categorical256_mean(logits: Tensor) -> Tensor:
    """The expected intensity in [0, 1] under the 256-way categorical, (B, D)."""
    values = torch.arange(LEVELS, device=logits.device, dtype=logits.dtype) / (LEVELS - 1)
    probs = torch.softmax(logits.reshape(len(logits), LEVELS, -1), dim=1)
    return (probs * values[:, None]).sum(1)


def multinomial(logits: Tensor, counts: Tensor, weight: Tensor | None = None) -> Tensor:
    """log Mult(counts | N, softmax(logits)) with N the document's length: a document's words drawn from one
    distribution over the vocabulary."""
    per = counts * F.log_softmax(logits, dim=1) - torch.lgamma(counts + 1)
    return torch.lgamma(counts.sum(1) + 1) + _summed(per, weight)


def constrained_poisson(logits: Tensor, counts: Tensor, weight: Tensor | None = None) -> Tensor:
    """log prod_i Poisson(counts_i | N softmax_i(logits)): the constrained Poisson of Salakhutdinov & Hinton
    (Semantic hashing 2009, Eq. 3), whose rates sum to the document's length N."""
    n = counts.sum(1, keepdim=True)
    log_rate = F.log_softmax(logits, dim=1) + n.clamp_min(1).log()  # an empty document has no counts to score
    per = counts * log_rate - n * torch.softmax(logits, dim=1) - torch.lgamma(counts + 1)
    return _summed(per, weight)


def word_cross_entropy(logits: Tensor, counts: Tensor, weight: Tensor | None = None) -> Tensor:
    """-(1/N) sum_i counts_i log softmax_i: cross-entropy to the document's word distribution N^-1 counts, nats per
    word (Semantic hashing 2009's fine-tuning objective); the multinomial's and the constrained Poisson's -log p / N
    up to terms free of the logits."""
    share = counts / counts.sum(1, keepdim=True).clamp_min(1)
    return -_summed(share * F.log_softmax(logits, dim=1), weight)


class Likelihood(ABC):
    """p(x | out) of a decoder whose raw output `out` has `outputs` values per input: for models that choose theirs
    by name in their config."""

    outputs: ClassVar[int] = 1

    @abstractmethod
    def log_prob(self, out: Tensor, x: Tensor, weight: Tensor | None = None) -> Tensor:
        """log p(x | out) per example, (B,)."""

    @abstractmethod
    def mean(self, out: Tensor) -> Tensor:
        """E[x | out], (B, D) in [0, 1]: the model's reconstruction."""


class Bernoulli(Likelihood):
    """Independent Bernoulli inputs with logits `out`."""

    def log_prob(self, out: Tensor, x: Tensor, weight: Tensor | None = None) -> Tensor:
        return bernoulli(out, x, weight)

    def mean(self, out: Tensor) -> Tensor:
        return torch.sigmoid(out)


@dataclass
class Gaussian(Likelihood):
    """Independent Gaussian inputs, mean sigmoid(out) (data in [0, 1]), standard deviation exp(log_sigma)."""

    log_sigma: Tensor

    def log_prob(self, out: Tensor, x: Tensor, weight: Tensor | None = None) -> Tensor:
        return gaussian(self.mean(out), x, self.log_sigma, weight)

    def mean(self, out: Tensor) -> Tensor:
        return torch.sigmoid(out)


class Categorical256(Likelihood):
    """A 256-way softmax per input over its 8-bit intensity; `out` holds 256 logits per input, (B, 256 * D)."""

    outputs = LEVELS

    def log_prob(self, out: Tensor, x: Tensor, weight: Tensor | None = None) -> Tensor:
        return categorical256(out, x, weight)

    def mean(self, out: Tensor) -> Tensor:
        return categorical256_mean(out)


DECODER_LIKELIHOODS: dict[str, type[Likelihood]] = {"bernoulli": Bernoulli, "gaussian": Gaussian,
                                                     "categorical256": Categorical256}


def decoder_likelihood(name: str, log_sigma: Tensor | None = None) -> Likelihood:
    """The likelihood called `name` (a key of DECODER_LIKELIHOODS); `log_sigma` is the Gaussian's, unused by others."""
    if name == "gaussian":
        if log_sigma is None:
            raise ValueError("a Gaussian likelihood needs its log_sigma")
        return Gaussian(log_sigma)
    return DECODER_LIKELIHOODS[name]()
