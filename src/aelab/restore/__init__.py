"""The restoration layer: a user's photos of any size through a trained denoiser (`photos.py`), tile by tile
(`tiling.py`: overlapping tiles of the model's input size, blended back without seams)."""

from .photos import denoise_image, inpaint_image, match_channels, patch_size, read_mask
from .tiling import PatchLayout, blend_window, tile, untile

__all__ = [
    "PatchLayout",
    "blend_window",
    "denoise_image",
    "inpaint_image",
    "match_channels",
    "patch_size",
    "read_mask",
    "tile",
    "untile",
]
