"""The Python API: `fit` trains from a recipe and data into a run folder, `load` reads a trained model back."""

from .fit import Run, fit, load, plan

__all__ = ["Run", "fit", "load", "plan"]
