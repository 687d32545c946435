"""Plots as PNG bytes: 2-D code maps and loss curves.

Figures are made with `matplotlib.figure.Figure` on an Agg canvas directly, so pyplot's
global state and the user's chosen backend are never touched.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..errors import DataError

__all__ = ["code_map_png", "side_by_side_code_maps_png", "loss_curves_png", "BOOKKEEPING_KEYS", "metric_items"]

BOOKKEEPING_KEYS = frozenset({"step", "epoch", "split", "time"})
_DPI = 100


def _png(fig: Figure, tight: bool = True) -> bytes:
    """Render a figure on an Agg canvas and return the PNG bytes (cropped to its content when `tight`)."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight" if tight else None, metadata={"Software": None})
    return buf.getvalue()


def _to_numpy(a: Any) -> np.ndarray:
    if hasattr(a, "detach"):  # a torch tensor, without importing torch here
        a = a.detach().cpu().numpy()
    return np.asarray(a)


# ---------------------------------------------------------------- code maps


def _prepare_codes(codes: Any) -> np.ndarray:
    arr = _to_numpy(codes)
    if arr.ndim == 0 or arr.shape[0] == 0:
        raise DataError("no codes to plot")
    arr = arr.reshape(arr.shape[0], -1).astype(np.float64)
    if arr.shape[1] == 0:
        raise DataError("codes have zero dimensions")
    return arr


def _prepare_labels(labels: Any, n: int) -> np.ndarray | None:
    if labels is None:
        return None
    lab = _to_numpy(labels)
    if lab.size != n:
        raise DataError(f"{lab.size} labels for {n} codes")
    return lab.reshape(n)


def _is_categorical(values: np.ndarray) -> bool:
    if values.dtype.kind in "iubUSO":
        return True
    if values.dtype.kind == "f":
        finite = values[np.isfinite(values)]
        return bool(np.all(finite == np.round(finite)))
    return False


class _Palette:
    """One label -> colour mapping shared by every panel of a figure."""

    def __init__(self, label_arrays: Sequence[np.ndarray], class_names: Sequence[str] | None) -> None:
        self.class_names = list(class_names) if class_names is not None else None
        self.categorical = all(_is_categorical(a) for a in label_arrays)
        if self.categorical:
            allv = np.concatenate([a.astype(object) if a.dtype.kind == "O" else a for a in label_arrays])
            try:
                self.values = list(np.unique(allv))
            except TypeError:  # mixed types in an object array
                self.values = sorted(set(allv.tolist()), key=str)
            k = len(self.values)
            if k <= 10:
                cmap = colormaps["tab10"]
                self.colors = {v: cmap(i) for i, v in enumerate(self.values)}
            elif k <= 20:
                cmap = colormaps["tab20"]
                self.colors = {v: cmap(i) for i, v in enumerate(self.values)}
            else:
                cmap = colormaps["viridis"]
                self.colors = {v: cmap(i / (k - 1)) for i, v in enumerate(self.values)}
            self.legend = k <= 20
        else:
            allf = np.concatenate([a.astype(np.float64) for a in label_arrays])
            allf = allf[np.isfinite(allf)]
            lo, hi = (float(allf.min()), float(allf.max())) if allf.size else (0.0, 1.0)
            self.norm = Normalize(lo, hi if hi > lo else lo + 1.0)
            self.cmap = colormaps["viridis"]
            self.legend = False

    def name(self, v: Any) -> str:
        if self.class_names is not None and isinstance(v, (int, np.integer, float, np.floating)):
            i = int(v)
            if i == v and 0 <= i < len(self.class_names):
                return str(self.class_names[i])
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            return str(int(v))
        return str(v)

    def point_colors(self, labels: np.ndarray) -> np.ndarray:
        if self.categorical:
            grey = (0.5, 0.5, 0.5, 1.0)
            return np.array([self.colors.get(v, grey) for v in labels.tolist()])
        return self.cmap(self.norm(labels.astype(np.float64)))

    def handles(self) -> list[Line2D]:
        return [
            Line2D([], [], linestyle="", marker="o", markersize=6, color=self.colors[v], label=self.name(v))
            for v in self.values
        ]


def _subsample(n: int, max_points: int) -> np.ndarray:
    """Deterministic subset (in a fixed shuffled order, so no class is always drawn on top)."""
    rng = np.random.default_rng(0)
    if n <= max_points:
        return rng.permutation(n)
    return rng.choice(n, size=max_points, replace=False)


def _project(codes: np.ndarray) -> tuple[np.ndarray, str, str]:
    """(x, y) coordinates and axis labels for codes of width d >= 2 (PCA by SVD when d > 2)."""
    n, d = codes.shape
    if d == 2:
        return codes, "code 1", "code 2"
    centred = codes - codes.mean(axis=0, keepdims=True)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    # fix each component's sign (largest loading positive) so the picture is reproducible
    signs = np.sign(vt[np.arange(vt.shape[0]), np.abs(vt).argmax(axis=1)])
    signs[signs == 0] = 1.0
    vt = vt * signs[:, None]
    proj = centred @ vt[:2].T
    if proj.shape[1] < 2:
        proj = np.concatenate([proj, np.zeros((n, 2 - proj.shape[1]))], axis=1)
    var = s**2
    total = float(var.sum())
    ratio = [float(var[i]) / total if total > 0 and i < var.size else 0.0 for i in range(2)]
    return (
        proj,
        f"PC1 of the {d}-D codes ({ratio[0]:.0%} of variance)",
        f"PC2 of the {d}-D codes ({ratio[1]:.0%} of variance)",
    )


def _draw_code_map(
    ax: Axes,
    codes: np.ndarray,
    labels: np.ndarray | None,
    title: str,
    palette: _Palette | None,
    max_points: int,
    legend: bool,
) -> None:
    n = codes.shape[0]
    idx = _subsample(n, max_points)
    finite = np.isfinite(codes[idx]).all(axis=1)
    dropped = int((~finite).sum())
    idx = idx[finite]
    sub = codes[idx]
    full_title = title
    if n > max_points:
        full_title += f"\n({max_points} of {n} points)"
    if dropped:
        full_title += f"\n({dropped} non-finite codes left out)"
    ax.set_title(full_title, fontsize=11)
    if idx.size == 0:
        ax.text(0.5, 0.5, "no finite codes", ha="center", va="center", transform=ax.transAxes)
        return
    if codes.shape[1] == 1:
        xy = np.stack([idx.astype(np.float64), sub[:, 0]], axis=1)
        xlabel, ylabel = "example index", "code"
    else:
        xy, xlabel, ylabel = _project(sub)
    size = 4.0 if idx.size > 2000 else (8.0 if idx.size > 300 else 16.0)
    kw: dict[str, Any] = {"s": size, "alpha": 0.75, "linewidths": 0, "rasterized": False}
    if labels is None or palette is None:
        ax.scatter(xy[:, 0], xy[:, 1], color="tab:blue", **kw)
    else:
        ax.scatter(xy[:, 0], xy[:, 1], c=palette.point_colors(labels[idx]), **kw)
        if legend and palette.legend:
            ax.legend(
                handles=palette.handles(),
                loc="center left",
                bbox_to_anchor=(1.02, 0.5),
                fontsize="small",
                frameon=False,
            )
        elif legend and not palette.categorical:
            from matplotlib.cm import ScalarMappable

            ax.figure.colorbar(ScalarMappable(norm=palette.norm, cmap=palette.cmap), ax=ax, label="label")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.25)


def code_map_png(
    codes: Any,
    labels: Any | None,
    title: str,
    class_names: list[str] | None = None,
    max_points: int = 5000,
) -> bytes:
    """PNG of a 2-D scatter of codes (d=2 as is, d>2 first two principal components, d=1 vs index)."""
    arr = _prepare_codes(codes)
    lab = _prepare_labels(labels, arr.shape[0])
    palette = _Palette([lab], class_names) if lab is not None else None
    fig = Figure(figsize=(6.0, 5.0))
    ax = fig.add_subplot(1, 1, 1)
    _draw_code_map(ax, arr, lab, title, palette, max(1, int(max_points)), legend=True)
    return _png(fig)


def side_by_side_code_maps_png(
    maps: list[tuple[str, Any, Any | None]],
    class_names: list[str] | None = None,
    max_points: int = 5000,
) -> bytes:
    """PNG of several code maps in one row, e.g. autoencoder 2-D codes next to PCA 2-D (Science 2006, Fig. 3)."""
    if not maps:
        raise DataError("no code maps to draw")
    prepared = []
    for title, codes, labels in maps:
        arr = _prepare_codes(codes)
        prepared.append((str(title), arr, _prepare_labels(labels, arr.shape[0])))
    label_arrays = [lab for _, _, lab in prepared if lab is not None]
    palette = _Palette(label_arrays, class_names) if label_arrays else None
    k = len(prepared)
    fig = Figure(figsize=(5.0 * k + 1.2, 5.0))
    axes = fig.subplots(1, k, squeeze=False)[0]
    for i, (ax, (title, arr, lab)) in enumerate(zip(axes, prepared)):
        _draw_code_map(ax, arr, lab, title, palette, max(1, int(max_points)), legend=(i == k - 1))
    return _png(fig)


# ---------------------------------------------------------------- loss curves


def metric_items(record: dict[str, Any]) -> list[tuple[str, float]]:
    """The (name, value) metric pairs of a metrics.jsonl record: every numeric non-bookkeeping key."""
    return [
        (k, float(v))
        for k, v in record.items()
        if k not in BOOKKEEPING_KEYS and isinstance(v, (int, float)) and not isinstance(v, bool)
    ]


def loss_curves_png(records: list[dict[str, Any]], title: str | None = None) -> bytes:
    """PNG with one panel per metric: value against step, a line per split (train a line, others marked)."""
    series: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
    for i, rec in enumerate(records):
        step = rec.get("step")
        x = float(step) if isinstance(step, (int, float)) and not isinstance(step, bool) else float(i)
        split = str(rec.get("split", "train"))
        for name, value in metric_items(rec):
            # A one-step model logs "model/sq_err" in training and "sq_err" in evaluation: one panel.
            name = name.removeprefix("model/")
            if not math.isfinite(value):
                continue
            xs, ys = series.setdefault(name, {}).setdefault(split, ([], []))
            xs.append(x)
            ys.append(value)

    if not series:
        fig = Figure(figsize=(5.0, 2.0))
        ax = fig.add_subplot(1, 1, 1)
        ax.axis("off")
        ax.text(0.5, 0.5, "no metrics recorded", ha="center", va="center", transform=ax.transAxes)
        return _png(fig)

    names = list(series)
    ncols = min(3, len(names))
    nrows = -(-len(names) // ncols)
    # fixed margins in inches instead of a layout engine: one draw instead of several
    panel_w, panel_h, left, right, bottom, top, gap_w, gap_h = 3.4, 2.3, 0.75, 0.2, 0.55, 0.45, 0.8, 0.8
    top += 0.35 if title else 0.0
    fig_w = left + right + ncols * panel_w + (ncols - 1) * gap_w
    fig_h = bottom + top + nrows * panel_h + (nrows - 1) * gap_h
    fig = Figure(figsize=(fig_w, fig_h))
    fig.subplots_adjust(
        left=left / fig_w,
        right=1 - right / fig_w,
        bottom=bottom / fig_h,
        top=1 - top / fig_h,
        wspace=gap_w / panel_w,
        hspace=gap_h / panel_h,
    )
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    split_colors = {"train": "tab:blue", "test": "tab:orange", "val": "tab:green", "valid": "tab:green"}
    extra = iter(["tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:gray", "tab:olive", "tab:cyan"])
    for ax, name in zip(axes, names):
        by_split = series[name]
        order = sorted(by_split, key=lambda s: (s != "train", s))
        all_y: list[float] = []
        for split in order:
            xs, ys = by_split[split]
            if split not in split_colors:
                split_colors[split] = next(extra, "black")
            style: dict[str, Any] = {"color": split_colors[split], "label": split}
            if split == "train":
                ax.plot(xs, ys, linewidth=1.2, **style)
            else:
                ax.plot(xs, ys, marker="o", markersize=4, linewidth=1.0, **style)
            all_y.extend(ys)
        if all_y and min(all_y) > 0 and max(all_y) / min(all_y) > 10:
            ax.set_yscale("log")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.25)
        if len(order) > 1 or order[0] != "train":
            ax.legend(fontsize="small")
    for ax in axes[len(names) :]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    return _png(fig, tight=False)
