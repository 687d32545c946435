"""Fashion-MNIST (Xiao et al. 2017): 28x28 grey Zalando article images in 10 classes, in MNIST's IDX layout."""

from __future__ import annotations

from .mnist import register_idx_dataset

__all__ = ["FASHION_CLASSES"]

FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip

register_idx_dataset(
    "fashion-mnist",
    "Zalando article images in 10 classes, 28x28 grayscale (Xiao et al. 2017)",
    classes=FASHION_CLASSES,
    aliases=("fashion", "fashionmnist"),
)
