"""The estimators: an autoencoder, a VAE, a denoiser and a semantic hasher, each a thin layer over `aelab.fit`."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.validation import check_array, check_is_fitted

from .base import FLOATS, AelabEstimator


class AutoencoderTransformer(AelabEstimator):
    """A deep autoencoder (Hinton & Salakhutdinov 2006): transform gives the codes, inverse_transform decodes them,
    score is minus the mean squared reconstruction error (in X's units).

    Inputs are scaled into [0, 1] by the training data's per-feature range (scale="minmax"; None: X is in [0, 1]
    already), since the decoder ends in a logistic. `input_shape` (C, H, W) lets a conv architecture
    (config={"arch": "conv"}) see images; by default each row is one line of n_features values."""

    model_family = "ae"

    def __init__(self, latent_dim: int = 8, hidden: tuple[int, ...] = (128,), activation: str = "elu",
                 epochs: int = 50, batch_size: int = 100, lr: float = 1e-3, scale: str | None = "minmax",
                 input_shape: tuple[int, ...] | None = None, config: dict | None = None, random_state: Any = 0,
                 device: str = "auto", run_dir: str | None = None, verbose: bool = False) -> None:
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.activation = activation
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.scale = scale
        self.input_shape = input_shape
        self.config = config
        self.random_state = random_state
        self.device = device
        self.run_dir = run_dir
        self.verbose = verbose

    def _model_config(self, n_features: int) -> dict[str, Any]:
        return {"input_shape": list(self._shape(n_features)), "latent_dim": self.latent_dim,
                "hidden": list(self.hidden), "activation": self.activation}

    def transform(self, X: Any) -> np.ndarray:
        """The codes of X's rows, (n_samples, latent_dim)."""
        return self._map(self._check(X), lambda m, x: m.encode(x))

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Rows of data decoded from codes (n_samples, latent_dim), in the training data's units."""
        check_is_fitted(self, "model_")
        Z = check_array(X, dtype=FLOATS)
        width = self.model_.config.latent_dim
        if Z.shape[1] != width:
            raise ValueError(f"codes must have {width} columns (the latent_dim), got {Z.shape[1]}")
        import torch

        from ..batching import map_batches

        model = self._model_for(Z.dtype)
        z = torch.as_tensor(Z, dtype=torch.float64 if Z.dtype == np.float64 else torch.float32)
        out = map_batches(model, z, model.decode)
        return self._unscaled(out.reshape(len(Z), -1).numpy().astype(Z.dtype, copy=False))

    def reconstruct(self, X: Any) -> np.ndarray:
        """X's rows through the encoder and decoder, in X's units."""
        X = self._check(X)
        return self._unscaled(self._map(X, lambda m, x: m(x)))

    def score(self, X: Any, y: Any = None) -> float:
        """Minus the mean squared reconstruction error per value: higher is better, as scikit-learn's scorers want."""
        X = self._check(X)
        return -float(np.mean((self.reconstruct(X) - X) ** 2))


class VAETransformer(AutoencoderTransformer):
    """A VAE (Kingma & Welling 2014): transform gives the posterior means, inverse_transform the decoder's means,
    `sample(n)` draws new rows, and score is the mean bound on log p(x) per row in nats of the model's [0, 1] input
    (the ELBO with importance_samples=1; the IWAE bound of Burda et al. 2016, Eq. 8, with more)."""

    model_family = "vae"

    def __init__(self, latent_dim: int = 8, hidden: tuple[int, ...] = (128, 128), activation: str = "tanh",
                 likelihood: str = "bernoulli", importance_samples: int = 1, epochs: int = 50, batch_size: int = 100,
                 lr: float = 1e-3, scale: str | None = "minmax", input_shape: tuple[int, ...] | None = None,
                 config: dict | None = None, random_state: Any = 0, device: str = "auto",
                 run_dir: str | None = None, verbose: bool = False) -> None:
        super().__init__(latent_dim=latent_dim, hidden=hidden, activation=activation, epochs=epochs,
                         batch_size=batch_size, lr=lr, scale=scale, input_shape=input_shape, config=config,
                         random_state=random_state, device=device, run_dir=run_dir, verbose=verbose)
        self.likelihood = likelihood
        self.importance_samples = importance_samples

    def _model_config(self, n_features: int) -> dict[str, Any]:
        return {**super()._model_config(n_features), "likelihood": self.likelihood}

    def reconstruct(self, X: Any) -> np.ndarray:
        """X's rows decoded from their posterior means, in X's units."""
        X = self._check(X)
        return self._unscaled(self._map(X, lambda m, x: m.decode(m.encode(x))))

    def score_samples(self, X: Any) -> np.ndarray:
        """The bound on log p(x) of each row (nats, of the model's input), with importance_samples draws."""
        from ..eval.likelihood import iwae_nll

        X = self._check(X)
        if not (isinstance(self.importance_samples, (int, np.integer)) and self.importance_samples >= 1):
            raise ValueError(f"importance_samples must be an int >= 1, got {self.importance_samples!r}")
        return -iwae_nll(self._model_for(X.dtype), self._to_model(X), k=int(self.importance_samples)).numpy()

    def score(self, X: Any, y: Any = None) -> float:
        """The mean bound on log p(x) per row: higher is better."""
        return float(np.mean(self.score_samples(X)))

    def sample(self, n_samples: int = 1, random_state: Any = None) -> np.ndarray:
        """n_samples new rows drawn from the prior through the decoder, in the training data's units."""
        check_is_fitted(self, "model_")
        import torch

        seed = random_state if isinstance(random_state, (int, np.integer)) else \
            int(np.random.default_rng(None if random_state is None else random_state).integers(2**31 - 1))
        generator = torch.Generator(next(self.model_.parameters()).device).manual_seed(int(seed))
        with torch.no_grad():
            out = self.model_.sample(int(n_samples), generator=generator).reshape(int(n_samples), -1).cpu().numpy()
        return self._unscaled(out.astype(np.float64))


class DenoisingTransformer(AutoencoderTransformer):
    """A denoising autoencoder (Vincent et al. 2008): trained to restore rows corrupted on the fly by `corruption`
    (aelab's spec, in the model's [0, 1] units: "gaussian:0.1", "masking:0.3", "saltpepper:0.1", ...); transform
    restores X, score is minus the mean squared error of restoring X corrupted once (seeded) against X."""

    model_family = "ae"

    def __init__(self, corruption: str = "gaussian:0.1", latent_dim: int = 32, hidden: tuple[int, ...] = (128,),
                 activation: str = "elu", epochs: int = 50, batch_size: int = 100, lr: float = 1e-3,
                 scale: str | None = "minmax", input_shape: tuple[int, ...] | None = None, config: dict | None = None,
                 random_state: Any = 0, device: str = "auto", run_dir: str | None = None,
                 verbose: bool = False) -> None:
        super().__init__(latent_dim=latent_dim, hidden=hidden, activation=activation, epochs=epochs,
                         batch_size=batch_size, lr=lr, scale=scale, input_shape=input_shape, config=config,
                         random_state=random_state, device=device, run_dir=run_dir, verbose=verbose)
        self.corruption = corruption

    def _train_config(self) -> dict[str, Any]:
        return {"corrupt": self.corruption}

    def transform(self, X: Any) -> np.ndarray:
        """X's rows restored (the model's clean estimate), in X's units."""
        X = self._check(X)
        return self._unscaled(self._map(X, lambda m, x: m.restore(x)))

    def corrupt(self, X: Any, seed: int = 0) -> np.ndarray:
        """X's rows corrupted by the training corruption, drawn from `seed`, in X's units."""
        from ..corruption import Corruption, SeededDraws

        X = self._check(X)
        x = self._to_model(X)
        out = Corruption(self.corruption)(x, SeededDraws(seed, len(x))).x.reshape(len(X), -1).numpy()
        return self._unscaled(out.astype(X.dtype, copy=False))

    def score(self, X: Any, y: Any = None) -> float:
        """Minus the mean squared error of restoring X corrupted once (seed 0) against X: higher is better."""
        X = self._check(X)
        return -float(np.mean((self.transform(self.corrupt(X)) - X) ** 2))


class SemanticHasher(AelabEstimator):
    """Semantic hashing (Salakhutdinov & Hinton 2009) with aelab's default recipe: transform gives packed binary codes
    (n_samples, ceil(bits / 8)) uint8, bit j in byte j // 8 at bit j % 8 (FAISS's layout); kneighbors finds the
    training rows nearest by Hamming distance; score is the share of each query's n_neighbors nearest training rows
    that share its label (labels given to fit; the training itself does not read them).

    input_kind="counts": rows are word counts (non-negative; the model weighs them by TF-IDF); "binary": values in
    [0, 1] (scale them first, e.g. with MinMaxScaler)."""

    model_family = "semhash"
    needs_unit_range = False

    def __init__(self, bits: int = 32, input_kind: str = "counts", hidden: tuple[int, ...] = (500, 500),
                 n_neighbors: int = 5, epochs: int = 10, batch_size: int = 100, lr: float = 1e-3,
                 config: dict | None = None, random_state: Any = 0, device: str = "auto", run_dir: str | None = None,
                 verbose: bool = False) -> None:
        self.bits = bits
        self.input_kind = input_kind
        self.hidden = hidden
        self.n_neighbors = n_neighbors
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.config = config
        self.random_state = random_state
        self.device = device
        self.run_dir = run_dir
        self.verbose = verbose

    scale = None
    input_shape = None

    def _model_config(self, n_features: int) -> dict[str, Any]:
        return {"input_shape": [n_features], "latent_dim": self.bits, "input_kind": self.input_kind,
                "hidden": list(self.hidden)}

    def _shape(self, n_features: int) -> tuple[int, ...]:
        return (n_features,)

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        if not len(X):
            return X
        if self.input_kind == "binary" and (X.min() < 0 or X.max() > 1):
            raise ValueError(f"SemanticHasher with input_kind='binary' needs values in [0, 1], got "
                             f"[{X.min():g}, {X.max():g}]; scale them first (MinMaxScaler)")
        if self.input_kind == "counts" and X.min() < 0:
            raise ValueError("Negative values in data passed to SemanticHasher: input_kind='counts' needs "
                             "non-negative word counts")
        return X

    def fit(self, X: Any, y: Any = None) -> "SemanticHasher":
        """Train on X's rows; y, when given, is kept for `score` only."""
        return super().fit(X, y)

    def _fitted(self, X: np.ndarray, y: Any) -> None:
        self.labels_ = None if y is None else np.asarray(y)
        self.codes_ = self._packed(X)  # the training rows' codes: what kneighbors searches

    def _packed(self, X: np.ndarray) -> np.ndarray:
        bits = self._map(X, lambda m, x: m.binary_codes(x)) if len(X) else np.zeros((0, self.bits))
        return np.packbits(bits.astype(bool), axis=1, bitorder="little")

    def transform(self, X: Any) -> np.ndarray:
        """The packed codes of X's rows: (n_samples, ceil(bits / 8)) uint8."""
        return self._packed(self._check(X))

    def _index(self) -> Any:
        """aelab's index of the training codes, made on first use."""
        def make() -> Any:
            from ..index import Index

            index = Index(self.model_.config.latent_dim)
            index.add(self.codes_)
            return index

        return self._derived("index", make)

    def kneighbors(self, X: Any = None, n_neighbors: int | None = None,
                   return_distance: bool = True) -> Any:
        """The n_neighbors training rows nearest each row of X by Hamming distance, ties to the earlier row:
        (distances, indices), or indices alone. X=None: each training row's, itself left out."""
        check_is_fitted(self, "model_")
        k = self.n_neighbors if n_neighbors is None else n_neighbors
        n = len(self.codes_)
        own = X is None
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n - own:
            raise ValueError(f"n_neighbors must be an int in [1, {n - own}] (the training rows"
                             f"{' but one' if own else ''}), got {k!r}")
        codes = self.codes_ if own else self.transform(X)
        D, I = self._index().search(codes, int(k) + own)
        if own:  # drop each row itself (or, where ties pushed it out, the farthest)
            rows = np.arange(n)
            hit = I == rows[:, None]
            drop = np.where(hit.any(1), hit.argmax(1), k)
            keep = np.ones(I.shape, bool)
            keep[rows, drop] = False
            D, I = D[keep].reshape(n, k), I[keep].reshape(n, k)
        return (D.astype(np.int64), I) if return_distance else I

    def score(self, X: Any, y: Any) -> float:
        """Precision at n_neighbors: the mean share of each query's nearest training rows whose label is its own."""
        check_is_fitted(self, "model_")
        if self.labels_ is None:
            raise ValueError("score compares labels: give y to fit (the training rows' labels) and to score")
        y = np.asarray(y)
        I = self.kneighbors(X, return_distance=False)
        if len(y) != len(I):
            raise ValueError(f"y has {len(y)} labels for {len(I)} rows of X")
        return float(np.mean(self.labels_[I] == y[:, None]))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []  # codes are bytes
        tags.input_tags.positive_only = self.input_kind == "counts"
        return tags
