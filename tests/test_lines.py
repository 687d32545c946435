"""The "lines" data set and line-interpolation metrics of ACAI (Berthelot et al. 2019, Sec. 3) against the official code."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from aelab.data import dataset_source, describe_datasets, load_dataset
from aelab.data import lines as lines_module
from aelab.data.lines import LINES_TEST, LINES_TRAIN, draw_line, line_labels, lines_images, lines_split
from aelab.errors import DataError
from aelab.eval.interpolation import interpolate, interpolate_pairs
from aelab.eval.lines import closest_lines, line_scores, lines_interpolation, reference_lines, smoothness
from aelab.models import build_model
from aelab.models.base import Autoencoder

STEPS = 16


def official_draw_line(angle, height, width, w=2.0):
    """draw_line of the official lib/data.py (brain-research/acai), ported literally: (height, width, 1) in [-1, 1]."""
    m = np.zeros((height, width, 1))
    x0 = height * 0.5
    y0 = width * 0.5
    x1 = x0 + (x0 - 1) * math.cos(-angle)
    y1 = y0 + (y0 - 1) * math.sin(-angle)
    flip = False
    if abs(y0 - y1) < abs(x0 - x1):
        x0, x1, y0, y1 = y0, y1, x0, x1
        flip = True
    if y1 < y0:
        x0, x1, y0, y1 = x1, x0, y1, y0
    x0, x1 = x0 - w / 2, x1 - w / 2
    dx = x1 - x0
    dy = y1 - y0
    ds = dx / dy if dy != 0 else 0
    yi = int(math.ceil(y0)), int(y1)
    points = []
    for y in range(int(y0), int(math.ceil(y1))):
        if y < yi[0]:
            weight = yi[0] - y0
        elif y > yi[1]:
            weight = y1 - yi[1]
        else:
            weight = 1
        xs = x0 + (y - y0 - 0.5) * ds
        xe = xs + w
        xi = int(math.ceil(xs)), int(xe)
        if xi[0] != xi[1]:
            points.append((y, slice(xi[0], xi[1]), weight))
        if xi[0] != xs:
            points.append((y, int(xs), weight * (xi[0] - xs)))
        if xi[1] != xe:
            points.append((y, xi[1], weight * (xe - xi[1])))
    if flip:
        points = [(x, y, z) for y, x, z in points]
    for y, x, z in points:
        m[y, x] += 2 * z
    m -= 1
    m = m.clip(-1, 1)
    return m


def exact_interpolation(start: float, end: float, steps: int = STEPS) -> np.ndarray:
    """True lines at angles evenly spaced from start to end: a perfect interpolation, (steps, 1, 32, 32)."""
    return lines_images(np.linspace(start, end, steps) % (2 * math.pi))


def cross_fade(start: float, end: float, steps: int = STEPS) -> np.ndarray:
    """(1 - α) line(start) + α line(end): the pixel-space interpolation, (steps, 1, 32, 32)."""
    a, b = lines_images(np.array([start, end]))
    alpha = np.linspace(0, 1, steps)[:, None, None, None]
    return (1 - alpha) * a + alpha * b


# ---------------------------------------------------------------- drawing


def test_draw_line_is_the_official_drawing():
    rng = np.random.default_rng(123)
    angles = np.concatenate([
        np.linspace(0, 2 * math.pi, 721),  # every half degree
        2 * math.pi * rng.random(500),
        np.arange(16) * math.pi / 8,  # axis-aligned and diagonal lines, where the official code flips or ties
        [-0.4, 7.0, 40.0],  # outside [0, 2π): the official formula simply takes cos and sin
    ])  # fmt: skip
    ours = lines_images(angles)
    assert ours.shape == (len(angles), 1, 32, 32) and ours.dtype == np.float32
    ref = np.stack([official_draw_line(a, 32, 32)[:, :, 0] for a in angles])
    np.testing.assert_allclose(ours[:, 0], (ref + 1) / 2, rtol=0, atol=1e-6)
    for k in (0, 100, 722):  # the one-image form is the same drawing
        np.testing.assert_allclose(draw_line(angles[k]), (ref[k] + 1) / 2, rtol=0, atol=1e-6)
    # other sizes and widths, odd sizes included
    for size, width in ((8, 1.0), (17, 3.0), (64, 2.5), (32, 0.7)):
        few = angles[::20]
        ref = np.stack([official_draw_line(a, size, size, width)[:, :, 0] for a in few])
        np.testing.assert_allclose(lines_images(few, size, width)[:, 0], (ref + 1) / 2, rtol=0, atol=1e-6)


def test_draw_line_geometry():
    right, up = draw_line(0.0), draw_line(math.pi / 2)
    # angle 0 points right along the middle rows, π/2 up (the official cos(-a), sin(-a) with rows downwards)
    assert right[:, 17:].sum() > 25 and right[:, :15].sum() == 0
    assert up[:15, :].sum() > 25 and up[17:, :].sum() == 0
    assert float(right.min()) == 0.0 and float(right.max()) == 1.0
    with pytest.raises(ValueError, match="size"):
        lines_images(np.zeros(1), size=3)


# ---------------------------------------------------------------- the data set


def test_lines_dataset_test_split():
    test = load_dataset("lines", "test")
    assert test.name == "lines" and test.x.shape == (LINES_TEST, 1, 32, 32) and test.x.dtype == torch.float32
    assert float(test.x.min()) == 0.0 and float(test.x.max()) == 1.0
    assert test.y.dtype == torch.int64 and set(test.y.tolist()) == set(range(10)) and len(test.classes) == 10
    assert test.index.tolist() == list(range(LINES_TRAIN, LINES_TRAIN + LINES_TEST))
    # the images are the lines at the kept true angles, drawn from numpy's default_rng(1)
    images, angles = lines_split("test")
    np.testing.assert_array_equal(angles, 2 * math.pi * np.random.default_rng(1).random(LINES_TEST))
    assert torch.equal(test.x, torch.from_numpy(lines_images(angles)))
    # the official labels: int(10 * angle / (2π - 1e-6))
    assert test.y.tolist() == [int(10 * a / (2 * math.pi - 1e-6)) for a in angles]
    # the same on every call, and the caller's copy is its own
    again = load_dataset("lines", "test")
    assert torch.equal(again.x, test.x) and torch.equal(again.y, test.y)
    test.x[0] = 0.5
    assert not torch.equal(load_dataset("lines", "test").x[0], test.x[0])
    # resized and in colour like any other data set
    small = load_dataset("lines", "test", image_size=16, grayscale=False)
    assert small.x.shape == (LINES_TEST, 3, 16, 16) and torch.equal(small.x[:, 0], small.x[:, 2])


def test_lines_dataset_train_and_all(monkeypatch):
    """The train and all splits, made small (the real train split is 50,000 images, about 2 s to draw)."""
    monkeypatch.setattr(lines_module, "LINES_TRAIN", 300)
    for cached in (lines_module._generated, lines_module.lines_split):
        cached.cache_clear()
    try:
        train, everything = load_dataset("lines", "train"), load_dataset("lines", "all")
        _, angles = lines_split("train")
        np.testing.assert_array_equal(angles, 2 * math.pi * np.random.default_rng(0).random(300))
        assert train.x.shape == (300, 1, 32, 32) and train.index.tolist() == list(range(300))
        assert torch.equal(train.x, torch.from_numpy(lines_images(angles)))
        assert len(everything) == 300 + LINES_TEST and everything.index.tolist() == list(range(300 + LINES_TEST))
        test = load_dataset("lines", "test")
        assert torch.equal(everything.x, torch.cat([train.x, test.x]))
        assert torch.equal(everything.y, torch.cat([train.y, test.y]))
    finally:
        for cached in (lines_module._generated, lines_module.lines_split):
            cached.cache_clear()


def test_lines_is_registered():
    source = dataset_source("lines")
    assert (source.shape, source.train, source.test, source.probe) == ((1, 32, 32), LINES_TRAIN, LINES_TEST, None)
    row = next(r for r in describe_datasets() if r["name"] == "lines")
    assert row["available"] and row["location"] is None and "\n" not in row["description"]
    with pytest.raises(DataError, match="official test split"):
        load_dataset("lines", "test", val_fraction=0.2)  # a fixed test split, like MNIST's
    # the official bins, and the one angle where the official formula would give an eleventh class
    assert line_labels(np.array([0.0, 0.63, 3.2, 2 * math.pi - 1e-9])).tolist() == [0, 1, 5, 9]


# ---------------------------------------------------------------- the metrics


def test_closest_lines_is_the_official_cosine_distance_in_minus_one_to_one():
    scipy_distance = pytest.importorskip("scipy.spatial.distance")
    refs, ref_angles = reference_lines()
    assert refs.shape == (10_000, 1, 32, 32) and ref_angles[1] == pytest.approx(2 * math.pi / 10_000)
    rng = np.random.default_rng(0)
    noisy = np.clip(lines_images(2 * math.pi * rng.random(40)) + 0.2 * rng.standard_normal((40, 1, 32, 32)), 0, 1)
    blank = np.zeros((1, 1, 32, 32))
    queries = np.concatenate([noisy, blank])
    distance, angle = closest_lines(queries)
    # the official closest_line: scipy's cosine cdist on the images in [-1, 1]
    d = scipy_distance.cdist(2 * queries.reshape(41, -1) - 1, 2 * refs.reshape(10_000, -1) - 1, "cosine")
    np.testing.assert_allclose(distance, d.min(axis=1), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(angle, ref_angles[d.argmin(axis=1)])
    # in [-1, 1] a blank image is all background, as ~97% of every line image is: close to all of them
    # (in [0, 1] it would be the zero vector, with no cosine distance at all)
    assert 0.01 < distance[-1] < 0.1
    # a tensor works as well as an array
    t_distance, _ = closest_lines(torch.from_numpy(queries).float())
    np.testing.assert_allclose(t_distance, distance, atol=1e-6)


def test_exact_line_interpolation_scores_zero():
    scores = line_scores(exact_interpolation(0.3, 1.2)[None])
    # a true line is at most half a reference step (π/10000 rad) from one of the 10,000: distance ~1e-7
    assert scores["mean_distance"] < 1e-5
    # each end's angle is read to within π/10000, so no step can be off by more than ~1e-3 of the range
    assert 0 <= scores["smoothness"] < 2e-3
    assert scores["angles"].shape == (1, STEPS) and scores["distances"].shape == (1, STEPS)
    np.testing.assert_allclose(scores["angles"][0], np.linspace(0.3, 1.2, STEPS), atol=math.pi / 10_000 + 1e-12)


def test_pixel_cross_fade_scores_badly():
    exact = line_scores(exact_interpolation(0.3, 1.2)[None])
    fade = line_scores(cross_fade(0.3, 1.2)[None])
    assert fade["mean_distance"] > 1e-3 and fade["mean_distance"] > 1000 * exact["mean_distance"]
    # the closest angle stays at the start, then jumps to the end in one step: 1 - 1/(S - 1) at worst
    assert fade["smoothness"] == pytest.approx(1 - 1 / (STEPS - 1), abs=0.01)
    assert fade["smoothness"] > 100 * exact["smoothness"]


def test_smoothness_by_hand_and_undefined_ends():
    got = smoothness(np.array([[0.0, 0.5, 1.0], [0.0, 1.0, 1.0], [1.0, 2.0, 1.00001], [2.0, 2.0, 2.0]]))
    np.testing.assert_allclose(got[:2], [0.0, 0.5])
    assert np.isnan(got[2]) and np.isnan(got[3])  # |last - first| < 1e-4: no scale to measure steps by
    # the official mean: undefined scores are left out of the sum but counted in the number of interpolations
    same = exact_interpolation(0.7, 0.7)[None]  # both ends the same line
    batch = np.concatenate([cross_fade(0.3, 1.2)[None], exact_interpolation(2.0, 3.0)[None], same])
    scores = line_scores(batch)
    s = scores["smoothness_scores"]
    assert np.isnan(s[2]) and not np.isnan(s[:2]).any() and scores["undefined_smoothness"] == 1
    assert scores["smoothness"] == pytest.approx((s[0] + s[1]) / 3)
    assert math.isnan(line_scores(same)["smoothness"])  # all undefined: NaN, as officially
    assert line_scores(same)["mean_distance"] < 1e-5  # the distance is still defined


def test_interpolation_through_angle_zero_is_smooth():
    """From 6.0 rad on through 2π to 0.5 rad: the closest angles wrap around, and unwrapping makes the path even."""
    scores = line_scores(exact_interpolation(6.0, 0.5 + 2 * math.pi)[None])
    assert scores["angles"][0, 0] > 5.9 and scores["angles"][0, -1] < 0.6  # they did wrap
    assert scores["mean_distance"] < 1e-5 and scores["smoothness"] < 2e-3
    backwards = smoothness(np.array([[0.3, 0.1, 2 * math.pi - 0.1, 2 * math.pi - 0.3]]))
    np.testing.assert_allclose(backwards, [0.0], atol=1e-12)


# ---------------------------------------------------------------- interpolating with a model


class PixelIdentity(Autoencoder):
    """Codes are the pixels: interpolating codes is the pixel cross-fade."""

    def __init__(self) -> None:
        super().__init__(SimpleNamespace(input_shape=(1, 32, 32)))
        self.scale = torch.nn.Parameter(torch.ones(()))

    def encode(self, x):
        return x.flatten(1) * self.scale

    def decode(self, z):
        return z.view(-1, 1, 32, 32)


def test_interpolate_pairs_batches_and_matches_the_single_pair():
    model = build_model("ae", {"input_shape": [1, 8, 8], "hidden": [16], "latent_dim": 3})
    model.train()
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(5, 1, 8, 8, generator=g), torch.rand(5, 1, 8, 8, generator=g)
    paths = interpolate_pairs(model, a, b, steps=7, batch_size=2)
    assert paths.shape == (5, 7, 1, 8, 8) and model.training  # the training flag is restored
    torch.testing.assert_close(paths, interpolate_pairs(model, a, b, steps=7, batch_size=64))
    torch.testing.assert_close(paths[3], interpolate(model, a[3], b[3], 7))
    with torch.no_grad():
        model.eval()
        torch.testing.assert_close(paths[:, 0], model(a))  # the ends are the reconstructions
        torch.testing.assert_close(paths[:, -1], model(b))


def test_lines_interpolation_end_to_end():
    test_x = load_dataset("lines", "test").x
    model = PixelIdentity()
    metrics, details = lines_interpolation(model, test_x, pairs=20, steps=STEPS, seed=3)
    assert lines_interpolation(model, test_x.numpy(), pairs=20, steps=STEPS, seed=3)[0] == metrics  # an array works too
    assert set(metrics) == {"mean_distance", "smoothness", "undefined_smoothness"}
    pairs = torch.tensor(details["pairs"])
    assert pairs.shape == (20, 2) and len(set(pairs.flatten().tolist())) == 40  # 40 different test images
    # with pixel codes the benchmark is line_scores of the cross-fades of the chosen pairs
    alpha = torch.linspace(0, 1, STEPS).view(1, STEPS, 1, 1, 1)
    fades = (1 - alpha) * test_x[pairs[:, 0], None] + alpha * test_x[pairs[:, 1], None]
    expected = line_scores(fades)
    assert metrics["mean_distance"] == pytest.approx(expected["mean_distance"], rel=1e-6)
    assert metrics["smoothness"] == pytest.approx(expected["smoothness"], rel=1e-6)
    assert metrics["smoothness"] > 0.5 and metrics["mean_distance"] > 1e-3
    strips = details["strips"]
    assert strips.shape == (8, STEPS + 2, 1, 32, 32)
    assert torch.equal(strips[:, 0], test_x[pairs[:8, 0]]) and torch.equal(strips[:, -1], test_x[pairs[:8, 1]])
    # seeded: the same pairs again, others with another seed; more pairs than images/2 still gives distinct ends
    assert lines_interpolation(model, test_x, pairs=20, seed=3)[1]["pairs"] == details["pairs"]
    assert lines_interpolation(model, test_x, pairs=20, seed=4)[1]["pairs"] != details["pairs"]
    few = lines_interpolation(model, test_x[:9], pairs=12, steps=4)[1]["pairs"]
    assert len(few) == 12 and all(i != j for i, j in few)


def test_aelab_eval_scores_interpolations_of_a_lines_model_and_refuses_other_data(tmp_path, capsys):
    import json

    from aelab.cli import main

    images = lines_images(np.random.default_rng(0).uniform(0, 2 * math.pi, 200)).astype(np.float32)
    data = tmp_path / "lines.npy"
    np.save(data, images)
    run = tmp_path / "ae"
    assert main(["train", "ae", "--data", str(data), "--set", "arch=pool", "--set", "channels=[4,4,4,4]",
                 "--set", "latent_dim=4", "--set", "input_shape=[1,32,32]", "--set", "activation=lrelu",
                 "--epochs", "1", "--out", str(run), "--no-progress", "--no-report"]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--interpolation", "lines", "--json", "--no-progress"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 < metrics["lines_mean_distance"] <= 2 and "lines_smoothness" in metrics
    assert (run / "interpolation_lines.png").stat().st_size > 0
    # a run on other images: one line naming the problem
    digits_run = tmp_path / "digits"
    assert main(["train", "ae", "--preset", "tiny", "--epochs", "1", "--out", str(digits_run), "--no-progress",
                 "--no-report"]) == 0
    capsys.readouterr()
    assert main(["eval", str(digits_run), "--interpolation", "lines", "--no-progress"]) != 0
    err = capsys.readouterr().err.strip()
    assert "--interpolation lines needs" in err and len(err.splitlines()) == 1
