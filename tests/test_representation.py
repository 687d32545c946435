"""Representation quality of codes (ACAI, Berthelot et al. 2019, Tables 2 and 3): linear probe and k-means accuracy."""

import json

import numpy as np
import pytest
import torch

from aelab.recipes import presets
from aelab.cli import main
from aelab.eval.representation import cluster_accuracy, codes_of, linear_probe, matched_accuracy
from aelab.eval.suite import EvalOptions, evaluate_suite, metric_names
from aelab.models.base import build_model, model_class
from aelab.models.gmm import GaussianMixture


def _blobs(n: int, k: int, d: int, spread: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n codes around k random centres `spread` apart (unit noise), and their centre ids."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, k, n)
    centres = rng.normal(size=(k, d)) * spread
    return (centres[ids] + rng.normal(size=(n, d))).astype(np.float32), ids


def test_the_probe_separates_linearly_separable_codes():
    z, y = _blobs(3000, 10, 20, 10.0, seed=0)
    got = linear_probe(z[:2000], y[:2000], torch.from_numpy(z[2000:]), torch.from_numpy(y[2000:]))
    assert got["accuracy"] > 0.99 and got["n_train"] == 2000


def test_the_probe_is_at_chance_on_codes_independent_of_the_labels():
    rng = np.random.default_rng(1)
    z, y = rng.normal(size=(4000, 20)), rng.integers(0, 10, 4000)
    got = linear_probe(z[:2000], y[:2000], z[2000:], y[2000:])
    assert 0.05 < got["accuracy"] < 0.15


def test_clusters_are_matched_to_classes_one_to_one():
    z, ids = _blobs(1000, 5, 6, 20.0, seed=2)
    perm = np.array([3, 4, 0, 1, 2])  # no class keeps its cluster's id
    labels = perm[ids]
    assert (ids == labels).mean() == 0  # unmatched, the ids would score nothing
    assert matched_accuracy(ids, labels) == 1.0
    got = cluster_accuracy(z, labels, n_init=10)
    assert got["accuracy"] == 1.0 and got["nmi"] == pytest.approx(1.0) and got["k"] == 5


def test_random_codes_cluster_at_about_one_over_k():
    rng = np.random.default_rng(3)
    z, y = rng.normal(size=(2000, 16)), rng.integers(0, 4, 2000)
    got = cluster_accuracy(torch.from_numpy(z), torch.from_numpy(y), n_init=10)
    assert 0.2 < got["accuracy"] < 0.32 and got["nmi"] < 0.02


def test_codes_of_flattens_a_vqvae_grid():
    torch.manual_seed(0)
    model = build_model("vqvae", presets("vqvae")["tiny"]).eval()
    x = model.example_input(5, generator=torch.Generator().manual_seed(0))
    codes = codes_of(model, x, batch_size=2)
    d, (h, w) = model.config.latent_dim, model.config.grid
    assert codes.shape == (5, d * h * w)
    with torch.no_grad():
        assert torch.equal(codes, model.encode(x).flatten(1))


def test_the_suite_reports_representation_when_labels_are_given(tmp_path, digits, capsys):
    train, test = digits
    run = tmp_path / "ae"
    assert main(["train", "ae", "--preset", "digits", "--epochs", "2", "--out", str(run), "--no-progress",
                 "--no-report"]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--json", "--no-progress"]) == 0  # digits are labelled: the CLI passes them
    got = json.loads(capsys.readouterr().out)
    assert got["probe_accuracy"] > 0.3 and got["cluster_accuracy"] > 0.2 and got["probe_train"] == len(train)
    from aelab.train.run import load

    model = load(run)
    assert "representation" not in metric_names(model, test.x)
    assert "probe_accuracy" not in evaluate_suite(model, test.x)[0]
    labelled = EvalOptions(labels=test.y, database=(train.x, train.y))
    assert "representation" in metric_names(model, test.x, labelled)
    gmm = GaussianMixture(GaussianMixture.Config(input_shape=(1, 8, 8)))
    assert "representation" not in metric_names(gmm, test.x, labelled)  # a density has no encode
