"""Plots as PNG bytes: 2-D code maps and loss curves.

Figures are made with `matplotlib.figure.Figure` on an Agg canvas directly, so pyplot's
global state and the user's chosen backend are never touched.
"""

from __future__ import annotations

import functools
import io
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps, font_manager
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ft2font import FT2Font
from matplotlib.lines import Line2D

from ..errors import DataError

__all__ = ["code_map_png", "side_by_side_code_maps_png", "loss_curves_png", "BOOKKEEPING_KEYS", "metric_items",
           "metric_rows", "drawable_text"]

BOOKKEEPING_KEYS = frozenset({"step", "epoch", "split", "time"})
_DPI = 100
MARKERS_UP_TO = 50  # a series with at most this many points also draws each point: one or two points make no line


# ---------------------------------------------------------------- text the figure's font can draw


@functools.lru_cache(maxsize=None)
def _charmap(path: str) -> frozenset[int]:
    return frozenset(FT2Font(path).get_charmap())


def _default_font_path() -> str | None:
    try:
        return font_manager.findfont(FontProperties())
    except ValueError:  # no font at all: nothing to compare with
        return None


@functools.lru_cache(maxsize=None)
def _family_with(char: int) -> str | None:
    """An installed font family whose regular face has `char`, or None."""
    for entry in sorted(font_manager.fontManager.ttflist, key=lambda e: (e.name, e.fname)):
        # Only a regular face is what a plain label is drawn with, without findfont's "weight not found" log
        # lines; "Last Resort" draws a placeholder box for every code point, no better than a missing glyph.
        regular = entry.style == "normal" and entry.variant == "normal" and entry.weight in (400, "normal", "regular")
        if regular and not entry.name.startswith("Last Resort") and char in _charmap(entry.fname):
            return entry.name
    return None


def drawable_text(texts: Sequence[str]) -> tuple[list[str], list[str] | None]:
    """`texts` as the plots can draw them, and the font families to draw them with (None: the default).

    Class names come from folder names, so they can be in any script. A character the default font
    lacks is drawn from an installed font that has it (matplotlib's per-glyph fallback); one that no
    installed font has becomes its code point ("[U+65E5 U+672C]"), because matplotlib would draw an
    empty box and warn, and two such names would look alike. "$" is escaped so no name is read as math.
    """
    default_path = _default_font_path()
    have = _charmap(default_path) if default_path else frozenset()
    fallbacks: list[str] = []
    out = []
    for text in texts:
        pieces: list[str] = []
        missing_run: list[str] = []
        for ch in str(text):
            code = ord(ch)
            family = None if ch.isspace() or code in have else _family_with(code)
            if ch.isspace() or code in have or family is not None:
                if family is not None and family not in fallbacks:
                    fallbacks.append(family)
                if missing_run:
                    pieces.append("[" + " ".join(missing_run) + "]")
                    missing_run = []
                pieces.append(ch)
            else:
                missing_run.append(f"U+{code:04X}")
        if missing_run:
            pieces.append("[" + " ".join(missing_run) + "]")
        out.append("".join(pieces).replace("$", r"\$"))
    if not fallbacks:
        return out, None
    default_family = FT2Font(default_path).family_name if default_path else "sans-serif"
    return out, [default_family, *fallbacks]


def _safe(text: str) -> tuple[str, dict[str, Any]]:
    """`text` for a title or label, and the keyword arguments that draw it (see drawable_text)."""
    (safe,), families = drawable_text([text])
    return safe, ({"fontfamily": families} if families else {})


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

    def draw_legend(self, ax: Axes) -> None:
        """A legend of the classes beside `ax`, names drawn with fonts that have their characters."""
        names, families = drawable_text([self.name(v) for v in self.values])
        handles = [
            Line2D([], [], linestyle="", marker="o", markersize=6, color=self.colors[v], label=name)
            for v, name in zip(self.values, names)
        ]
        ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False,
                  prop=FontProperties(family=families, size="small"))


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
    full_title, title_font = _safe(title)
    if n > max_points:
        full_title += f"\n({max_points} of {n} points)"
    if dropped:
        full_title += f"\n({dropped} non-finite codes left out)"
    ax.set_title(full_title, fontsize=11, **title_font)
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
            palette.draw_legend(ax)
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


def metric_rows(train_keys: Iterable[str], eval_keys: Iterable[str] = ()) -> dict[str, str]:
    """Each training key's row (and panel), shared with the evaluation metric of the same name.

    Training logs "update/term" ("model/sq_err", "encoder/kl") and evaluation logs "term" ("sq_err",
    "kl"): a term logged by one update only goes in the term's row when evaluation has that term or
    the update is the one-update models' "model"; otherwise the key stays whole ("decoder/gen_gan"),
    and so does each of several updates' same term ("encoder/feat_rec", "decoder/feat_rec"), since
    none of them is the evaluation's number.
    """
    keys = list(dict.fromkeys(train_keys))
    evaluated = set(eval_keys)
    terms = Counter(k.rpartition("/")[2] for k in keys)
    rows = {}
    for key in keys:
        update, _, term = key.rpartition("/")
        shared = terms[term] == 1 and (update in ("", "model") or term in evaluated)
        rows[key] = term if shared else key
    return rows


def _series(records: list[dict[str, Any]]) -> dict[str, dict[str, tuple[list[float], list[float]]]]:
    """panel -> split -> (steps, values), non-finite values left out.

    Panels come in the final-metrics table's order: training's terms first, then what only evaluation has.
    """
    train = [k for rec in records if str(rec.get("split", "train")) == "train" for k, _ in metric_items(rec)]
    evaluated = [k for rec in records if str(rec.get("split", "train")) != "train" for k, _ in metric_items(rec)]
    rows = metric_rows(train, evaluated)
    series: dict[str, dict[str, tuple[list[float], list[float]]]] = {row: {} for row in rows.values()}
    for i, rec in enumerate(records):
        step = rec.get("step")
        x = float(step) if isinstance(step, (int, float)) and not isinstance(step, bool) else float(i)
        split = str(rec.get("split", "train"))
        for key, value in metric_items(rec):
            if not math.isfinite(value):
                continue
            name = rows.get(key, key) if split == "train" else key
            xs, ys = series.setdefault(name, {}).setdefault(split, ([], []))
            xs.append(x)
            ys.append(value)
    return {name: by_split for name, by_split in series.items() if by_split}  # a term never finite: no panel


def loss_curves_png(records: list[dict[str, Any]], title: str | None = None) -> bytes:
    """PNG with one panel per metric: value against step, a line per split (train a line, others marked).

    A training term and the evaluation metric of the same name share a panel (see metric_rows); a
    series of at most MARKERS_UP_TO points also marks each point, so a short run still shows its values.
    """
    series = _series(records)
    if not series:
        fig = Figure(figsize=(5.0, 2.0))
        ax = fig.add_subplot(1, 1, 1)
        ax.axis("off")
        ax.text(0.5, 0.5, "no metrics recorded", ha="center", va="center", transform=ax.transAxes)
        if title:
            text, font = _safe(title)
            ax.set_title(text, **font)
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
            # one or two points alone would be a dot hard to find: those are drawn larger
            size = 6 if len(xs) <= 2 else 4
            if split == "train":
                marks = {"marker": "o", "markersize": size} if len(xs) <= MARKERS_UP_TO else {}
                ax.plot(xs, ys, linewidth=1.2, zorder=3, **marks, **style)
            else:
                ax.plot(xs, ys, marker="o", markersize=size, linewidth=1.0, **style)
            all_y.extend(ys)
        if all_y and min(all_y) > 0 and max(all_y) / min(all_y) > 10:
            ax.set_yscale("log")
        panel_title, font = _safe(name)
        ax.set_title(panel_title, fontsize=10, **font)
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.25)
        if len(order) > 1 or order[0] != "train":
            ax.legend(fontsize="small")
    for ax in axes[len(names) :]:
        ax.axis("off")
    if title:
        text, font = _safe(title)
        fig.suptitle(text, **font)
    return _png(fig, tight=False)
