"""What every aelab estimator shares: fit through `aelab.fit`, the checks scikit-learn's conventions ask for, inputs
scaled into the model's range, and a state that pickles as safetensors bytes and JSON (never a torch object)."""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
import weakref
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ..errors import AelabError

FLOATS = [np.float64, np.float32]
_DERIVED: "weakref.WeakKeyDictionary[Any, dict[str, Any]]" = weakref.WeakKeyDictionary()
SCALES = ("minmax", None)


def model_state(model: Any) -> dict[str, Any]:
    """A trained model as plain data: its registered name, its config as JSON and its weights as safetensors bytes."""
    from ..config import to_dict
    from ..train.checkpoint import tensors_to_bytes

    return {"name": model.name, "config": json.dumps(to_dict(model.config)),
            "weights": tensors_to_bytes(model.state_dict())}


def model_from_state(state: dict[str, Any]) -> Any:
    """The model `model_state` wrote, rebuilt from its config and loaded from its bytes (no pickle inside)."""
    from safetensors.torch import load as st_load

    from ..models import build_model
    from ..train.checkpoint import load_weights

    model = build_model(state["name"], json.loads(state["config"]), saved=True)
    load_weights(model, st_load(state["weights"]), "the pickled estimator")
    return model.eval()


class AelabEstimator(TransformerMixin, BaseEstimator):
    """Trains `model_family` on X (n_samples, n_features) with `aelab.fit`; subclasses say what the model config is
    and what transform gives. Parameters shared by all: epochs, batch_size, lr, random_state (the run's seed),
    config (more model config keys), device, run_dir (None: a temporary folder, removed after fit; a path: the run
    is kept there, and an existing run is never overwritten) and verbose (aelab's progress and notes)."""

    model_family: ClassVar[str]
    needs_unit_range: ClassVar[bool] = True  # the model reads inputs in [0, 1] (a logistic output, Bernoulli terms)

    # -- what subclasses define -----------------------------------------------------------------------------

    def _model_config(self, n_features: int) -> dict[str, Any]:
        raise NotImplementedError

    def _train_config(self) -> dict[str, Any]:
        return {}

    # -- fitting ---------------------------------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None) -> "AelabEstimator":
        """Train the model on X's rows (y is not used by the training)."""
        X = validate_data(self, X, dtype=FLOATS, ensure_min_samples=2)
        self._fit_scaling(X)
        seed = self.random_state if isinstance(self.random_state, (int, np.integer)) else \
            int(check_random_state(self.random_state).randint(2**31 - 1))
        if not 0 <= int(seed) < 2**32:
            raise ValueError(f"random_state must be an int in [0, 2**32), None or a RandomState, got {seed}")
        config = {**self._model_config(X.shape[1]), **dict(self.config or {})}
        train = {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr, "seed": int(seed),
                 **self._train_config()}
        x = self._to_model(X).float()  # trained in float32, as every aelab run
        import aelab

        quiet = contextlib.nullcontext() if self.verbose else contextlib.redirect_stdout(io.StringIO())
        with self._run_folder() as out, quiet:
            try:
                run = aelab.fit(self.model_family, x, out=out, preset="none", config=config, train=train, test=None,
                                progress=bool(self.verbose), device=self.device)
            except AelabError as e:  # scikit-learn's callers catch ValueError for a bad parameter or input
                raise ValueError(str(e)) from None
        self.model_ = run.model.eval()
        self._fitted(X, y)
        return self

    def _fitted(self, X: np.ndarray, y: Any) -> None:
        """What a subclass keeps of its training data once the model is trained (X validated)."""

    @contextlib.contextmanager
    def _run_folder(self):
        if self.run_dir is not None:
            yield Path(self.run_dir)
            return
        with tempfile.TemporaryDirectory(prefix="aelab-sklearn-") as tmp:
            yield Path(tmp) / "run"

    # -- inputs ----------------------------------------------------------------------------------------------

    def _fit_scaling(self, X: np.ndarray) -> None:
        """Per-feature minimum and range of the training data when scale="minmax" (a constant feature: range 1)."""
        if self.scale not in SCALES:
            raise ValueError(f"scale must be 'minmax' or None, got {self.scale!r}")
        if self.scale == "minmax":
            self.data_min_ = X.min(axis=0)
            span = X.max(axis=0) - self.data_min_
            self.data_range_ = np.where(span > 0, span, 1.0)
        else:
            self._scaled(X)  # the range check of unscaled inputs

    def _check(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        return validate_data(self, X, dtype=FLOATS, reset=False)

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        """X in the model's range: scaled by the training data's range (clipped to [0, 1]) when scale="minmax"."""
        if self.scale != "minmax":
            if self.needs_unit_range and len(X) and (X.min() < 0 or X.max() > 1):
                raise ValueError(f"{type(self).__name__} with scale=None needs inputs in [0, 1], got values in "
                                 f"[{X.min():g}, {X.max():g}]; scale them first (MinMaxScaler) or use "
                                 "scale='minmax'")
            return X
        return np.clip((X - self.data_min_) / self.data_range_, 0.0, 1.0)

    def _unscaled(self, V: np.ndarray) -> np.ndarray:
        return V * self.data_range_ + self.data_min_ if self.scale == "minmax" else V

    def _shape(self, n_features: int) -> tuple[int, ...]:
        """The model's input shape: `input_shape` when given, else one row of n_features (an image of 1 x n)."""
        if self.input_shape is None:
            return (1, 1, n_features)
        shape = tuple(int(d) for d in self.input_shape)
        if math.prod(shape) != n_features:
            raise ValueError(f"input_shape {shape} holds {math.prod(shape)} values, but X has {n_features} features")
        return shape

    def _to_model(self, X: np.ndarray) -> Any:
        """X as the model's input tensor, in X's precision (float64 stays float64)."""
        import torch

        dtype = torch.float64 if X.dtype == np.float64 else torch.float32
        values = np.ascontiguousarray(self._scaled(X))
        if not values.flags.writeable:  # a read-only memory map: torch wants memory it may write
            values = values.copy()
        return torch.as_tensor(values, dtype=dtype).reshape(len(X), *self._shape(X.shape[1]))

    def _derived(self, name: str, make: Any) -> Any:
        """What is made from the fitted model once and kept beside it (outside the estimator's __dict__, which
        transform must not change; gone with the model)."""
        kept = _DERIVED.setdefault(self.model_, {})
        if name not in kept:
            kept[name] = make()
        return kept[name]

    def _model_for(self, dtype: Any) -> Any:
        """The model in X's precision: float32 sums of a row can differ in the last bits with its place in a batch,
        which scikit-learn's invariance checks (and users comparing rows) see; float64 X gets a float64 copy."""
        if dtype != np.float64:
            return self.model_
        import copy

        return self._derived("float64", lambda: copy.deepcopy(self.model_).double().eval())

    def _map(self, X: np.ndarray, fn: Any) -> np.ndarray:
        """fn(model, x) over the model's view of X, in batches without gradients, the model in X's precision; an
        array of X's dtype, one row each."""
        from ..batching import map_batches

        model = self._model_for(X.dtype)
        out = map_batches(model, self._to_model(X), lambda x: fn(model, x)).reshape(len(X), -1)
        return out.numpy().astype(X.dtype, copy=False)

    # -- scikit-learn's protocol -----------------------------------------------------------------------------

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.non_deterministic = self.device not in ("cpu", "auto")
        return tags

    def __getstate__(self) -> dict[str, Any]:
        """The estimator's state with the model as safetensors bytes and JSON."""
        state = dict(super().__getstate__())
        if "model_" in state:
            state["model_"] = model_state(state["model_"])
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state.get("model_"), dict):
            state = {**state, "model_": model_from_state(state["model_"])}
        super().__setstate__(state)
