"""The Python API: `fit` trains from a recipe and data into a run folder, `load` reads a trained model back, `export`
writes its networks as ONNX or TorchScript files."""

from .export import export
from .fit import Run, fit, load, plan

__all__ = ["Run", "export", "fit", "load", "plan"]
