"""Recipes: how each family is trained (TrainConfig), its named presets, the stages a run may have, all torch-free.

One module per family states its presets and stage plans once; the CLI, `aelab.fit` and every bench script
read them from here. Importing this package imports every module in it, which registers every family: a new
family is one new file here (and its model's file in aelab.models).
"""

import importlib
import pkgutil

from .registry import Family, family, plan, preset, presets, training
from .stages import DATA, MAIN, RunSpec, Stage, with_stages
from .train import TrainConfig

for _module in pkgutil.iter_modules(__path__):  # registration happens at import
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["DATA", "MAIN", "Family", "RunSpec", "Stage", "TrainConfig", "family", "plan", "preset", "presets", "training",
           "with_stages"]
