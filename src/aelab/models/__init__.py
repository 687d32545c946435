"""Every model family; importing this module registers them all."""

from . import ae, rbm  # noqa: F401  (registration happens at import)
from .base import Autoencoder, Batch, Generative, Step, build_model, model_class, model_names, register

__all__ = ["Autoencoder", "Batch", "Generative", "Step", "build_model", "model_class", "model_names", "register"]
