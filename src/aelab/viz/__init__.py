"""Pictures: image grids and PNGs, 2-D code maps, loss curves, and the HTML run report.

The names load on first use (PEP 562), so a command that draws nothing does not import matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "make_grid": "images", "save_image": "images", "png_bytes": "images", "load_image": "images",
    "code_map_png": "plots", "side_by_side_code_maps_png": "plots", "loss_curves_png": "plots",
    "write_report": "report", "metrics_table_html": "report",
}
__all__ = list(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
