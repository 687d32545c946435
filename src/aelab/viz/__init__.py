"""Pictures: image grids and PNGs, 2-D code maps, loss curves, and the HTML run report."""

from .images import load_image, make_grid, png_bytes, save_image
from .plots import code_map_png, loss_curves_png, side_by_side_code_maps_png
from .report import metrics_table_html, write_report

__all__ = [
    "make_grid",
    "save_image",
    "png_bytes",
    "load_image",
    "code_map_png",
    "side_by_side_code_maps_png",
    "loss_curves_png",
    "write_report",
    "metrics_table_html",
]
