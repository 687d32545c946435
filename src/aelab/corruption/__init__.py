"""Corrupting inputs on the fly: the denoising autoencoder's training input, and the holes an inpainter fills."""

from ..recipes.corruption import KINDS, CorruptionSpec, Term, parse_corruption

__all__ = ["KINDS", "CorruptionSpec", "Term", "parse_corruption", "Corruption", "Corrupted", "SeededDraws", "inpaint"]


def __getattr__(name: str):  # the torch half loads on first use: the CLI parses specs without torch
    if name in ("Corruption", "Corrupted", "SeededDraws", "inpaint", "load_masks"):
        from . import apply

        return getattr(apply, name)
    raise AttributeError(name)
