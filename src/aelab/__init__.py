"""aelab: the autoencoder family behind one model interface, one trainer and one CLI."""

from __future__ import annotations

import importlib
from typing import Any

from .errors import AelabError

from .version import __version__
__all__ = ["AelabError", "Run", "export", "fit", "load", "__version__"]


def __getattr__(name: str) -> Any:
    # torch loads on first use, not with the package: `aelab --help` and `aelab.cli` stay fast.
    if name in ("fit", "load", "Run", "export"):
        from . import api

        return getattr(api, name)
    if name in ("api", "models", "data", "eval", "nn", "recipes", "runs", "train", "viz", "batching", "config"):
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
