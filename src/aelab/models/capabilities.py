"""What a model can do, as types: the CLI, the evaluation suite, the report and the trainer ask `isinstance(model, X)`.

A capability is a runtime-checkable Protocol: a model has it when it has the methods. A method a model has only
in some states is absent in the others (an autoencoder's `sample` exists once a prior stage is attached), so the
check is always about this model as it is. What is not an ability but a fact about the family (which inputs it
takes, what its codes look like, how its updates share parameters) is one `Traits` record on the class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import torch
from torch import Tensor


@runtime_checkable
class Encoder(Protocol):
    """encode(x) -> codes, one row per example."""

    def encode(self, x: Tensor) -> Tensor: ...


@runtime_checkable
class Decoder(Protocol):
    """decode(codes) -> data in the model's input range."""

    def decode(self, z: Tensor) -> Tensor: ...


@runtime_checkable
class Sampler(Protocol):
    """sample(n) -> n new examples, drawn on the model's device."""

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor: ...


@runtime_checkable
class NoiseSampler(Protocol):
    """sample_from(noise) -> examples for draws noise ~ N(0, I) of `noise_shape` (one row each): sampling that is a
    plain network of its noise (an exported sampler takes the noise as its input)."""

    noise_shape: tuple[int, ...]

    def sample_from(self, noise: Tensor) -> Tensor: ...


@runtime_checkable
class LikelihoodBound(Protocol):
    """A posterior q(z|x) and importance weights log p(x,z) - log q(z|x) (Burda et al. 2016, Eq. 8): an NLL bound."""

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]: ...

    def log_weights(self, x: Tensor, k: int) -> Tensor: ...


@runtime_checkable
class Density(Protocol):
    """log_prob(x) per example: a density over its own inputs (a prior over another model's codes)."""

    def log_prob(self, x: Tensor) -> Tensor: ...


@runtime_checkable
class BinaryCoder(Protocol):
    """binary_codes(x) -> {0, 1} codes (B, bits), for a Hamming index."""

    def binary_codes(self, x: Tensor) -> Tensor: ...


@runtime_checkable
class DiscreteCoder(Protocol):
    """encode_indices / decode_indices over a codebook of `num_codes` rows."""

    num_codes: int

    def encode_indices(self, x: Tensor) -> Tensor: ...

    def decode_indices(self, indices: Tensor) -> Tensor: ...


@runtime_checkable
class Restorer(Protocol):
    """restore(x, known) -> the clean input: its losses compare with `Batch.target`, so it trains as a denoiser."""

    def restore(self, x: Tensor, known: Tensor | None = None) -> Tensor: ...


@runtime_checkable
class AnySize(Protocol):
    """restore(x, known) on images of any height and width (fully convolutional), each output pixel reading only the
    input within `halo` pixels of it: tiles that overlap by the halo restore exactly as the whole image does."""

    halo: int

    def restore(self, x: Tensor, known: Tensor | None = None) -> Tensor: ...


@dataclass(frozen=True)
class Choice:
    """Settings of a model's own config chosen before training, with every candidate's validation score."""

    settings: dict[str, Any]  # merged into the run's model config
    metric: str
    scores: dict[str, float]  # candidate (as the setting reads, e.g. "subspace=24") -> its score, higher is better


@runtime_checkable
class ChoosesSettings(Protocol):
    """choose_settings(fit_x, val_x, score) -> a Choice, or None when nothing is left to choose; `score(val codes,
    fit codes) -> (metric, value)` scores binary codes of the validation items against the training items'."""

    def choose_settings(self, fit_x: Tensor, val_x: Tensor, score: Any) -> Choice | None: ...


# The names a person reads (the capability table of `aelab models`, the report); each is one of the types above.
CAPABILITIES: dict[str, type] = {
    "encode": Encoder, "decode": Decoder, "sample": Sampler, "likelihood": LikelihoodBound, "density": Density,
    "binary codes": BinaryCoder, "discrete codes": DiscreteCoder, "restore": Restorer, "any size": AnySize,
}


def capabilities(model: Any) -> list[str]:
    """The names of what `model` can do, as it is now (an autoencoder samples once a prior is attached)."""
    return [name for name, kind in CAPABILITIES.items() if isinstance(model, kind)]


def is_autoencoder(model: Any) -> bool:
    """Encodes and decodes: reconstructions, codes to draw, interpolations."""
    return isinstance(model, Encoder) and isinstance(model, Decoder)


Inputs = Literal["any", "images", "vectors", "counts", "codes"]
Codes = Literal["vector", "grid", "none"]


@dataclass(frozen=True)
class Traits:
    """What a family is, beside what it can do: one record per model class (`Trainable.traits`)."""

    inputs: Inputs = "any"  # the family's inputs: images (C, H, W), vectors, counts (of words), codes (of a stage)
    codes: Codes = "vector"  # what `encode` gives: a flat vector, a spatial grid (VQ-VAE), nothing (a density)
    weighs_inputs: bool = False  # the loss is per input and honours `Batch.input_weights()` (--emphasis)
    stage_of: str = ""  # trains only as a stage over this model's output (said in the refusal of `aelab train`)
    shares_update_params: bool = False  # a network stepped by two updates (ALAE's Algorithm 1), each its own optimiser

    @property
    def standalone(self) -> bool:
        """Trains on data by itself (not only as a stage over another model's output)."""
        return not self.stage_of
