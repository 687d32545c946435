"""Every model family: importing this package imports every module in it, which registers them all (a new family
is one new file here, and its recipes' file in aelab.recipes)."""

import importlib
import pkgutil

from .base import Autoencoder, Batch, DensityModel, Denoiser, Progress, Trainable, Update, build_model, model_class, model_names, register
from .capabilities import (
    CAPABILITIES,
    AnySize,
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

for _module in pkgutil.iter_modules(__path__):  # registration happens at import
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["AnySize", "Autoencoder", "Batch", "BinaryCoder", "CAPABILITIES", "Decoder", "Denoiser", "Density", "DensityModel",
           "DiscreteCoder", "Encoder", "LikelihoodBound", "Progress", "Restorer", "Sampler", "Trainable", "Traits",
           "Update", "build_model", "capabilities", "is_autoencoder", "model_class", "model_names", "register"]
