"""Several runs on one page (`aelab report RUN1 RUN2 ...`): their settings and final metrics in one table, every
metric's curves overlaid, and the same test items through each model. Drawn from the runs' own records; the only
thing computed is each model's output on those items."""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from matplotlib.figure import Figure

from ..errors import ConfigError
from ..fsio import atomic_write_bytes
from ..runs import RunFolder
from .images import png_bytes
from .plots import _png, _safe, metric_items
from .report import _CSS, _esc, _fmt, _img_tag, _section, final_metrics, flatten_config

COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:gray",
           "tab:olive", "tab:cyan")
STYLES = ("-", "--", ":", "-.")
SHOWN = 8  # test items pictured through each model


@dataclass
class RunView:
    """What the page shows of one run: its name, folder, spec, records and loaded model."""

    name: str
    folder: RunFolder
    spec: Any
    records: list[dict[str, Any]]
    model: Any


def settings(spec: Any) -> dict[str, Any]:
    """A run's settings (its RunSpec) as flat names: data, its options, the model's config (model.KEY) and training
    (train.KEY), then any other stage's (rbm1.model.KEY, prior.train.KEY, ...)."""
    from ..recipes.stages import MAIN

    flat: dict[str, Any] = {"data": spec.data}
    flat.update({f"data.{k}": v for k, v in spec.data_options.items() if k != "vocabulary"})
    for stage in sorted(spec.stages, key=lambda s: s.name != MAIN):
        prefix = "" if stage.name == MAIN else f"{stage.name}."
        if stage.name != MAIN:
            flat[f"{prefix}model"] = stage.model
        flat.update({f"{prefix}model.{k}": v for k, v in flatten_config(stage.model_config)})
        flat.update({f"{prefix}train.{k}": v for k, v in flatten_config(vars(stage.train))})
    return flat


def final_test_metrics(records: list[dict[str, Any]]) -> dict[str, float]:
    """The last evaluation's finite numbers (the test split's, else the last evaluated split's)."""
    finals = final_metrics(records)
    chosen = finals.get("test") or next((v for k, v in finals.items()
                                         if k not in ("train", "choice", "selection", "diverged")), {})
    return {k: v for k, v in metric_items(chosen) if math.isfinite(v)}


def _table(views: Sequence[RunView]) -> str:
    """One row per run: every final test metric, then the settings that differ between the runs."""
    rows = [settings(v.spec) for v in views]
    keys = list(dict.fromkeys(k for r in rows for k in r))
    differ = [k for k in keys if len({repr(r.get(k)) for r in rows}) > 1]
    metrics = [final_test_metrics(v.records) for v in views]
    names = list(dict.fromkeys(k for m in metrics for k in m))
    head = "".join(f"<th>{_esc(h)}</th>" for h in ["run", "model", "status", "wall time", *names, *differ])
    body = []
    for view, row, m in zip(views, rows, metrics):
        cells = [f"<td><code>{_esc(view.name)}</code></td>", f"<td>{_esc(view.spec.model)}</td>",
                 f"<td>{_esc(_status(view))}</td>", f"<td class=\"num\">{_esc(_wall(view))}</td>"]
        for k in names:
            text, numeric = _fmt(m[k]) if k in m else ("\u2013", False)
            cells.append(f'<td class="{"num" if numeric else "missing"}">{_esc(text)}</td>')
        for k in differ:
            cells.append(f"<td>{_esc(row.get(k, ''))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    note = (f'<p class="meta">Settings shown: those that differ between the runs ({len(differ)} of {len(keys)}; all '
            "of them below). Metrics: each run's last evaluation of its test split; &ndash;: not recorded.</p>")
    return (f'<div class="wide"><table id="runs-table"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
            "</table></div>" + note)


def _status(view: RunView) -> str:
    note = view.folder.unfinished_note(view.spec)
    return "unfinished" if note else "finished"


def _wall(view: RunView) -> str:
    seconds = view.folder.metrics.seconds()
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _all_settings(views: Sequence[RunView]) -> str:
    rows = [settings(v.spec) for v in views]
    keys = list(dict.fromkeys(k for r in rows for k in r))
    head = "<th>setting</th>" + "".join(f"<th><code>{_esc(v.name)}</code></th>" for v in views)
    body = []
    for k in keys:
        values = [r.get(k, "\u2013") for r in rows]
        mark = ' class="differs"' if len({repr(v) for v in values}) > 1 else ""
        body.append(f"<tr{mark}><td>{_esc(k)}</td>" + "".join(f"<td>{_esc(v)}</td>" for v in values) + "</tr>")
    return (f'<div class="wide"><table id="settings-table"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}'
            "</tbody></table></div>")


def epoch_series(records: list[dict[str, Any]], train_losses_only: bool = False) -> dict[str, tuple[list, list]]:
    """A run's metrics by epoch: "SPLIT NAME" -> (epochs, values), finite values only, what a run chose before
    training (choice, selection) and a divergence left out; with `train_losses_only`, of the training terms only
    the losses."""
    out: dict[str, tuple[list, list]] = {}
    for rec in records:
        split, epoch = str(rec.get("split", "train")), rec.get("epoch")
        if split in ("choice", "selection", "diverged") or not isinstance(epoch, (int, float)):
            continue
        for key, value in metric_items(rec):
            if math.isfinite(value) and not (train_losses_only and split == "train" and not key.endswith("/loss")):
                xs, ys = out.setdefault(f"{split} {key}", ([], []))
                xs.append(float(epoch))
                ys.append(value)
    return out


def curves_png(views: Sequence[RunView]) -> bytes | None:
    """One panel per metric evaluated by at least one run (and the training loss): a line per run, against the
    epoch, so that runs of other batch sizes line up."""
    series: dict[str, dict[int, tuple[list, list]]] = {}
    for i, view in enumerate(views):
        for name, xy in epoch_series(view.records, train_losses_only=True).items():
            series.setdefault(name, {})[i] = xy
    names = sorted(series, key=lambda n: (not n.startswith("train"), n))[:12]
    if not names:
        return None
    ncols = min(3, len(names))
    nrows = -(-len(names) // ncols)
    fig = Figure(figsize=(3.6 * ncols, 2.6 * nrows + 0.6))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, name in zip(axes, names):
        for i, (xs, ys) in sorted(series[name].items()):
            label, font = _safe(views[i].name)
            # a dash pattern of its own too: runs whose curves coincide stay visible
            ax.plot(xs, ys, color=COLOURS[i % len(COLOURS)], linestyle=STYLES[i % len(STYLES)], alpha=0.85,
                    marker="o" if len(xs) <= 20 else None, markersize=3, linewidth=1.4, label=label)
        title, font = _safe(name)
        ax.set_title(title, fontsize=10, **font)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.25)
    for ax in axes[len(names):]:
        ax.axis("off")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=min(len(views), 5), fontsize="small", frameon=False)
    fig.subplots_adjust(top=1 - 0.55 / (2.6 * nrows + 0.6), hspace=0.55, wspace=0.3, bottom=0.08)
    return _png(fig, tight=False)


def through_models(runs: Sequence[tuple[str, Any, str]], x: Any) -> tuple[list[tuple[str, Any]], list[str]]:
    """Test images x, and each run's (name, model, its training corruption) output for them: its reconstruction,
    or its restoration of them corrupted as that run trained (a denoiser). Returns the (label, images) rows and a
    note for each run that cannot take them."""
    from ..corruption import Corruption, SeededDraws
    from ..models.capabilities import Restorer, is_autoencoder

    rows, notes = [("test items", x)], []
    for name, model, corrupt in runs:
        if tuple(model.input_shape) != tuple(x.shape[1:]):
            notes.append(f"{name}: takes inputs of shape {tuple(model.input_shape)}, not these")
            continue
        with torch.no_grad():
            if corrupt and isinstance(model, Restorer):
                noisy = Corruption(corrupt)(x, SeededDraws(0, len(x))).x
                rows.append((f"{name}: corrupted ({corrupt})", noisy))
                rows.append((f"{name}: restored", model.restore(noisy).reshape(x.shape)))
            elif is_autoencoder(model):
                rows.append((f"{name}: reconstructed", model.decode(model.encode(x)).reshape(x.shape)))
            else:
                notes.append(f"{name}: {model.name} neither reconstructs nor restores")
    return rows, notes


def _through_section(views: Sequence[RunView], data: Any) -> str:
    x = data.x[:SHOWN]
    if x.dim() != 4:
        return '<p class="meta">The runs\' data are not images: no pictures.</p>'
    rows, notes = through_models([(v.name, v.model, v.spec.train.corrupt) for v in views], x)
    scale = max(1, 56 // max(x.shape[-2:]))
    figures = "".join(f'<figure class="through"><figcaption>{_esc(label)}</figcaption>'
                      f'{_img_tag(png_bytes(images.clamp(0, 1), nrow=SHOWN, scale=scale), label, pixels=True)}'
                      "</figure>" for label, images in rows)
    return figures + "".join(f'<p class="meta">{_esc(n)}.</p>' for n in notes)


def write_comparison(runs: Sequence[str | Path], data: Any, output: str | Path, overwrite: bool = False) -> Path:
    """The comparison page of `runs` at `output` (an existing file is kept unless `overwrite`); `data`: the items
    pictured (the CLI gives the first run's test split)."""
    from ..train.run import load

    output = Path(output)
    if len(runs) < 2:
        raise ConfigError("a comparison needs at least two runs")
    if output.exists() and not overwrite:
        raise ConfigError(f"{output} exists; choose another -o or pass --overwrite")
    names = _names([Path(r) for r in runs])
    views = []
    for name, path in zip(names, runs):
        folder = RunFolder(path)
        if not folder.is_run():
            raise ConfigError(f"{path} is not a run folder (no config.json)")
        views.append(RunView(name, folder, folder.read_spec(), folder.metrics.records(), load(path)))
    now = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    curves = curves_png(views)
    parts = [f"<header><h1>{len(views)} runs compared</h1><p class=\"meta\">"
             + " &middot; ".join(f"<code>{_esc(v.name)}</code>: {_esc(v.spec.model)} on {_esc(v.spec.data)}"
                                 for v in views) + f" &middot; written {_esc(now)}</p></header>",
             _section("runs", "Settings and final metrics", _table(views)),
             _section("curves", "Curves", _img_tag(curves, "curves of every run") if curves else
                      '<p class="meta">No metrics recorded.</p>'),
             _section("through", "The same test items through each model", _through_section(views, data)),
             _section("settings", "Every setting", _all_settings(views))]
    css = _CSS + ("\ntr.differs td { background: #fff4d6; }\nfigure.through { margin: 0.4em 0; }"
                  "\ndiv.wide { overflow-x: auto; }")
    doc = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
           '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
           f"<title>{len(views)} runs compared</title>\n<style>\n{css}\n</style>\n</head>\n<body>\n"
           + "\n".join(parts) + "\n</body>\n</html>\n")
    output.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(output, doc.encode("utf-8"))


def _names(paths: list[Path]) -> list[str]:
    """Each run's folder name, or its path where two share a name."""
    short = [p.name or str(p) for p in paths]
    return [str(p) if short.count(s) > 1 else s for p, s in zip(paths, short)]
