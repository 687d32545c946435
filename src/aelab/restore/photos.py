"""Restoring a user's photos with a trained denoiser: any size and 1 or 3 channels, by overlapping patches of the
model's input size, restored independently and blended without seams (tiling.py); inpainting keeps every known
pixel and fills the holes (corruption.inpaint). A fully convolutional model (`AnySize`: dncnn) restores the whole
photo at once, or, past MAX_PIXELS, tile by tile with windows overlapping by its receptive field (tiling.halo_tiles),
which gives the whole photo's result."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import torch

from ..corruption import inpaint
from ..errors import ConfigError, DataError
from ..models.capabilities import AnySize, Restorer
from .tiling import halo_tiles, tile, untile

__all__ = ["BATCH", "LUMA_601", "MAX_PIXELS", "patch_size", "match_channels", "denoise_image", "inpaint_image",
           "read_mask", "whole_image"]

BATCH = 256  # patches per forward pass
LUMA_601 = (0.299, 0.587, 0.114)  # ITU-R BT.601, what Pillow's "L" and data.dataset.to_grayscale use
# pixels a fully convolutional model restores in one pass: 2 megapixels (a 1920x1080 frame), whose 48-map float32
# feature maps take 400 MB each; a larger photo goes by tiles, with the same result
MAX_PIXELS = 2**21


def patch_size(model) -> tuple[int, int]:
    """(channels, side) of the square images the model takes; a one-line error for any other input or model."""
    if not isinstance(model, Restorer):
        raise ConfigError(f"model {model.name!r} does not restore (it never trains on corrupted inputs); use a "
                          f"denoiser: ae, vae, vqvae, ... trained with --corrupt")
    shape = tuple(model.input_shape)
    if len(shape) != 3:
        raise ConfigError(f"model {model.name!r} takes {shape} vectors, not images: it cannot restore photos")
    c, h, w = shape
    if h != w:
        raise ConfigError(f"model {model.name!r} takes {h}x{w} images; restoring photos by patches needs a square input")
    return int(c), int(h)


def match_channels(image: np.ndarray, channels: int, name: str | None = None) -> np.ndarray:
    """image (..., C, H, W) with `channels` (1 or 3) channels: 1->3 repeats, 3->1 is BT.601 luma, RGBA drops alpha."""
    a = np.asarray(image)
    if a.ndim < 3:
        raise ValueError(f"match_channels needs (..., C, H, W), got shape {a.shape}")
    have = int(a.shape[-3])
    what = name if name is not None else "the image"
    if channels not in (1, 3) or have not in (1, 3, 4):
        raise DataError(
            f"{what} has {have} channel(s) and the model takes {channels}; aelab converts images of 1, 3 or 4 (RGBA) "
            "channels to models of 1 or 3"
        )
    if have == 4:  # alpha is dropped, not composited: the same rule as read_image's for RGBA files
        print(f"aelab: note: {what} has an alpha channel; it is ignored", file=sys.stderr)
        a = a[..., :3, :, :]
        have = 3
    if have == channels:
        return a
    if channels == 3:
        return np.repeat(a, 3, axis=-3)
    luma = np.asarray(LUMA_601, dtype=np.result_type(a.dtype, np.float32)).reshape(3, 1, 1)
    return (a * luma).sum(axis=-3, keepdims=True)


def _forward(model, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        return model.restore(t).clamp(0, 1).numpy()


def _by_batches(fn, *arrays: np.ndarray) -> np.ndarray:
    return np.concatenate([fn(*(a[i : i + BATCH] for a in arrays)) for i in range(0, len(arrays[0]), BATCH)])


def _prepare(model, image: np.ndarray, name: str | None, stride: int | None) -> tuple[np.ndarray, int, int, int]:
    c, p = patch_size(model)
    img = match_channels(np.asarray(image, np.float32), c, name)
    if isinstance(model, AnySize):
        if stride is not None:
            raise ConfigError(f"--stride sets the patches of a model restoring by patches; {model.name!r} restores "
                              f"the whole photo (leave --stride out)")
        return img, c, p, 0
    stride = stride or max(1, p // 4)  # a quarter patch: every pixel averaged over up to 16 patches
    if not 1 <= stride <= p:
        raise ConfigError(f"--stride must be from 1 to the patch size {p}, got {stride}")
    return img, c, p, stride


def whole_image(model: AnySize, image: np.ndarray, holes: np.ndarray | None = None,
                tile_size: int | None = None, progress: str | None = None) -> np.ndarray:
    """A fully convolutional model's restoration of a (C, H, W) image (the model's channels), `holes` ((H, W) bool)
    given to it as unknown: in one pass when `tile_size` is None and it has at most MAX_PIXELS, else by cores of that
    side (default: the side whose window, `model.halo` wider on each side, fits MAX_PIXELS; tiling.halo_tiles).
    `progress` names a bar of the tiles shown on a terminal (stderr) while they run."""
    from ..batching import progress_bar

    c, h, w = image.shape
    halo = int(model.halo)
    if tile_size is None:
        tile_size = max(h, w) if h * w <= MAX_PIXELS else max(1, int(MAX_PIXELS**0.5) - 2 * halo)
    out = np.empty((c, h, w), np.float32)
    tiles = halo_tiles((h, w), tile_size, halo)
    bar = progress_bar(len(tiles), progress or "", progress is not None and len(tiles) > 1)
    for t in tiles:
        x = torch.from_numpy(np.ascontiguousarray(image[(slice(None), *t.window)], dtype=np.float32))[None]
        known = None if holes is None else torch.from_numpy(~holes[t.window])[None, None].expand_as(x)
        with torch.no_grad():
            restored = model.restore(x, known)[0].clamp(0, 1).numpy()
        out[(slice(None), *t.core)] = restored[(slice(None), *t.inner)]
        bar.update(1)
    bar.close()
    return out


def denoise_image(model, image: np.ndarray, stride: int | None = None, name: str | None = None,
                  tile_size: int | None = None, progress: str | None = None) -> np.ndarray:
    """(C, H, W) in [0, 1] -> the model's restoration, same shape and channels as given (`tile_size`, `progress`:
    whole_image's)."""
    img, _, p, stride = _prepare(model, image, name, stride)
    if isinstance(model, AnySize):
        return match_channels(whole_image(model, img, tile_size=tile_size, progress=progress),
                              image.shape[0]).clip(0, 1)
    patches, layout = tile(img, p, stride)
    out = untile(_by_batches(lambda b: _forward(model, b), patches), layout)
    return match_channels(out, image.shape[0]).clip(0, 1)


def inpaint_image(model, image: np.ndarray, holes: np.ndarray, iterations: int = 1, stride: int | None = None,
                  name: str | None = None, tile_size: int | None = None, progress: str | None = None) -> np.ndarray:
    """Fill `holes` ((H, W) bool, True = missing) of a (C, H, W) image; every other pixel stays exactly as given.

    A fully convolutional model is told the holes (its mask channel) in one pass: feeding its guess back would only
    give it the pass it was trained on again, so `iterations` change nothing there."""
    holes = np.asarray(holes, bool)
    if holes.shape != image.shape[1:]:
        raise DataError(f"the mask is {holes.shape[0]}x{holes.shape[1]} but {name or 'the image'} is "
                        f"{image.shape[1]}x{image.shape[2]}")
    img, c, p, stride = _prepare(model, image, name, stride)
    if isinstance(model, AnySize):
        filled = match_channels(whole_image(model, img, holes, tile_size, progress), image.shape[0])
        return np.where(holes[None], filled, image).clip(0, 1).astype(np.float32)  # known pixels exactly as given
    patches, layout = tile(img, p, stride)
    hole_patches, _ = tile(np.repeat(holes[None].astype(np.float32), c, axis=0), p, stride)

    def fill(x: np.ndarray, h: np.ndarray) -> np.ndarray:
        t, m = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(h > 0.5)
        return inpaint(lambda b: torch.from_numpy(_forward(model, b.numpy())), t, m, iterations).numpy()

    filled = untile(_by_batches(fill, patches, hole_patches), layout)
    out = np.where(holes[None], match_channels(filled, image.shape[0]), image)  # known pixels exactly as given
    return out.clip(0, 1).astype(np.float32)


_BOX = re.compile(r"^box:(\d+),(\d+),(\d+),(\d+)$")


def read_mask(spec: str, size: tuple[int, int]) -> np.ndarray:
    """Holes (H, W) bool from `box:x,y,w,h` (joined by '+' for several) or a mask image (white = missing)."""
    h, w = size
    if spec.startswith("box:"):
        holes = np.zeros((h, w), bool)
        for part in spec.split("+"):
            m = _BOX.match(part.strip())
            if not m:
                raise ConfigError(f"mask {part!r}: write box:x,y,w,h (left, top, width, height in pixels), "
                                  f"several joined by '+'")
            x, y, bw, bh = (int(g) for g in m.groups())
            if bw < 1 or bh < 1 or x >= w or y >= h:
                raise ConfigError(f"mask {part!r} lies outside the {w}x{h} image (x, y from 0; width, height >= 1)")
            holes[y : y + bh, x : x + bw] = True
        return holes
    from ..data.images import read_image

    path = Path(spec).expanduser()
    if not path.exists():
        raise DataError(f"mask {spec}: no such file (give an image, white = missing, or box:x,y,w,h)")
    mask = read_image(path, grayscale=True)[0].numpy() > 0.5
    if mask.shape != (h, w):
        raise DataError(f"the mask {path} is {mask.shape[1]}x{mask.shape[0]} but the image is {w}x{h}")
    return mask
