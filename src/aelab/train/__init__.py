"""Training: the one trainer, checkpoints, and multi-stage runs."""

from .trainer import TrainConfig, Trainer

__all__ = ["TrainConfig", "Trainer"]
