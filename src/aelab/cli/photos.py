"""What `aelab denoise` and `aelab inpaint` share: a run's model, photos from a file or a folder, PNG outputs."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import ConfigError, DataError
from .common import path_arg, positive_int


def add_photo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", type=path_arg, help="a run folder of a model trained on images (best: with --corrupt)")
    p.add_argument("input", type=path_arg, help="an image file, or a folder of them (read recursively)")
    p.add_argument("-o", "--output", type=path_arg, required=True,
                   help="the restored image (.png) for a file; a folder (created) for a folder, same relative names")
    p.add_argument("--stride", type=positive_int, default=None,
                   help="pixels between overlapping patches (default: a quarter of the model's input side)")
    p.add_argument("--overwrite", action="store_true", help="replace outputs that exist")


def _outputs(args: argparse.Namespace) -> list[tuple[Path, Path]]:
    from ..data.images import list_images

    src, out = args.input, args.output
    if not src.exists():
        raise DataError(f"{src}: no such file or folder")
    if src.is_dir():
        files = list_images(src)
        if not files:
            raise DataError(f"no images in {src}")
        if out.exists() and not out.is_dir():
            raise ConfigError(f"{out} is a file; the restored images of a folder go to a folder")
        pairs = [(f, out / f.relative_to(src).with_suffix(".png")) for f in files]
    else:
        if out.suffix.lower() != ".png":
            raise ConfigError(f"output {out} must end in .png")
        if out.is_dir():
            raise ConfigError(f"{out} is a folder; name the .png file to write")
        if not out.parent.exists():
            raise ConfigError(f"folder {out.parent} does not exist")
        pairs = [(src, out)]
    taken = [o for _, o in pairs if o.exists()]
    if taken and not args.overwrite:
        more = f" and {len(taken) - 1} more" if len(taken) > 1 else ""
        raise ConfigError(f"{taken[0]}{more} already exist(s); use --overwrite to replace")
    return pairs


def restore_photos(args: argparse.Namespace, restore: Callable, verb: str) -> int:
    """Read each photo, `restore(model, image (C, H, W), name)`, write it as PNG; one line per photo."""
    import numpy as np

    from ..data.images import read_image
    from ..fsio import atomic_write_bytes
    from ..restore import patch_size
    from ..api import load
    from ..viz.images import png_bytes

    pairs = _outputs(args)
    model = load(args.run)
    model.eval()
    patch_size(model)  # a model that cannot take patches says so before any photo is read
    for src, dst in pairs:
        t0 = time.time()
        image = read_image(src).numpy()
        out = restore(model, image, str(src))
        dst.parent.mkdir(parents=True, exist_ok=True)
        pixels = (np.clip(out, 0, 1).transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)
        atomic_write_bytes(dst, png_bytes(pixels[..., 0] if pixels.shape[2] == 1 else pixels))
        print(f"{verb} {src} ({image.shape[2]}x{image.shape[1]}, {image.shape[0]} channel(s)) -> {dst} "
              f"in {time.time() - t0:.1f} s")
    return 0
