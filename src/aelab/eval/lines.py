"""The line-interpolation benchmark of ACAI (Berthelot, Raffel, Roy & Goodfellow, ICLR 2019, Sec. 3).

An autoencoder trained on the "lines" data set (data/lines.py) interpolates between the codes of
two test lines; each decoded image is matched to the closest of 10,000 true lines by cosine
distance. "Mean distance" says how much the decodings look like real lines, "smoothness" how
evenly their angles move from one end to the other (0 is perfectly even; both lower is better).
Everything follows the paper's official code, lib/eval.py (closest_line, smoothness_score,
line_eval), including its [-1, 1] pixel range and its way of averaging undefined smoothness.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..data.lines import LINES_SIZE, lines_images
from ..errors import ConfigError
from ..models.base import Autoencoder
from .interpolation import interpolate_pairs

__all__ = [
    "REFERENCE_COUNT",
    "reference_lines",
    "closest_lines",
    "smoothness",
    "line_scores",
    "interpolate_pairs",
    "lines_interpolation",
]

REFERENCE_COUNT = 10_000  # the official closest_line's number of true lines
_QUERY_CHUNK = 512  # queries scored at once: a (512, 10000) float64 block is 41 MB
_STRIPS = 8  # interpolations kept in the details for a picture


@lru_cache(maxsize=4)
def reference_lines(size: int = LINES_SIZE, count: int = REFERENCE_COUNT) -> tuple[np.ndarray, np.ndarray]:
    """The true lines matched against, (images, angles) (Berthelot et al. 2019, official lib/eval.py closest_line).

    images (count, 1, size, size) float64 in [0, 1]; angles linspace(0, 2π - 2π/count, count); cached, read-only.
    """
    angles = np.linspace(0, 2 * np.pi - 2 * np.pi / count, count)
    images = lines_images(angles, size, dtype=np.float64)  # float64, as the official reference set
    images.setflags(write=False)
    angles.setflags(write=False)
    return images, angles


@lru_cache(maxsize=4)
def _unit_references(size: int, count: int) -> Tensor:
    """The reference lines in [-1, 1], flattened and scaled to unit length: (count, size * size) float64."""
    images, _ = reference_lines(size, count)
    r = torch.from_numpy(2 * images.reshape(count, -1) - 1)
    return r / r.norm(dim=1, keepdim=True)


def _as_tensor(images: Tensor | np.ndarray) -> Tensor:
    """A CPU tensor of images given as a tensor or an array (copied: our cached arrays are read-only)."""
    if isinstance(images, Tensor):
        return images.detach().cpu()
    return torch.tensor(np.asarray(images))


def closest_lines(images: Tensor | np.ndarray, count: int = REFERENCE_COUNT) -> tuple[np.ndarray, np.ndarray]:
    """(min cosine distance, angle of the closest true line) per image (Berthelot et al. 2019, lib/eval.py closest_line).

    images: (N, 1, S, S) or (N, S, S) in [0, 1], as our data and decoders give them. They are
    mapped to [-1, 1] (2x - 1) before comparing, because the official code works on images in
    [-1, 1] and a cosine distance is not the same on [0, 1] (a blank image is then a zero
    vector, and the background counts as much as the line). An image that is 0.5 everywhere is
    the zero vector in [-1, 1], whose cosine distance is undefined (NaN officially); here it
    gets distance 1 (no correlation with any line) and the angle 0.
    """
    x = _as_tensor(images)
    if x.ndim == 4:
        if x.shape[1] != 1:
            raise ConfigError(f"line images must have one channel, got shape {tuple(x.shape)}")
        x = x[:, 0]
    if x.ndim != 3 or x.shape[1] != x.shape[2] or x.shape[1] < 4:
        raise ConfigError(f"line images must be (N, 1, S, S) or (N, S, S) squares, got shape {tuple(x.shape)}")
    refs = _unit_references(int(x.shape[1]), count)
    _, ref_angles = reference_lines(int(x.shape[1]), count)
    q = 2 * x.reshape(len(x), -1).to(torch.float64) - 1
    norm = q.norm(dim=1)
    best = torch.empty(len(q), dtype=torch.long)
    cos = torch.empty(len(q), dtype=torch.float64)
    for i in range(0, len(q), _QUERY_CHUNK):
        # the smallest cosine distance is the largest dot product with the unit references: dividing
        # by the query's own (positive) norm does not change which reference wins
        sims = q[i : i + _QUERY_CHUNK] @ refs.T
        top, idx = sims.max(dim=1)
        best[i : i + _QUERY_CHUNK] = idx
        cos[i : i + _QUERY_CHUNK] = top / norm[i : i + _QUERY_CHUNK].clamp_min(torch.finfo(torch.float64).tiny)
    distance = (1 - cos).numpy()
    return distance, ref_angles[best.numpy()]


def smoothness(angles: np.ndarray) -> np.ndarray:
    """Smoothness per interpolation (Berthelot et al. 2019, official lib/eval.py smoothness_score).

    The largest unwrapped angle step over |last - first|, minus 1/(S - 1); NaN where |last - first| < 1e-4.

    angles: (P, S) closest-line angles of P interpolations of S steps each (S >= 2).
    """
    a = np.atleast_2d(np.asarray(angles, dtype=np.float64))
    if a.ndim != 2 or a.shape[1] < 2:
        raise ValueError(f"smoothness needs angles of shape (P, S) with S >= 2, got {np.shape(angles)}")
    # a path that crosses angle 0 jumps by ~2π between neighbours; unwrapping (jumps > π) undoes that
    a = np.unwrap(a, axis=-1)
    steps = np.abs(np.diff(a, axis=-1))
    total = np.abs(a[:, 0] - a[:, -1])
    undefined = total < 1e-4  # the official cut-off: both ends are the same line, the score has no scale
    with np.errstate(divide="ignore", invalid="ignore"):
        score = steps.max(axis=-1) / total - 1.0 / (a.shape[1] - 1)
    score[undefined] = np.nan
    return score


def _official_mean(scores: np.ndarray) -> float:
    """The official mean smoothness: the defined scores' sum over the number of ALL interpolations (NaN if none)."""
    defined = ~np.isnan(scores)
    if not defined.any():
        return math.nan
    # the official line_eval divides by every interpolation, so an undefined one counts as 0 (perfect)
    return float(scores[defined].sum() / len(scores))


def line_scores(interpolations: Tensor | np.ndarray) -> dict[str, Any]:
    """Scores of (P, S, 1, H, W) interpolations in [0, 1] (Berthelot et al. 2019, official lib/eval.py line_eval).

    Returns mean_distance (mean closest-line distance of all P * S images), smoothness (the
    official mean, see _official_mean), undefined_smoothness (how many were NaN), and the arrays
    distances (P, S), angles (P, S) and smoothness_scores (P,).
    """
    x = _as_tensor(interpolations)
    if x.ndim != 5:
        raise ConfigError(f"line interpolations must be (P, S, 1, H, W), got shape {tuple(x.shape)}")
    p, s = x.shape[:2]
    distances, angles = closest_lines(x.reshape(p * s, *x.shape[2:]))
    distances, angles = distances.reshape(p, s), angles.reshape(p, s)
    scores = smoothness(angles)
    return {
        "mean_distance": float(distances.mean()),
        "smoothness": _official_mean(scores),
        "undefined_smoothness": int(np.isnan(scores).sum()),
        "distances": distances,
        "angles": angles,
        "smoothness_scores": scores,
    }


def _pairs(n: int, pairs: int, seed: int) -> tuple[Tensor, Tensor]:
    """Indices (from, to) of `pairs` pairs of distinct test images, drawn with a seeded generator.

    Like the official evaluation (the first 256 of 512 fresh test lines with the other 256),
    every image is used once when there are enough (2 * pairs <= n); otherwise each pair is two
    distinct images, and images repeat across pairs.
    """
    g = torch.Generator().manual_seed(seed)
    if 2 * pairs <= n:
        perm = torch.randperm(n, generator=g)
        return perm[:pairs], perm[pairs : 2 * pairs]
    a = torch.randint(0, n, (pairs,), generator=g)
    return a, (a + torch.randint(1, n, (pairs,), generator=g)) % n  # an offset of 1..n-1: never the same image


def lines_interpolation(
    model: Autoencoder,
    test_x: Tensor | np.ndarray,
    pairs: int = 256,
    steps: int = 16,
    seed: int = 0,
    batch_size: int = 64,
) -> tuple[dict[str, float], dict[str, Any]]:
    """The line benchmark on seeded test pairs (Berthelot et al. 2019, Sec. 3 / official lib/train.py eval_custom_lines32).

    test_x: the test lines (N, 1, 32, 32) in [0, 1]. Metrics: mean_distance, smoothness and
    undefined_smoothness as line_scores gives them. Details: pairs (P, 2) test indices, the
    per-interpolation distances (P, S), angles (P, S) and smoothness_scores (P,) as lists, and
    strips, a tensor (k, steps + 2, 1, H, W) of the first k interpolations with the two real
    images at their ends, for a picture.
    """
    if pairs < 1:
        raise ConfigError(f"the line benchmark needs at least 1 pair, got {pairs}")
    test_x = test_x if isinstance(test_x, Tensor) else _as_tensor(test_x)
    if len(test_x) < 2:
        raise ConfigError(f"the line benchmark needs at least 2 test images, got {len(test_x)}")
    i, j = _pairs(len(test_x), pairs, seed)
    x_from, x_to = test_x[i], test_x[j]
    paths = interpolate_pairs(model, x_from, x_to, steps, batch_size)
    scores = line_scores(paths)
    k = min(_STRIPS, pairs)
    strips = torch.cat([x_from[:k, None].cpu().to(paths.dtype), paths[:k], x_to[:k, None].cpu().to(paths.dtype)], dim=1)
    # the same names as line_scores (the bench reads them so); a caller merging them with other metric
    # families' (the suite's flat dict) can prefix them there
    metrics = {
        "mean_distance": scores["mean_distance"],
        "smoothness": scores["smoothness"],
        "undefined_smoothness": float(scores["undefined_smoothness"]),
    }
    details = {
        "pairs": torch.stack([i, j], dim=1).tolist(),
        "distances": scores["distances"].tolist(),
        "angles": scores["angles"].tolist(),
        "smoothness_scores": scores["smoothness_scores"].tolist(),
        "strips": strips,
    }
    return metrics, details
