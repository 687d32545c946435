"""Recipes: how each family is trained (TrainConfig), its named presets, the stages a run may have, all torch-free.

One module per family states its presets and stage plans once; the CLI, `aelab.fit` and every bench script
read them from here. Importing this package registers them all.
"""

from . import acai, ae, alae, priors, semhash, vae, vaegan, vqvae  # noqa: F401  (registration happens at import)
from .registry import Family, family, plan, preset, presets
from .stages import DATA, MAIN, RunSpec, Stage, with_stages
from .train import TrainConfig

__all__ = ["DATA", "MAIN", "Family", "RunSpec", "Stage", "TrainConfig", "family", "plan", "preset", "presets",
           "with_stages"]
