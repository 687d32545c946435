"""A self-contained HTML report for a run: config, final metrics, reconstructions, code map, curves, samples."""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import html
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from ..errors import AelabError
from ..runs import RunFolder
from .images import png_bytes
from .plots import code_map_png, drawable_text, loss_curves_png, metric_items, metric_rows

if TYPE_CHECKING:  # the model classes live in aelab.models; imported lazily at run time
    from ..models.base import Autoencoder
    from ..models.capabilities import Restorer

__all__ = ["write_report", "metrics_table_html", "flatten_config", "final_metrics", "final_metrics_rows", "encode_all",
           "StageRecords"]

_ENCODE_BATCH = 1000
_RECON_PER_ROW = 16
_N_SAMPLES = 64
_SAMPLE_SEED = 0

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222;
       max-width: 1100px; margin: 2em auto; padding: 0 1em; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.8em; }
.meta { color: #666; font-size: 0.92em; }
.banner { background: #fff4d6; border: 1px solid #e0b44c; border-left: 6px solid #d08c00; padding: 0.5em 0.8em;
          font-weight: 600; margin: 0.6em 0; }
h3 { font-size: 1.05em; margin: 1.2em 0 0.2em; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.missing { text-align: center; color: #999; }
tr:nth-child(even) td { background: #fafafa; }
img { max-width: 100%; height: auto; }
img.pixels { image-rendering: pixelated; image-rendering: crisp-edges; }
figure { margin: 0.8em 0; }
figcaption { color: #555; font-size: 0.88em; margin-top: 0.3em; }
code { background: #f4f4f4; padding: 0 0.2em; }
""".strip()


# ---------------------------------------------------------------- small helpers


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _fmt(v: Any) -> tuple[str, bool]:
    """(text, is_number) for one table cell."""
    if v is None:
        return "", False
    if isinstance(v, bool):
        return str(v).lower(), False
    if isinstance(v, (int, np.integer)):
        return str(int(v)), True
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return (f"{f:.4g}" if math.isfinite(f) else str(f)), True
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v, default=str), False
    return str(v), False


def metrics_table_html(rows: list[dict[str, Any]], columns: list[str], missing: str = "") -> str:
    """An HTML table with one row per dict and the given columns (floats to 4 significant digits, all escaped).

    A cell whose value is None or absent shows `missing`.
    """
    head = "".join(f"<th>{_esc(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c)
            if value is None and missing:
                cells.append(f'<td class="missing">{_esc(missing)}</td>')
                continue
            text, num = _fmt(value)
            cells.append(f'<td class="num">{_esc(text)}</td>' if num else f"<td>{_esc(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n' + "\n".join(body) + "\n</tbody>\n</table>"


def flatten_config(config: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts (or dataclasses) as (key.path, value) pairs in their own order."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    if not isinstance(config, dict):
        return [(prefix or "value", config)]
    out: list[tuple[str, Any]] = []
    for k, v in config.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            v = dataclasses.asdict(v)
        if isinstance(v, dict) and v:
            out.extend(flatten_config(v, key))
        else:
            out.append((key, v))
    return out


def final_metrics(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The last record of each split, by split name (train first)."""
    last: dict[str, dict[str, Any]] = {}
    for rec in records:
        last[str(rec.get("split", "train"))] = rec
    return {s: last[s] for s in sorted(last, key=lambda s: (s != "train", s))}


def final_metrics_rows(records: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """(rows, columns) of the final-metrics table: one row per metric, "train (last)", "test (last)", ... side by side.

    Training logs "model/sq_err" where evaluation logs "sq_err": they share a row (see
    aelab.viz.plots.metric_rows); a metric one split lacks is None there.
    """
    last = {s: r for s, r in final_metrics(records).items() if s != "choice"}  # a choice is said in its note
    splits = list(dict.fromkeys(["train", "test", *last]))
    columns = ["metric", *(f"{s} (last)" for s in splits)]
    rows_of = metric_rows((k for k, _ in metric_items(last.get("train", {}))),
                          (k for s, rec in last.items() if s != "train" for k, _ in metric_items(rec)))
    values: dict[str, dict[str, float]] = {}  # row -> split -> value, rows in order of first appearance
    labels: dict[str, str] = {}
    for split in splits:
        for key, value in metric_items(last.get(split, {})):
            row = rows_of.get(key, key) if split == "train" else key
            values.setdefault(row, {})[split] = value
            if split == "train" and key not in (row, f"model/{row}"):  # say which update's term it is
                labels[row] = f"{row} (train: {key})"
    table = []
    for key, label in (("step", "step"), ("epoch", "epoch"), ("time", "time (s)")):
        if any(key in rec for rec in last.values()):
            table.append({"metric": label, **{f"{s} (last)": last.get(s, {}).get(key) for s in splits}})
    for row, by_split in values.items():
        table.append({"metric": labels.get(row, row), **{f"{s} (last)": by_split.get(s) for s in splits}})
    return table, columns


@dataclass
class StageRecords:
    """A stage of the run besides its model (pre-training, a prior): its name, what it is, and its metrics."""

    name: str
    records: list[dict[str, Any]]
    about: str = ""


def _img_tag(png: bytes, alt: str, pixels: bool = False) -> str:
    b64 = base64.b64encode(png).decode("ascii")
    cls = ' class="pixels"' if pixels else ""
    return f'<img{cls} alt="{_esc(alt)}" src="data:image/png;base64,{b64}">'


def _figure(png: bytes, alt: str, caption: str, pixels: bool = False) -> str:
    note = f"<figcaption>{_esc(caption)}</figcaption>" if caption else ""
    return f"<figure>{_img_tag(png, alt, pixels)}{note}</figure>"


def _place(model: torch.nn.Module) -> tuple[torch.device, torch.dtype]:
    for p in model.parameters():
        return p.device, (p.dtype if p.dtype.is_floating_point else torch.float32)
    for b in model.buffers():
        return b.device, (b.dtype if b.dtype.is_floating_point else torch.float32)
    return torch.device("cpu"), torch.float32


def encode_all(model: "Autoencoder", x: Tensor, batch_size: int = _ENCODE_BATCH) -> np.ndarray:
    """Codes of `x` as a float64 (N, d) array (see aelab.eval.reconstruction.encode_all)."""
    from ..eval.reconstruction import encode_all as encode

    if x.shape[0] == 0:
        return np.zeros((0, 0))
    return encode(model, x, batch_size).to(torch.float64).numpy()


def _pixel_scale(h: int, w: int) -> int:
    return max(1, 64 // max(h, w, 1))


def _as_images(t: Tensor, like: tuple[int, ...]) -> Tensor:
    """Model output as (N, C, H, W) floats on the CPU (reshaped when a model returns flat vectors)."""
    t = t.detach().to("cpu", torch.float32)
    if tuple(t.shape[1:]) != tuple(like) and t[0].numel() == math.prod(like):
        t = t.reshape(t.shape[0], *like)
    return t


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{_esc(sid)}">\n<h2>{_esc(title)}</h2>\n{body}\n</section>'


# ---------------------------------------------------------------- sections


def _word_reconstructions(model: "Autoencoder", data: Any, vocabulary: list[str], n: int = 4, top: int = 10) -> str:
    """For a few documents: their most frequent words, and the words the reconstruction weighs most."""
    device, dtype = _place(model)
    x = data.x[:n]
    with torch.no_grad():
        recon = model(x.to(device=device, dtype=dtype)).flatten(1).cpu()
    rows = []
    for i in range(len(x)):
        have = [vocabulary[j] for j in torch.argsort(x[i], descending=True, stable=True)[:top].tolist() if x[i, j] > 0]
        got = [vocabulary[j] for j in torch.argsort(recon[i], descending=True, stable=True)[:top].tolist()]
        rows.append({"document": str(i), "its most frequent words": " ".join(have),
                     "the reconstruction's top words": " ".join(got)})
    return metrics_table_html(rows, ["document", "its most frequent words", "the reconstruction's top words"])


def _retrieval(model: "Autoencoder", queries: Any, database: Any, curve: dict[str, Any], shown_queries: int = 1000) -> str:
    """The suite's precision-recall by Hamming radius (test items as queries against the training items), and
    examples of what a few queries retrieve."""
    from ..batching import map_batches
    from .retrieval import examples_html, pr_curve_png

    keep = np.linspace(0, len(queries.x) - 1, num=min(shown_queries, len(queries.x))).round().astype(int)
    q_codes = map_batches(model, queries.x[keep], model.binary_codes).numpy()  # type: ignore[attr-defined]
    db_codes = map_batches(model, database.x, model.binary_codes).numpy()  # type: ignore[attr-defined]
    bits = q_codes.shape[1]
    title = f"{bits}-bit codes, {len(queries.x)} test queries against {len(db_codes)} training items"
    r = min(2, bits)
    note = (f'<p class="meta">One point per Hamming radius r: everything within r of the query is returned; '
            f"relevant = same label. Within r={r}: precision {curve['precision'][r]:.3f}, recall "
            f"{curve['recall'][r]:.4f}, {curve['returned'][r]:.1f} items returned on average.</p>")
    shown = type(queries)(x=queries.x[keep], y=queries.y[keep], name=queries.name, classes=queries.classes,
                          **({"kind": queries.kind, "vocabulary": queries.vocabulary,
                              "texts": [queries.texts[i] for i in keep]} if getattr(queries, "texts", None) else {}))
    examples = examples_html(q_codes, shown, db_codes, database, _img_tag,
                             lambda grid: png_bytes(grid, nrow=len(grid), scale=_pixel_scale(*grid.shape[2:])))
    return _img_tag(pr_curve_png(curve, title), "precision-recall curve") + note + examples


def _code_usage(model: "Autoencoder", x: Tensor) -> str:
    """How the items' binary codes use their bits (eval/code_usage.py): the numbers, each bit's share, a collapse."""
    from ..batching import map_batches
    from ..eval.code_usage import code_usage, collapse_note
    from .retrieval import bit_shares_png

    bits = map_batches(model, x, model.binary_codes).numpy()  # type: ignore[attr-defined]
    m, details = code_usage(bits)
    n, width = bits.shape
    line = (f'<p class="meta">{int(m["distinct_codes"]):,} distinct {width}-bit codes for {n:,} items '
            f'({m["distinct_share"]:.1%} of the most they could have); {int(m["dead_bits"])} bits the same for every '
            f'item; bit balance {m["bit_balance"]:.2f} (1: every bit on for half the items); mean |correlation| '
            f'between bits {m["bit_correlation"]:.2f}.</p>')
    note = collapse_note(m, n, width)
    warn = f'<p class="banner">{_esc(note[0].upper() + note[1:])}.</p>' if note else ""
    chart = bit_shares_png(details["bit_ones"], f"each bit's share of ones over {n:,} items (red: constant)")
    return warn + line + _img_tag(chart, "share of ones per bit")


def _reconstructions(model: "Autoencoder", x: Tensor) -> str:
    device, dtype = _place(model)
    with torch.no_grad():
        recon = _as_images(model(x.to(device=device, dtype=dtype)), tuple(x.shape[1:]))
    orig = x.detach().to("cpu", torch.float32)
    n = orig.shape[0]
    cols = min(_RECON_PER_ROW, n)
    rows = []
    for i in range(0, n, cols):
        a, b = orig[i : i + cols], recon[i : i + cols]
        if a.shape[0] < cols:  # pad the last pair of rows with blank cells so columns line up
            blank = torch.ones((cols - a.shape[0], *a.shape[1:]))
            a, b = torch.cat([a, blank]), torch.cat([b, blank])
        rows += [a, b]
    grid = torch.cat(rows)
    png = png_bytes(grid, nrow=cols, scale=_pixel_scale(*orig.shape[2:]))
    caption = f"{n} test images: originals (odd rows) above their reconstructions (even rows)."
    return _figure(png, "reconstructions", caption, pixels=True)


def _denoising(model: "Restorer", x: Tensor, corruption: str) -> str:
    """Clean / corrupted / restored rows (and the inpainting, known inputs kept, when the holes' place is known)."""
    from ..corruption import Corruption, SeededDraws

    if x.dim() != 4:
        return f"<p>Trained to restore inputs corrupted by <code>{_esc(corruption)}</code>.</p>"
    device, dtype = _place(model)
    clean = x.detach().to("cpu", torch.float32)
    c = Corruption(corruption)(clean, SeededDraws(1, len(clean)))  # the evaluation's own draw (EvalOptions.seed + 1)
    given = c.x.to(device=device, dtype=dtype)
    with torch.no_grad():
        restored = _as_images(model.restore(given), tuple(x.shape[1:]))
        shown = [clean, c.x, restored]
        names = ["clean", "corrupted", "restored"]
        if c.holes is not None:  # the holes' place told to the model, as the evaluation does
            shown.append(_as_images(model.restore(given, ~c.holes.to(device)), tuple(x.shape[1:])))
            names.append("inpainted (known inputs kept)")
    cols = min(_RECON_PER_ROW, len(clean))
    rows = [t[i : i + cols] for i in range(0, len(clean), cols) for t in shown]
    rows = [r if len(r) == cols else torch.cat([r, torch.ones((cols - len(r), *r.shape[1:]))]) for r in rows]
    png = png_bytes(torch.cat(rows), nrow=cols, scale=_pixel_scale(*clean.shape[2:]))
    caption = (f"{len(clean)} test images corrupted by {corruption} (seeded, as in the evaluation); rows in turn: "
               f"{', '.join(names)}.")
    return _figure(png, "denoising", caption, pixels=True)


def _interpolations(model: "Autoencoder", x: Tensor, pairs: int = 4, steps: int = 10) -> str:
    from ..eval.interpolation import interpolate

    pairs = min(pairs, x.shape[0] // 2)
    if pairs < 1:
        return "<p>No interpolations: fewer than two test images.</p>"
    rows = []
    for p in range(pairs):
        a, b = x[2 * p].float().cpu(), x[2 * p + 1].float().cpu()
        path = _as_images(interpolate(model, a, b, steps), tuple(x.shape[1:]))
        rows.append(torch.cat([a[None], path, b[None]]))
    png = png_bytes(torch.cat(rows), nrow=steps + 2, scale=_pixel_scale(*x.shape[2:]))
    caption = (f"Test images 0-1, 2-3, ... at both ends; between them the decodings of {steps} evenly spaced "
               "points on the straight line between their codes.")
    return _figure(png, "interpolations", caption, pixels=True)


def _code_map(model: "Autoencoder", data: Any, model_name: str, data_name: str, max_points: int) -> str:
    x = data.x[:max_points]
    codes = encode_all(model, x)
    y = getattr(data, "y", None)
    labels = None
    if y is not None:
        y = y[: x.shape[0]]
        labels = np.asarray(y.detach().cpu() if hasattr(y, "detach") else y)
    classes = getattr(data, "classes", None)
    d = codes.shape[1]
    map_title = f"{model_name}: {d}-D codes of {data_name}"
    png = code_map_png(codes, labels, map_title, class_names=classes, max_points=max_points)
    how = {1: "the code against the example's index", 2: "the codes themselves"}.get(
        d, "their first two principal components"
    )
    caption = f"Codes of the first {x.shape[0]} examples ({d}-D), drawn as {how}" + (
        ", coloured by label." if labels is not None else "."
    )
    if labels is not None and classes:
        shown, _ = drawable_text([str(c) for c in classes])
        coded = [f"{s} = {c}" for c, s in zip(classes, shown) if s != str(c).replace("$", "\\$")]
        if coded:  # the browser has fonts the plot lacks: say which name each code point label stands for
            caption += " Class names the plot's fonts cannot draw are shown as code points: " + "; ".join(coded) + "."
    return _figure(png, "code map", caption)


def _samples(model: Any, shape: tuple[int, ...]) -> str:
    device, _ = _place(model)
    gen = torch.Generator(device=device).manual_seed(_SAMPLE_SEED)
    try:
        with torch.no_grad():
            s = _as_images(model.sample(_N_SAMPLES, generator=gen), shape)
    except (NotImplementedError, AelabError) as e:
        return f"<p>No samples: {_esc(' '.join(str(e).split()) or type(e).__name__)}</p>"
    png = png_bytes(s, nrow=8, scale=_pixel_scale(*s.shape[2:]))
    return _figure(png, "samples", f"{s.shape[0]} samples from the prior (seed {_SAMPLE_SEED}).", pixels=True)


# ---------------------------------------------------------------- the report


def _curves(records: list[dict[str, Any]], title: str | None = None, explain: bool = True) -> str:
    if not records:
        return "<p>No metrics recorded.</p>"
    caption = ("Metrics against training step, one panel each (a training term shares its panel with the evaluation "
               "metric of the same name); log scale where values span more than 10x." if explain else "")
    return _figure(loss_curves_png(records, title=title), f"{title or 'training'} curves", caption)


def _stage_curves(main_records: list[dict[str, Any]], stages: Sequence[StageRecords]) -> str:
    """The main model's curves, then each other stage's, each under its stage's name."""
    if not stages:
        return _curves(main_records)
    parts = ["<h3>stage model (the run's model)</h3>", _curves(main_records, "stage model")]
    for st in stages:
        parts.append(f"<h3>stage {_esc(st.name)}</h3>")
        if st.about:
            parts.append(f'<p class="meta">{_esc(st.about)}</p>')
        parts.append(_curves(st.records, f"stage {st.name}", explain=False))  # said once, under the model's
    return "\n".join(parts)


def _selection_note(records: list[dict[str, Any]]) -> str:
    """The settings a run chose before training and the epoch it kept, on its validation items
    (TrainConfig.validation), when it chose them."""
    return _choice_note(records) + _epoch_note(records)


def _choice_note(records: list[dict[str, Any]]) -> str:
    chosen = [r for r in records if r.get("split") == "choice"]
    if not chosen:
        return ""
    c = chosen[-1]
    setting = ", ".join(f"{k} {v}" for k, v in c["chosen"].items())
    scores = "; ".join(f"{k}: {v:.4g}" for k, v in c["scores"].items())
    return (f'<p class="meta" id="choice">Chosen before training on the validation items: {_esc(setting)} '
            f"(each candidate's {_esc(c['metric'])}: {_esc(scores)}).</p>\n")


def _epoch_note(records: list[dict[str, Any]]) -> str:
    chosen = [r for r in records if r.get("split") == "selection"]
    if not chosen:
        return ""
    c = chosen[-1]
    epochs = max((r.get("epoch", 0) for r in records if r.get("split") == "validation"), default=c["epoch"])
    return (f'<p class="meta" id="selection">The weights are those of epoch {c["epoch"]} of {round(epochs)}, the best '
            f'on the validation items held out of the training data ({_esc(c["metric"])} {c["value"]:.4g}); '
            "the test split took no part in the choice.</p>\n")


def write_report(
    run_dir: Path,
    model: "Autoencoder",
    data: Any,
    records: list[dict[str, Any]],
    title: str | None = None,
    config: dict[str, Any] | None = None,
    extra_sections: list[tuple[str, str]] | None = None,
    n_recon: int = 16,
    max_map_points: int = 5000,
    unfinished: str | None = None,
    stages: Sequence[StageRecords] = (),
    database: Any = None,
    corruption: str = "",
    composed: dict[str, float] | None = None,
    retrieval_curve: dict[str, Any] | None = None,
) -> Path:
    """Write `run_dir/report.html` (self-contained, images embedded) atomically and return its path.

    `data` needs `.x` (N, C, H, W) in [0,1]; `.y`, `.name` and `.classes` are used when present.
    `unfinished` says how far an unfinished run got ("unfinished: step 120 of 900 ..."): a banner under
    the title, and "[unfinished]" in the page's title. `stages` are the run's other stages, whose curves
    follow the model's. `extra_sections` are (title, raw HTML) pairs appended verbatim (the title is
    escaped), before the configuration. Data that is not images (word counts) gets its words instead of
    pictures; a model with binary codes and a labelled `database` (the training items) gets a retrieval section.
    A denoiser (`corruption`, its TrainConfig.corrupt) gets clean / corrupted / restored triples. `composed`: the
    test metrics of the whole run's model (with its later stages, e.g. a prior: bits/dim), a column of its own.
    `retrieval_curve`: the evaluation suite's precision-recall by Hamming radius (details["pr_by_radius"]) of the
    test items against `database`, drawn in the retrieval section.
    """
    from ..models.capabilities import BinaryCoder, Restorer, Sampler, capabilities, is_autoencoder

    run_dir = Path(run_dir)
    model_name = getattr(model, "name", "") or type(model).__name__
    data_name = str(getattr(data, "name", "") or "data")
    x: Tensor = data.x
    title = title or f"{model_name} on {data_name}"
    if config is None and dataclasses.is_dataclass(getattr(model, "config", None)):
        config = {"model": {"name": model_name, "config": dataclasses.asdict(model.config)}}
    n_params = sum(p.numel() for p in model.parameters())
    now = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z").strip()

    was_training = model.training
    model.eval()
    try:
        parts = [
            f"<header><h1>{_esc(title)}</h1>\n"
            + (f'<p class="banner" id="unfinished">{_esc(unfinished)}</p>\n' if unfinished else "")
            + _selection_note(records)
            + f"<p class=\"meta\">model <code>{_esc(model_name)}</code>"
            f" ({n_params:,} parameters; can {_esc(', '.join(capabilities(model)))})"
            f" &middot; data <code>{_esc(data_name)}</code>"
            f" {_esc(tuple(x.shape))} &middot; written {_esc(now)}</p></header>"
        ]

        table, columns = final_metrics_rows(records)
        if composed:
            column = "test, whole run"
            columns = [*columns, column]
            shown = {row["metric"]: row for row in table}
            for key, value in composed.items():
                if key not in shown:
                    shown[key] = {"metric": key}
                    table.append(shown[key])
                shown[key][column] = value
        if records or composed:
            note = ('<p class="meta">The last record of each split; a training term ("model/sq_err") is in the row '
                    "of the evaluation metric of the same name; &ndash;: not recorded for that split.</p>")
            if composed:
                note = note.replace("</p>", " &ldquo;test, whole run&rdquo;: the run's model with its later stages "
                                    "(a prior) on the test split, evaluated when this report was written.</p>")
            body = metrics_table_html(table, columns, missing="\u2013")
            parts.append(_section("metrics", "Final metrics", body + note))

        parts.append(_section("curves", "Training curves", _stage_curves(records, stages)))

        n = min(int(n_recon), x.shape[0])
        autoencoder = is_autoencoder(model)  # a density model (a prior) has no codes to draw
        images = x.dim() == 4  # (N, C, H, W); documents are word counts (N, V)
        vocabulary = getattr(data, "vocabulary", None)
        if n > 0 and isinstance(model, Restorer) and corruption:
            parts.append(_section("denoising", "Denoising", _denoising(model, x[:n], corruption)))
        if n > 0 and autoencoder and images:
            parts.append(_section("reconstructions", "Reconstructions", _reconstructions(model, x[:n])))
        elif n > 0 and autoencoder and vocabulary is not None:
            parts.append(_section("reconstructions", "Reconstructions", _word_reconstructions(model, data, vocabulary)))

        if isinstance(model, BinaryCoder) and x.shape[0] > 0:
            parts.append(_section("code-usage", "Code usage", _code_usage(model, x)))

        if retrieval_curve is not None and isinstance(model, BinaryCoder) and database is not None \
                and x.shape[0] > 0:
            parts.append(_section("retrieval", "Retrieval", _retrieval(model, data, database, retrieval_curve)))
        elif isinstance(model, BinaryCoder) and (getattr(data, "y", None) is None
                                                 or getattr(database, "y", 0) is None):
            from ..eval.retrieval import no_labels

            why = no_labels(getattr(data, "kind", "image"))
            parts.append(_section("retrieval", "Retrieval", f'<p class="meta">{_esc(why[0].upper() + why[1:])}.</p>'))

        if autoencoder and images:
            parts.append(_section("interpolations", "Interpolations", _interpolations(model, x)))

        if x.shape[0] > 0 and max_map_points > 0 and autoencoder:
            code_map = _code_map(model, data, model_name, data_name, max_map_points)
            parts.append(_section("codes", "2-D code map", code_map))

        if isinstance(model, Sampler) and autoencoder and images:
            parts.append(_section("samples", "Samples", _samples(model, tuple(x.shape[1:]))))
    finally:
        model.train(was_training)

    for i, (sec_title, raw_html) in enumerate(extra_sections or []):
        parts.append(_section(f"extra-{i}", sec_title, raw_html))

    if config:  # last: the reference a reader looks things up in, often a hundred rows long
        rows = [{"key": k, "value": v} for k, v in flatten_config(config)]
        parts.append(_section("config", "Configuration", metrics_table_html(rows, ["key", "value"])))

    page_title = f"[unfinished] {title}" if unfinished else title
    doc = (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(page_title)}</title>\n<style>\n{_CSS}\n</style>\n</head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body>\n</html>\n"
    )
    return RunFolder(run_dir).write_report(doc)
