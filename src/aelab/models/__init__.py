"""Every model family; importing this module registers them all."""

from . import acai, ae, alae, gmm, rbm, semhash, vae, vaegan, vqvae  # noqa: F401  (registration happens at import)
from .base import (
    Autoencoder,
    Batch,
    DensityModel,
    Generative,
    LatentVariableModel,
    Progress,
    Trainable,
    Update,
    build_model,
    model_class,
    model_names,
    register,
)

__all__ = ["Autoencoder", "Batch", "DensityModel", "Generative", "LatentVariableModel", "Progress", "Trainable", "Update",
           "build_model", "model_class", "model_names", "register"]
