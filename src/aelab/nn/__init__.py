"""Building blocks shared by the models."""

from .mlp import activation, mlp

__all__ = ["activation", "mlp"]
