"""aelab.sklearn: scikit-learn's own estimator checks, and the estimators inside a Pipeline and a GridSearchCV on the
digits data."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils.estimator_checks import check_estimator

from aelab.sklearn import AutoencoderTransformer, DenoisingTransformer, SemanticHasher, VAETransformer

SMALL = {"epochs": 2, "hidden": (8,), "device": "cpu"}
# The checks that do not apply, each with the reason (check_estimator fails if one of them passes, or another fails).
# check_array_api_input is skipped by scikit-learn itself unless SCIPY_ARRAY_API is set: the models are torch's.
VAE_EXPECTED = {
    "check_methods_sample_order_invariance": "score_samples is a Monte Carlo bound: a row's draws depend on its place "
                                             "in the batch",
    "check_methods_subset_invariance": "score_samples is a Monte Carlo bound: a row's draws depend on its place in "
                                       "the batch",
}


@pytest.mark.parametrize("estimator, expected", [
    (AutoencoderTransformer(latent_dim=2, **SMALL), {}),
    (VAETransformer(latent_dim=2, **SMALL), VAE_EXPECTED),
    (DenoisingTransformer(latent_dim=2, **SMALL), {}),
    (SemanticHasher(bits=8, **SMALL), {}),  # 8 bits from as few as 1 feature: several codes of its directions
], ids=lambda v: type(v).__name__ if not isinstance(v, dict) else "")
def test_scikit_learn_estimator_checks(estimator, expected):
    check_estimator(estimator, expected_failed_checks=expected)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:1200], y[:1200], X[1200:], y[1200:]


def test_autoencoder_in_a_pipeline_chosen_by_grid_search(digits):
    X, y, X_test, y_test = digits
    pipe = Pipeline([("ae", AutoencoderTransformer(epochs=30, device="cpu")),
                     ("clf", LogisticRegression(max_iter=2000))])
    search = GridSearchCV(pipe, {"ae__latent_dim": [1, 12]}, cv=2).fit(X, y)
    assert search.best_params_ == {"ae__latent_dim": 12}
    assert search.score(X_test, y_test) > 0.65
    ae = search.best_estimator_.named_steps["ae"]
    assert ae.transform(X_test).shape == (len(X_test), 12) and ae.n_features_in_ == 64
    back = ae.inverse_transform(ae.transform(X_test))
    assert back.shape == X_test.shape and back.min() >= -1e-6 and back.max() <= 16 + 1e-6  # the data's units
    assert ae.score(X_test) > -np.var(X_test, axis=0).sum() / 64  # better than each pixel's mean


def test_vae_scores_a_likelihood_bound_and_samples(digits):
    X, _, X_test, _ = digits
    search = GridSearchCV(VAETransformer(epochs=100, device="cpu"), {"latent_dim": [1, 8]}, cv=2).fit(X)
    assert search.best_params_ == {"latent_dim": 8}  # its own score: the ELBO per row, higher is better
    vae = search.best_estimator_
    elbo = vae.score(X_test)
    tighter = clone(vae).set_params(importance_samples=50)
    tighter.model_, tighter.data_min_, tighter.data_range_, tighter.n_features_in_ = (
        vae.model_, vae.data_min_, vae.data_range_, vae.n_features_in_)
    assert elbo < tighter.score(X_test) < 0  # the IWAE bound is tighter than the ELBO
    draws = vae.sample(5, random_state=0)
    assert draws.shape == (5, 64) and np.array_equal(draws, vae.sample(5, random_state=0))


def test_denoiser_restores_corrupted_rows(digits):
    X, _, X_test, _ = digits
    pipe = Pipeline([("scale", MinMaxScaler(clip=True)),
                     ("dae", DenoisingTransformer(corruption="masking:0.3", epochs=30, scale=None, device="cpu"))])
    pipe.fit(X)
    dae = pipe.named_steps["dae"]
    clean = pipe.named_steps["scale"].transform(X_test)
    noisy = dae.corrupt(clean, seed=1)
    assert np.mean((dae.transform(noisy) - clean) ** 2) < 0.7 * np.mean((noisy - clean) ** 2)
    assert pipe.score(X_test) > -np.mean((noisy - clean) ** 2)  # its score: restoring X corrupted once
    with pytest.raises(ValueError, match=r"needs inputs in \[0, 1\]"):
        clone(dae).fit(X)  # scale=None and the raw 0..16 intensities


def test_hasher_chosen_by_grid_search_and_its_neighbours_are_hamming_nearest(digits):
    X, y, X_test, y_test = digits
    pipe = Pipeline([("scale", MinMaxScaler(clip=True)),
                     ("hash", SemanticHasher(input_kind="binary", hidden=(128,), epochs=10, device="cpu"))])
    search = GridSearchCV(pipe, {"hash__bits": [2, 16]}, cv=2).fit(X, y)  # scored by precision at n_neighbors
    assert search.best_params_ == {"hash__bits": 16} and search.best_score_ > 0.6  # chance: 0.1
    assert search.score(X_test, y_test) > 0.6
    scale, hasher = search.best_estimator_.named_steps.values()
    codes = hasher.transform(scale.transform(X_test))
    assert codes.dtype == np.uint8 and codes.shape == (len(X_test), 2)
    D, I = hasher.kneighbors(scale.transform(X_test[:20]), n_neighbors=7)
    bits = np.unpackbits(codes[:20], axis=1, bitorder="little")
    train_bits = np.unpackbits(hasher.codes_, axis=1, bitorder="little")
    brute = (bits[:, None, :] != train_bits[None, :, :]).sum(2)
    want = np.argsort(brute, axis=1, kind="stable")[:, :7]  # ties to the earlier row
    assert np.array_equal(I, want) and np.array_equal(D, np.take_along_axis(brute, want, 1))
    D_own, I_own = hasher.kneighbors(n_neighbors=3)  # the training rows' own neighbours leave themselves out
    assert I_own.shape == (len(hasher.codes_), 3) and not (I_own == np.arange(len(I_own))[:, None]).any()


def test_clone_pickle_and_a_kept_run_folder(tmp_path, digits):
    X = digits[0][:300]
    ae = AutoencoderTransformer(latent_dim=3, epochs=2, device="cpu", run_dir=str(tmp_path / "run"))
    assert clone(ae).get_params() == ae.get_params()
    ae.fit(X)
    assert (tmp_path / "run" / "model.safetensors").is_file()  # the run is kept where asked
    again = pickle.loads(pickle.dumps(ae))  # the model travels as safetensors bytes and JSON
    assert np.array_equal(again.transform(X), ae.transform(X))
    with pytest.raises(ValueError, match="run"):
        clone(ae).fit(X)  # a kept run is never overwritten by another fit
    with pytest.raises(ValueError, match="4 features"):
        ae.transform(X[:, :4])
