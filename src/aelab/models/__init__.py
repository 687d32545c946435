"""Every model family; importing this module registers them all."""

from . import ae, rbm, vae, vaegan  # noqa: F401  (registration happens at import)
from .base import Autoencoder, Batch, Generative, LatentVariableModel, Step, build_model, model_class, model_names, register

__all__ = ["Autoencoder", "Batch", "Generative", "LatentVariableModel", "Step", "build_model", "model_class", "model_names", "register"]
