"""Training: the one trainer, its callbacks, checkpoints' tensors, and multi-stage runs."""

from ..recipes.train import TrainConfig

__all__ = ["TrainConfig", "Trainer"]


def __getattr__(name: str):
    if name == "Trainer":  # torch loads with the trainer, not with TrainConfig
        from .trainer import Trainer

        return Trainer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
