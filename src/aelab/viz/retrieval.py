"""The report's retrieval section for a model with binary codes: the precision-recall curve by Hamming radius, and
a few test queries with what they retrieve from the training items (images, or the first words of documents)."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .plots import _png

QUERIES = 3  # test items shown as queries
SHOWN = 6  # hits shown per query


def pr_curve_png(curve: dict[str, list[float]], title: str) -> bytes:
    """Precision against recall, one point per Hamming radius r (labelled for small r)."""
    fig = Figure(figsize=(4.6, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    recall, precision = curve["recall"], curve["precision"]
    ax.plot(recall, precision, marker="o", markersize=3)
    for r in range(min(5, len(recall))):
        ax.annotate(f"r={r}", (recall[r], precision[r]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=9)
    return _png(fig)


def bit_shares_png(ones: list[float], title: str) -> bytes:
    """Each bit's share of items with that bit on: a bar per bit, the balanced half marked."""
    fig = Figure(figsize=(max(3.0, min(9.0, 0.14 * len(ones) + 1.5)), 2.6))
    ax = fig.add_subplot(1, 1, 1)
    ax.bar(range(len(ones)), ones, width=0.8, color=["#c0392b" if v in (0.0, 1.0) else "#4a78a8" for v in ones])
    ax.axhline(0.5, color="#555", linewidth=0.8, linestyle="--")
    ax.set_xlabel("bit")
    ax.set_ylabel("share of items with it on")
    ax.set_ylim(0, 1)
    ax.set_xlim(-0.6, len(ones) - 0.4)
    ax.set_title(title, fontsize=9)
    return _png(fig)


def _first_words(text: str, n: int = 14) -> str:
    words = text.split()
    return " ".join(words[:n]) + (" …" if len(words) > n else "")


def examples_html(query_codes: np.ndarray, queries: Any, db_codes: np.ndarray, database: Any,
                  img_tag, image_png) -> str:
    """Each shown query, then its nearest training items by Hamming distance (ties by position), relevant marked ✓."""
    from ..index import Index

    rows = []
    picks = np.linspace(0, len(query_codes) - 1, num=min(QUERIES, len(query_codes))).round().astype(int)
    classes = list(getattr(queries, "classes", None) or [])

    def label(y: int | None) -> str:
        if y is None:
            return ""
        return classes[y] if 0 <= y < len(classes) else str(y)

    index = Index(db_codes.shape[1])
    index.add(db_codes)  # ids are positions, so ties go to the earlier training item
    dist, nearest = index.search(query_codes[picks], SHOWN)
    for row, q in enumerate(picks):
        qy = None if queries.y is None else int(queries.y[q])
        hits = [(int(i), int(d), None if database.y is None else int(database.y[i]))
                for i, d in zip(nearest[row], dist[row]) if i >= 0]
        if getattr(queries, "texts", None) is not None:
            items = "".join(
                f"<li class='{'rel' if y == qy else 'irr'}'>{'✓' if y == qy else '✗'} d={d} · "
                f"<b>{html.escape(label(y))}</b>: "
                f"{html.escape(_first_words(database.texts[i]))}</li>" for i, d, y in hits)
            rows.append(f"<div class='query'><p><b>query</b> ({html.escape(label(qy))}): "
                        f"{html.escape(_first_words(queries.texts[q]))}</p><ol>{items}</ol></div>")
        else:
            import torch

            grid = torch.stack([queries.x[q], *[database.x[i] for i, _, _ in hits]])
            marks = " ".join(f"d={d}{'✓' if y == qy else '✗' if qy is not None else ''}" for _, d, y in hits)
            rows.append(f"<div class='query'><p><b>query</b> (first) and its {len(hits)} nearest codes: "
                        f"{html.escape(marks)}</p>{img_tag(image_png(grid), 'query and hits', pixels=True)}</div>")
    return "".join(rows)
