"""The one model interface (encode / decode / steps) and the registry that names models."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import torch
from torch import Tensor, nn

from ..config import from_dict, to_dict
from ..errors import ConfigError


@dataclass
class Batch:
    """One training batch: data in [0,1] shaped (B, C, H, W), labels when the data has them."""

    x: Tensor
    y: Tensor | None = None


@dataclass
class Step:
    """One optimiser update per batch: the parameters it may change and the loss it follows."""

    name: str
    params: list[nn.Parameter]
    loss: Callable[[Batch], dict[str, Tensor]]


class Autoencoder(nn.Module):
    """Base of every model: `encode` data to a code, `decode` it back, `steps` to train."""

    name: ClassVar[str] = ""
    Config: ClassVar[type] = object
    presets: ClassVar[dict[str, dict[str, Any]]] = {}  # named configurations, e.g. a paper's architecture

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config

    def encode(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def decode(self, z: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))

    def steps(self) -> list[Step]:
        raise NotImplementedError

    def eval_terms(self, x: Tensor) -> dict[str, Tensor]:
        """Per-example evaluation terms, shape (B,) each; models add their own (ELBO, ...)."""
        flat = x.flatten(1)
        recon = self(x).flatten(1)
        eps = 1e-7
        clamped = recon.clamp(eps, 1 - eps)
        bce = -(flat * clamped.log() + (1 - flat) * (1 - clamped).log()).sum(1)
        return {"sq_err": (recon - flat).pow(2).sum(1), "bce": bce}

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example, (C, H, W)."""
        return tuple(self.config.input_shape)

    def check_input(self, x: Tensor) -> None:
        """Refuse data whose per-example shape differs from the model's."""
        if tuple(x.shape[1:]) != self.input_shape:
            raise ConfigError(
                f"data of shape {tuple(x.shape[1:])} does not fit model {self.name!r}, "
                f"which expects {self.input_shape}"
            )


class Generative(Autoencoder):
    """An autoencoder with a prior to sample from."""

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        raise NotImplementedError


class LatentVariableModel(Generative):
    """A generative model with an explicit likelihood p(x|z) p(z) and an approximate posterior q(z|x)."""

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of the Gaussian q(z|x), each (B, latent_dim)."""
        raise NotImplementedError

    def log_weights(self, x: Tensor, k: int) -> Tensor:
        """log p(x, z_i) - log q(z_i|x) for k draws z_i ~ q(z|x): shape (B, k) (Burda et al. 2016, Eq. 8)."""
        raise NotImplementedError


_REGISTRY: dict[str, type[Autoencoder]] = {}


def register(cls: type[Autoencoder]) -> type[Autoencoder]:
    """Class decorator: make a model available by its `name`."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _REGISTRY[cls.name] = cls
    return cls


def model_names() -> list[str]:
    """Names of all registered models."""
    return sorted(_REGISTRY)


def model_class(name: str) -> type[Autoencoder]:
    """The model class registered under `name`, or a one-line error listing the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(model_names())}") from None


def build_model(name: str, config: dict[str, Any] | Any) -> Autoencoder:
    """Instantiate a registered model from a config dict (or its dataclass)."""
    cls = model_class(name)
    cfg = config if dataclasses.is_dataclass(config) else from_dict(cls.Config, config, f"{name} config")
    return cls(cfg)


def model_spec(model: Autoencoder) -> dict[str, Any]:
    """{"name": ..., "config": {...}}: enough to rebuild the model without pickle."""
    return {"name": model.name, "config": to_dict(model.config)}
