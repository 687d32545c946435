"""Evaluation: metrics, whole-data-set evaluation and the linear baselines of the Science 2006 paper."""

from __future__ import annotations

from typing import Any

# The baselines import scikit-learn, so they load on first use, not with the package.
_BASELINES = ("LogisticPCA", "PCABaseline", "squared_error_per_image")

__all__ = [*_BASELINES]


def __getattr__(name: str) -> Any:
    if name in _BASELINES:
        from . import baselines

        return getattr(baselines, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
