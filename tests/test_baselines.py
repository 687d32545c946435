"""The linear baselines of Hinton & Salakhutdinov 2006 (PCA, logistic PCA) and the per-image metric."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError

from aelab.errors import ConfigError, DataError
from aelab.eval.baselines import LogisticPCA, PCABaseline, squared_error_per_image


@pytest.fixture(scope="module")
def digits_split() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits in [0, 1] as (N, 1, 8, 8), split 1400 / 397."""
    x = (load_digits().data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    idx = np.random.RandomState(0).permutation(len(x))
    return x[idx[:1400]], x[idx[1400:]]


@pytest.fixture(scope="module")
def fitted(digits_split) -> LogisticPCA:
    train, _ = digits_split
    return LogisticPCA(5, n_iter=100, log_every=5).fit(train)


# ------------------------------------------------------------------ the metric


def test_squared_error_per_image_sums_pixels_and_averages_images():
    x = np.zeros((2, 1, 2, 2), np.float32)
    x_hat = np.zeros_like(x)
    x_hat[0] = 0.5  # 4 pixels x 0.25 = 1.0 for image 0, 0 for image 1
    assert squared_error_per_image(x, x_hat) == pytest.approx(0.5)
    assert squared_error_per_image(torch.from_numpy(x), torch.from_numpy(x_hat)) == pytest.approx(0.5)
    # Flat and image-shaped inputs are the same thing.
    assert squared_error_per_image(x.reshape(2, -1), x_hat) == pytest.approx(0.5)


def test_squared_error_per_image_refuses_mismatched_shapes():
    with pytest.raises(DataError):
        squared_error_per_image(np.zeros((3, 4)), np.zeros((3, 5)))
    with pytest.raises(DataError):
        squared_error_per_image(np.zeros((3, 4)), np.zeros((2, 4)))


# ------------------------------------------------------------------ PCA


@pytest.mark.parametrize("as_torch", [False, True])
def test_pca_error_is_the_sum_of_discarded_eigenvalues(as_torch):
    rng = np.random.RandomState(1)
    n, d, k = 500, 12, 4
    x = (rng.randn(n, d) @ rng.randn(d, d) + 3.0).astype(np.float64)
    xc = x - x.mean(0)
    eig = np.sort(np.linalg.eigvalsh(xc.T @ xc / n))[::-1]  # biased covariance: error is a mean over images
    data = torch.from_numpy(x) if as_torch else x
    model = PCABaseline(k).fit(data)
    rec = model.reconstruct(data)
    assert isinstance(rec, torch.Tensor) == as_torch
    assert squared_error_per_image(data, rec) == pytest.approx(eig[k:].sum(), rel=1e-8)
    # Keeping every component loses nothing.
    full = PCABaseline(d).fit(data)
    assert squared_error_per_image(data, full.reconstruct(data)) == pytest.approx(0.0, abs=1e-18 + 1e-10 * eig.sum())


def test_pca_shapes_and_kinds(digits_split):
    train, test = digits_split
    model = PCABaseline(7).fit(train)
    codes = model.transform(test)
    assert isinstance(codes, np.ndarray) and codes.shape == (len(test), 7)
    assert model.inverse_transform(codes).shape == (len(test), 64)
    rec = model.reconstruct(torch.from_numpy(test))
    assert isinstance(rec, torch.Tensor) and rec.shape == test.shape and rec.dtype == torch.float32
    with pytest.raises(DataError):
        model.transform(np.zeros((3, 65), np.float32))


def test_pca_refuses_bad_use():
    with pytest.raises(NotFittedError):
        PCABaseline(3).transform(np.zeros((4, 5)))
    with pytest.raises(ConfigError):
        PCABaseline(0).fit(np.zeros((4, 5)))
    with pytest.raises(ConfigError):
        PCABaseline(6).fit(np.random.rand(10, 5))


# ------------------------------------------------------------------ logistic PCA


def test_logistic_pca_training_objective_falls(fitted):
    curve = np.asarray(fitted.loss_curve_)
    assert fitted.loss_iters_[0] == 0 and fitted.loss_iters_[-1] == 100
    assert curve[-1] < curve[0] - 1.0  # nats per image, from the PCA start
    assert np.all(np.diff(curve) < 1e-3)  # and it falls all the way (checked every 5 steps)


def test_logistic_pca_beats_pca_on_held_out_digits(digits_split, fitted):
    """At 5 components logistic PCA reconstructs unseen digits better than PCA (about 1.92 vs 2.18)."""
    train, test = digits_split
    pca_err = squared_error_per_image(test, PCABaseline(5).fit(train).reconstruct(test))
    lpca_err = squared_error_per_image(test, fitted.reconstruct(test))
    assert pca_err == pytest.approx(2.18, abs=0.02)
    assert lpca_err < pca_err - 0.15


def test_logistic_pca_transform_converges(digits_split, fitted):
    """More Newton iterations (and no stopping tolerance) do not change the codes' error."""
    _, test = digits_split
    err = squared_error_per_image(test, fitted.reconstruct(test))
    assert fitted.transform_n_iter_ < fitted.transform_iter  # stopped on the Newton decrement
    longer = copy.deepcopy(fitted).set_params(transform_iter=60, tol=0.0)
    assert squared_error_per_image(test, longer.reconstruct(test)) == pytest.approx(err, abs=1e-4)
    # The codes are a stationary point of the per-row objective.
    u = torch.from_numpy(fitted.transform(test.reshape(len(test), -1)))
    x = torch.from_numpy(test.reshape(len(test), -1))
    p = torch.sigmoid(u @ fitted.components_ + fitted.bias_)
    grad = (p - x) @ fitted.components_.T + fitted.alpha * u
    assert float(grad.abs().max()) < 1e-2


def test_logistic_pca_codes_improve_on_the_training_codes(digits_split, fitted):
    """Newton codes for the training data have no larger objective than the codes Adam left."""
    train, _ = digits_split
    x = torch.from_numpy(train.reshape(len(train), -1))
    at_adam = float(fitted._objective_rows(x, fitted.train_codes_, fitted.components_.T, fitted.bias_).mean())
    assert fitted.objective(train) <= at_adam + 1e-4


def test_logistic_pca_beats_the_true_parameters_it_was_sampled_from():
    """Maximum likelihood: on binary data from a rank-2 logistic model the fit beats the true parameters."""
    g = torch.Generator().manual_seed(0)
    n, d, k = 400, 20, 2
    theta = torch.randn(n, k, generator=g) @ (2 * torch.randn(k, d, generator=g)) + torch.randn(d, generator=g)
    x = torch.bernoulli(torch.sigmoid(theta), generator=g)
    truth = float((torch.nn.functional.softplus(theta) - x * theta).sum(1).mean())
    model = LogisticPCA(k, n_iter=300, alpha=0.0).fit(x)
    assert model.objective(x) < truth


def test_logistic_pca_is_deterministic(digits_split):
    train, test = digits_split
    small = train[:300]
    for init in ("pca", "random"):
        a = LogisticPCA(3, n_iter=20, init=init, random_state=7).fit(small)
        b = LogisticPCA(3, n_iter=20, init=init, random_state=7).fit(small)
        assert torch.equal(a.components_, b.components_)
        np.testing.assert_array_equal(a.transform(test), b.transform(test))
        np.testing.assert_array_equal(a.transform(test), a.transform(test))
    c = LogisticPCA(3, n_iter=20, init="random", random_state=8).fit(small)
    assert not torch.equal(c.components_, a.components_)


def test_logistic_pca_minibatches_also_fit(digits_split):
    train, _ = digits_split
    model = LogisticPCA(3, n_iter=10, batch_size=256, log_every=1, random_state=0).fit(train)
    full = LogisticPCA(3, n_iter=40).fit(train)
    assert model.loss_curve_[-1] < model.loss_curve_[0] - 0.5  # 22.84 -> 21.97 nats per image
    assert model.loss_curve_[-1] < full.loss_curve_[-1] + 0.1  # 10 epochs of 6 steps ~ 40 full-batch steps


def test_logistic_pca_shapes_and_kinds(digits_split, fitted):
    _, test = digits_split
    codes = fitted.transform(test)
    assert isinstance(codes, np.ndarray) and codes.shape == (len(test), 5) and codes.dtype == np.float32
    flat = fitted.inverse_transform(codes)
    assert flat.shape == (len(test), 64) and 0.0 <= flat.min() and flat.max() <= 1.0
    rec = fitted.reconstruct(torch.from_numpy(test))
    assert isinstance(rec, torch.Tensor) and rec.shape == test.shape
    t_codes = fitted.transform(torch.from_numpy(test))
    assert isinstance(t_codes, torch.Tensor)
    np.testing.assert_allclose(t_codes.numpy(), codes, rtol=0, atol=0)
    assert fitted.get_params()["n_components"] == 5 and clone(fitted).n_iter == 100


def test_logistic_pca_refuses_bad_use(digits_split):
    train, _ = digits_split
    with pytest.raises(NotFittedError):
        LogisticPCA(3).transform(train)
    with pytest.raises(ConfigError):
        LogisticPCA(0).fit(train)
    with pytest.raises(ConfigError):
        LogisticPCA(3, lr=0.0).fit(train)
    with pytest.raises(ConfigError):
        LogisticPCA(3, batch_size=0).fit(train)
    with pytest.raises(DataError):
        LogisticPCA(3, n_iter=1).fit(train * 2.0)  # not Bernoulli means
    model = LogisticPCA(3, n_iter=1).fit(train[:50])
    with pytest.raises(DataError):
        model.transform(np.zeros((2, 63), np.float32))
    with pytest.raises(DataError):
        model.inverse_transform(np.zeros((2, 4), np.float32))
