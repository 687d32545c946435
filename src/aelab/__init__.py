"""aelab: the autoencoder family behind one model interface, one trainer and one CLI."""

from __future__ import annotations

import importlib
from typing import Any

from .errors import AelabError

__version__ = "0.1.0"
__all__ = ["AelabError", "load", "__version__"]


def __getattr__(name: str) -> Any:
    # torch loads on first use, not with the package: `aelab --help` and `aelab.cli` stay fast.
    if name == "load":
        from .train.run import load

        return load
    if name in ("models", "data", "eval", "nn", "train", "viz", "batching", "config"):
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
