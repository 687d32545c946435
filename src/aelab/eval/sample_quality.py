"""Sample quality on MNIST-like data: Fréchet distance in the features of a small shipped MNIST classifier.

This is NOT the Inception FID: the feature network is a 2-conv MNIST classifier trained by
`bench/mnist_classifier.py`, so the numbers are only comparable with other numbers from this score.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import CheckpointError, ConfigError
from ..runs.folder import read_tensors, sha256_bytes
from ..train.checkpoint import load_weights

ASSET_WEIGHTS = "mnist_classifier.safetensors"
ASSET_INFO = "mnist_classifier.json"
FEATURE_DIM = 128


class MNISTClassifier(nn.Module):
    """conv5x5(32)-pool-conv5x5(64)-pool-fc(128)-fc(10); the 128 ReLU features define the score."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.fc = nn.Sequential(nn.Linear(64 * 7 * 7, FEATURE_DIM), nn.ReLU())
        self.out = nn.Linear(FEATURE_DIM, 10)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate activations (B, 128) of images (B, 1, 28, 28) in [0, 1]."""
        return self.fc(self.convs(x).flatten(1))

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.features(x))


def asset_dir() -> Path:
    return Path(str(resources.files("aelab") / "assets"))


def load_classifier(path: Path | None = None) -> MNISTClassifier:
    """The shipped classifier (or one at `path`), checked against the checksum in its JSON record."""
    weights = Path(path) if path is not None else asset_dir() / ASSET_WEIGHTS
    info_path = weights.with_suffix(".json")
    expected = None
    if info_path.is_file():
        expected = json.loads(info_path.read_text()).get("sha256")
    if not weights.is_file():
        raise CheckpointError(f"the sample-quality classifier {weights} is missing; "
                              f"rebuild it with `python bench/mnist_classifier.py`")
    model = MNISTClassifier()
    load_weights(model, read_tensors(weights, expected), weights)
    return model.eval()


@torch.no_grad()
def classifier_features(clf: MNISTClassifier, x: Tensor, batch_size: int = 1000) -> np.ndarray:
    """Features of a set of 1x28x28 images, float64 (N, 128)."""
    if tuple(x.shape[1:]) != (1, 28, 28):
        raise ConfigError(f"the MNIST sample-quality score needs 1x28x28 images, got {tuple(x.shape[1:])}")
    if not torch.isfinite(x).all():
        raise ConfigError("images to score contain NaN or inf")
    feats = [clf.features(x[i : i + batch_size].float().clamp(0, 1)) for i in range(0, len(x), batch_size)]
    return torch.cat(feats).double().numpy()


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(f1: np.ndarray, f2: np.ndarray) -> float:
    """|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2) between Gaussians fitted to two feature sets."""
    if len(f1) < 2 or len(f2) < 2:
        raise ConfigError("the Fréchet distance needs at least two samples in each set")
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    r1 = _sqrtm_psd(s1)
    cross = _sqrtm_psd(r1 @ s2 @ r1)  # symmetric PSD form, so eigh suffices (no complex sqrtm)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(cross))


def sample_quality(samples: Tensor, reference: Tensor, clf: MNISTClassifier | None = None) -> dict[str, float]:
    """Fréchet distance between classifier features of `samples` and of `reference` images, plus
    the classifier's mean max-probability on the samples (how digit-like they look to it)."""
    clf = clf or load_classifier()
    fs, fr = classifier_features(clf, samples), classifier_features(clf, reference)
    with torch.no_grad():
        probs = torch.softmax(clf.out(torch.from_numpy(fs).float()), dim=1)
    return {"frechet": frechet_distance(fs, fr), "confidence": float(probs.max(1).values.mean()),
            "n_samples": int(len(samples)), "n_reference": int(len(reference))}


def classifier_record(weights_bytes: bytes, **info: object) -> dict[str, object]:
    """The JSON stored beside the shipped weights: checksum plus how it was made and how well it does."""
    return {"sha256": sha256_bytes(weights_bytes), **info}
