"""Linear baselines of Hinton & Salakhutdinov 2006 (Science 313:504), Fig. 2B: PCA and logistic PCA.

Both are scikit-learn-style estimators (fit / transform / inverse_transform / reconstruct) over
flattened data. They take numpy arrays or torch tensors shaped (N, ...) and give back the type they
were given: `transform` gives codes (N, k), `inverse_transform` flat data (N, D), `reconstruct`
data in the shape that was passed in.

Logistic PCA (Collins, Dasgupta & Schapire 2001; Schein, Saul & Ungar 2003) models each pixel as
Bernoulli with natural parameter Theta = U V^T + 1 b^T of rank k. Grey levels in [0, 1] are soft
targets of the same cross-entropy. `fit` learns V, b (and training codes U) by full-batch Adam
from a PCA start; `transform` finds the codes of new data with V, b fixed by per-row Newton
steps with backtracking (the problem is convex in U), as a reconstruction must do for test data.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Literal, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from torch import Tensor

from ..errors import ConfigError, DataError, TrainingDiverged

__all__ = ["PCABaseline", "LogisticPCA", "squared_error_per_image"]

ArrayLike = TypeVar("ArrayLike", np.ndarray, Tensor)


def _as_2d(x: Any, name: str = "x") -> tuple[np.ndarray | Tensor, tuple[int, ...]]:
    """(N, ...) numpy or torch data as (N, D) of the same kind, with the per-example shape."""
    if not isinstance(x, (np.ndarray, Tensor)):
        x = np.asarray(x)
    if x.ndim < 2:
        raise DataError(f"{name}: expected (N, ...) data with N examples, got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise DataError(f"{name}: no examples")
    return x.reshape(x.shape[0], -1), tuple(x.shape[1:])


def _to_numpy(x: np.ndarray | Tensor) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)


def _like(y: np.ndarray | Tensor, ref: Any) -> np.ndarray | Tensor:
    """`y` as the kind (numpy or torch, and torch device) of `ref`."""
    if isinstance(ref, Tensor):
        y = torch.as_tensor(y) if isinstance(y, np.ndarray) else y
        return y.to(ref.device)
    return _to_numpy(y)


def squared_error_per_image(x: Any, x_hat: Any) -> float:
    """Squared error summed over pixels, mean over images (Hinton & Salakhutdinov 2006, Fig. 2B)."""
    a, _ = _as_2d(x, "x")
    b, _ = _as_2d(x_hat, "x_hat")
    if tuple(a.shape) != tuple(b.shape):
        raise DataError(f"x and x_hat differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    a64 = torch.as_tensor(_to_numpy(a), dtype=torch.float64)
    b64 = torch.as_tensor(_to_numpy(b), dtype=torch.float64)
    return float(((a64 - b64) ** 2).sum(1).mean())


def _check_k(n_components: int, n_samples: int, n_features: int) -> None:
    if not isinstance(n_components, (int, np.integer)) or isinstance(n_components, bool) or n_components < 1:
        raise ConfigError(f"n_components must be a positive integer, got {n_components!r}")
    if n_components > min(n_samples, n_features):
        raise ConfigError(
            f"n_components={n_components} exceeds min(n_samples, n_features)={min(n_samples, n_features)}"
        )


class PCABaseline(BaseEstimator):
    """PCA on flattened data, x ~ mean + (x - mean) W^T W (Pearson 1901; Hinton 2006 Fig. 2B, 13.87)."""

    def __init__(self, n_components: int = 30, svd_solver: str = "auto", random_state: int | None = 0) -> None:
        self.n_components = n_components
        self.svd_solver = svd_solver
        self.random_state = random_state

    def _check_fitted(self) -> None:
        if not hasattr(self, "pca_"):
            raise NotFittedError("PCABaseline is not fitted yet: call fit(x) first")

    def fit(self, x: Any, y: Any = None) -> PCABaseline:
        """Fit sklearn PCA to the flattened (N, D) data."""
        x2, shape = _as_2d(x)
        _check_k(self.n_components, x2.shape[0], x2.shape[1])
        self.pca_ = PCA(self.n_components, svd_solver=self.svd_solver, random_state=self.random_state)
        self.pca_.fit(_to_numpy(x2))
        self.input_shape_ = shape
        self.n_features_in_ = int(x2.shape[1])
        self.components_ = self.pca_.components_
        self.mean_ = self.pca_.mean_
        self.explained_variance_ = self.pca_.explained_variance_
        return self

    def transform(self, x: ArrayLike) -> ArrayLike:
        """Codes (N, k): projections of the centred data on the k leading eigenvectors."""
        self._check_fitted()
        x2, _ = _as_2d(x)
        self._check_features(x2)
        return _like(self.pca_.transform(_to_numpy(x2)), x)  # type: ignore[return-value]

    def fit_transform(self, x: ArrayLike, y: Any = None) -> ArrayLike:
        """fit(x) then transform(x)."""
        return self.fit(x).transform(x)

    def inverse_transform(self, u: ArrayLike) -> ArrayLike:
        """Flat reconstructions (N, D) = mean + u W."""
        self._check_fitted()
        return _like(self.pca_.inverse_transform(_to_numpy(u)), u)  # type: ignore[return-value]

    def reconstruct(self, x: ArrayLike) -> ArrayLike:
        """inverse_transform(transform(x)), in the shape and kind of `x`."""
        x2, shape = _as_2d(x)
        flat = self.inverse_transform(self.transform(x2))
        out = flat.reshape((flat.shape[0], *shape))
        if isinstance(x, Tensor):
            out = out.to(x.dtype)
        else:
            out = out.astype(np.result_type(np.asarray(x).dtype, np.float32), copy=False)
        return out  # type: ignore[return-value]

    def _check_features(self, x2: np.ndarray | Tensor) -> None:
        if x2.shape[1] != self.n_features_in_:
            raise DataError(f"expected {self.n_features_in_} features per example, got {x2.shape[1]}")


class LogisticPCA(BaseEstimator):
    """Logistic PCA: x_nd ~ Bernoulli(sigmoid(u_n . v_d + b_d)) (Schein et al. 2003; Hinton 2006 Fig. 2B, 8.01)."""

    def __init__(
        self,
        n_components: int = 30,
        n_iter: int = 150,
        lr: float = 0.1,
        batch_size: int | None = None,
        transform_iter: int = 30,
        tol: float = 1e-5,
        alpha: float = 1e-4,
        init: Literal["pca", "random"] = "pca",
        chunk_size: int = 8192,
        log_every: int = 10,
        verbose: bool = False,
        callback: Callable[[int, LogisticPCA], None] | None = None,
        random_state: int | None = 0,
        device: str | torch.device = "cpu",
    ) -> None:
        self.n_components = n_components
        self.n_iter = n_iter
        self.lr = lr
        self.batch_size = batch_size
        self.transform_iter = transform_iter
        self.tol = tol
        self.alpha = alpha
        self.init = init
        self.chunk_size = chunk_size
        self.log_every = log_every
        self.verbose = verbose
        self.callback = callback
        self.random_state = random_state
        self.device = device

    # ---------------------------------------------------------------- helpers

    def _check_params(self) -> None:
        for name in ("n_iter", "transform_iter", "chunk_size", "log_every"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < (0 if name == "n_iter" else 1):
                kind = "non-negative" if name == "n_iter" else "positive"
                raise ConfigError(f"{name} must be a {kind} integer, got {v!r}")
        if self.batch_size is not None and (not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1):
            raise ConfigError(f"batch_size must be None (full batch) or a positive integer, got {self.batch_size!r}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr!r}")
        if not self.alpha >= 0:
            raise ConfigError(f"alpha must be >= 0, got {self.alpha!r}")
        if not self.tol >= 0:
            raise ConfigError(f"tol must be >= 0, got {self.tol!r}")
        if self.init not in ("pca", "random"):
            raise ConfigError(f"init must be 'pca' or 'random', got {self.init!r}")

    def _check_fitted(self) -> None:
        if not hasattr(self, "components_"):
            raise NotFittedError("LogisticPCA is not fitted yet: call fit(x) first")

    def _tensor(self, x2: np.ndarray | Tensor) -> Tensor:
        t = torch.as_tensor(_to_numpy(x2) if isinstance(x2, np.ndarray) else x2)
        t = t.to(device=self.device, dtype=torch.float32)
        if t.numel() and (float(t.min()) < 0.0 or float(t.max()) > 1.0):
            raise DataError("logistic PCA needs data in [0, 1] (Bernoulli means)")
        return t

    def _init_params(self, x: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        """Start (U, V, b): b = logit(mean); U, V = PCA scores and axes scaled by 2 (so UV^T = 4 x PCA)."""
        n, d = x.shape
        k = self.n_components
        mean = x.mean(0)
        b = torch.logit(mean.clamp(1e-3, 1 - 1e-3))
        if self.init == "pca":
            xc = (x - mean).double()
            cov = xc.T @ xc / max(n - 1, 1)
            evals, evecs = torch.linalg.eigh(cov)
            axes = evecs[:, torch.argsort(evals, descending=True)[:k]]
            # Fix the sign of each axis (largest |entry| positive) so the start is deterministic.
            sign = torch.sign(axes.gather(0, axes.abs().argmax(0, keepdim=True)))
            axes = (axes * torch.where(sign == 0, 1.0, sign)).float()
            v = 2.0 * axes
            u = 2.0 * ((x - mean) @ axes)
        else:
            v = 0.01 * torch.randn(d, k, generator=gen, dtype=torch.float32).to(x.device)
            u = 0.01 * torch.randn(n, k, generator=gen, dtype=torch.float32).to(x.device)
        return u.contiguous(), v.contiguous(), b

    def _objective_rows(self, x: Tensor, u: Tensor, v: Tensor, b: Tensor) -> Tensor:
        """Per-row objective: Bernoulli cross-entropy summed over pixels + alpha/2 |u|^2."""
        theta = torch.addmm(b, u, v.T)
        return (F.softplus(theta) - x * theta).sum(1) + 0.5 * self.alpha * (u * u).sum(1)

    # ---------------------------------------------------------------- fit

    def fit(self, x: Any, y: Any = None) -> LogisticPCA:
        """Maximise the Bernoulli log-likelihood over U, V, b with Adam (full batch unless batch_size)."""
        self._check_params()
        x2, shape = _as_2d(x)
        _check_k(self.n_components, x2.shape[0], x2.shape[1])
        t0 = time.perf_counter()
        self.input_shape_ = shape
        self.n_features_in_ = int(x2.shape[1])
        with torch.no_grad():
            xt = self._tensor(x2)
            gen = torch.Generator()
            if self.random_state is None:
                gen.seed()  # fresh randomness, as in scikit-learn
            else:
                gen.manual_seed(int(self.random_state))
            u, v, b = self._init_params(xt, gen)
            self._adam(xt, u, v, b, gen)
        self.components_ = v.T.contiguous()  # (k, D)
        self.bias_ = b
        self.train_codes_ = u
        self.fit_time_ = time.perf_counter() - t0
        return self

    def _adam(self, x: Tensor, u: Tensor, v: Tensor, b: Tensor, gen: torch.Generator) -> None:
        """Adam on the mean objective; U's rows get their own step counts when minibatched."""
        n = x.shape[0]
        b1, b2, eps, lr = 0.9, 0.999, 1e-8, float(self.lr)
        state = {id(p): (torch.zeros_like(p), torch.zeros_like(p)) for p in (u, v, b)}
        row_steps = torch.zeros(n, 1, device=x.device)
        step = 0
        self.loss_curve_: list[float] = []
        self.loss_iters_: list[int] = []

        def update(p: Tensor, g: Tensor, rows: Tensor | None = None) -> None:
            m, s = state[id(p)]
            if rows is None:
                m.mul_(b1).add_(g, alpha=1 - b1)
                s.mul_(b2).addcmul_(g, g, value=1 - b2)
                denom = (s / (1 - b2**step)).sqrt_().add_(eps)
                p.addcdiv_(m, denom, value=-lr / (1 - b1**step))
            else:
                row_steps[rows] += 1
                t = row_steps[rows]
                mr = m[rows].mul_(b1).add_(g, alpha=1 - b1)
                sr = s[rows].mul_(b2).addcmul_(g, g, value=1 - b2)
                m[rows], s[rows] = mr, sr
                p[rows] -= lr * (mr / (1 - b1**t)) / ((sr / (1 - b2**t)).sqrt() + eps)

        full = self.batch_size is None or self.batch_size >= n
        bs = n if full else int(self.batch_size)  # type: ignore[arg-type]
        for it in range(self.n_iter + 1):
            log = it % self.log_every == 0 or it == self.n_iter
            if log:
                loss = sum(
                    float(self._objective_rows(x[i : i + self.chunk_size], u[i : i + self.chunk_size], v, b).sum())
                    for i in range(0, n, self.chunk_size)
                ) / n
                self.loss_curve_.append(loss)
                self.loss_iters_.append(it)
                if self.verbose:
                    print(f"[LogisticPCA] iter {it}/{self.n_iter} objective/example {loss:.4f}", flush=True)
                if not np.isfinite(loss):
                    raise TrainingDiverged(f"logistic PCA objective became {loss} at iteration {it}; lower lr")
                if self.callback is not None:  # e.g. to follow test error during fitting
                    self.components_, self.bias_ = v.T.contiguous(), b.clone()
                    self.callback(it, self)
            if it == self.n_iter:
                break
            order = None if full else torch.randperm(n, generator=gen).to(x.device)
            for start in range(0, n, bs):
                rows = None if order is None else order[start : start + bs]
                nb = n if rows is None else len(rows)
                gv = torch.zeros_like(v)
                gb = torch.zeros_like(b)
                gu = torch.empty(nb, u.shape[1], device=x.device)
                for i in range(0, nb, self.chunk_size):
                    sl = slice(i, i + self.chunk_size)
                    if rows is None:
                        xc, uc = x[sl], u[sl]
                    else:
                        xc, uc = x[rows[sl]], u[rows[sl]]
                    g = torch.addmm(b, uc, v.T).sigmoid_().sub_(xc)  # d objective / d theta
                    gu[sl] = g @ v + self.alpha * uc  # per-row gradient (Adam is scale-free)
                    gv.addmm_(g.T, uc)
                    gb.add_(g.sum(0))
                step += 1
                update(u, gu, rows)
                update(v, gv / nb)
                update(b, gb / nb)
        self.n_iter_ = self.n_iter

    # ---------------------------------------------------------------- codes

    def transform(self, x: ArrayLike) -> ArrayLike:
        """Codes (N, k) that maximise the likelihood of x with V, b fixed: per-row damped Newton."""
        self._check_fitted()
        x2, _ = _as_2d(x)
        if x2.shape[1] != self.n_features_in_:
            raise DataError(f"expected {self.n_features_in_} features per example, got {x2.shape[1]}")
        with torch.no_grad():
            xt = self._tensor(x2)
            self.transform_n_iter_ = 0
            u = torch.cat([self._newton(xt[i : i + self.chunk_size]) for i in range(0, xt.shape[0], self.chunk_size)])
        return _like(u, x)  # type: ignore[return-value]

    def _newton(self, x: Tensor) -> Tensor:
        """Newton's method on each row's convex objective, halving steps that do not decrease it."""
        v = self.components_.T  # (D, k)
        b = self.bias_
        n, k = x.shape[0], v.shape[1]
        iu, ju = torch.triu_indices(k, k, device=v.device)
        vv = v[:, iu] * v[:, ju]  # (D, k(k+1)/2): the Hessian's upper triangle is W @ vv
        ridge = torch.eye(k, device=v.device) * max(self.alpha, 1e-6)
        # Start at u = 0 (theta = b). A least-squares linear guess of the codes starts far worse on MNIST.
        u = torch.zeros(n, k, device=v.device)
        obj = self._objective_rows(x, u, v, b)
        active = torch.arange(n, device=v.device)  # rows whose Newton decrement is still above tol
        for it in range(self.transform_iter):
            xa, ua, oa = x[active], u[active], obj[active]
            p = torch.addmm(b, ua, v.T).sigmoid_()
            grad = (p - xa) @ v + self.alpha * ua
            w = p.mul_(1 - p)  # p(1-p), in place
            tri = w @ vv
            h = torch.empty(len(active), k, k, device=v.device)
            h[:, iu, ju] = tri
            h[:, ju, iu] = tri
            step = torch.linalg.solve(h + ridge, grad.unsqueeze(-1)).squeeze(-1)
            self.transform_n_iter_ = max(self.transform_n_iter_, it + 1)
            moving = (grad * step).sum(1) > 2 * self.tol  # half the squared decrement: predicted decrease
            if not bool(moving.any()):
                break
            xa, ua, oa, step, active = xa[moving], ua[moving], oa[moving], step[moving], active[moving]
            scale = torch.ones(len(active), 1, device=v.device)
            new_u = ua - step
            new_obj = self._objective_rows(xa, new_u, v, b)
            for _ in range(20):
                worse = new_obj > oa
                if not bool(worse.any()):
                    break
                scale[worse] *= 0.5
                cand = ua - scale * step
                new_obj = torch.where(worse, self._objective_rows(xa, cand, v, b), new_obj)
                new_u = torch.where(worse[:, None], cand, new_u)
            better = new_obj <= oa
            u[active[better]] = new_u[better]
            obj[active[better]] = new_obj[better]
            active = active[better]  # a row that no halving improves is at its optimum (to float precision)
            if len(active) == 0:
                break
        return u

    def fit_transform(self, x: ArrayLike, y: Any = None) -> ArrayLike:
        """fit(x) then transform(x) (the training codes re-solved to convergence)."""
        return self.fit(x).transform(x)

    def inverse_transform(self, u: ArrayLike) -> ArrayLike:
        """Flat reconstructions (N, D) = sigmoid(u V^T + b)."""
        self._check_fitted()
        ut = torch.as_tensor(_to_numpy(u) if isinstance(u, np.ndarray) else u)
        ut = ut.to(device=self.components_.device, dtype=torch.float32)
        if ut.ndim != 2 or ut.shape[1] != self.components_.shape[0]:
            raise DataError(f"codes must be (N, {self.components_.shape[0]}), got {tuple(ut.shape)}")
        with torch.no_grad():
            out = torch.addmm(self.bias_, ut, self.components_).sigmoid_()
        return _like(out, u)  # type: ignore[return-value]

    def reconstruct(self, x: ArrayLike) -> ArrayLike:
        """inverse_transform(transform(x)), in the shape and kind of `x`."""
        x2, shape = _as_2d(x)
        flat = self.inverse_transform(self.transform(x2))
        return flat.reshape((flat.shape[0], *shape))  # type: ignore[return-value]

    def objective(self, x: Any) -> float:
        """Mean over rows of the converged per-row objective (cross-entropy + alpha/2 |u|^2)."""
        x2, _ = _as_2d(x)
        u = torch.as_tensor(_to_numpy(self.transform(x2)))
        with torch.no_grad():
            xt = self._tensor(x2)
            return float(self._objective_rows(xt, u.to(xt.device), self.components_.T, self.bias_).mean())
