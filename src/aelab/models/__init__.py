"""Every model family; importing this module registers them all."""

from . import acai, ae, alae, gmm, rbm, semhash, vae, vaegan, vqvae  # noqa: F401  (registration happens at import)
from .base import Autoencoder, Batch, DensityModel, Denoiser, Progress, Trainable, Update, build_model, model_class, model_names, register
from .capabilities import (
    CAPABILITIES,
    BinaryCoder,
    Decoder,
    Density,
    DiscreteCoder,
    Encoder,
    LikelihoodBound,
    Restorer,
    Sampler,
    Traits,
    capabilities,
    is_autoencoder,
)

__all__ = ["Autoencoder", "Batch", "BinaryCoder", "CAPABILITIES", "Decoder", "Denoiser", "Density", "DensityModel",
           "DiscreteCoder", "Encoder", "LikelihoodBound", "Progress", "Restorer", "Sampler", "Trainable", "Traits",
           "Update", "build_model", "capabilities", "is_autoencoder", "model_class", "model_names", "register"]
