"""The restoration layer: a user's photos of any size through a trained denoiser (`photos.py`), tile by tile
(`tiling.py`: overlapping tiles of the model's input size, blended back without seams; for a fully convolutional
model, the whole photo, or tiles whose windows overlap by its receptive field)."""

from .photos import denoise_image, inpaint_image, match_channels, patch_size, read_mask, whole_image
from .tiling import HaloTile, PatchLayout, blend_window, halo_tiles, tile, untile

__all__ = [
    "HaloTile",
    "PatchLayout",
    "blend_window",
    "denoise_image",
    "halo_tiles",
    "inpaint_image",
    "match_channels",
    "patch_size",
    "read_mask",
    "tile",
    "untile",
    "whole_image",
]
