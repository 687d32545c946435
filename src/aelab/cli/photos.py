"""What `aelab denoise` and `aelab inpaint` share: a run's model, photos from a file or a folder, PNG outputs."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import ConfigError, DataError
from .common import path_arg, positive_int


WRITABLE = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}  # what a restored photo is written as, by its name
JPEG_QUALITY = 95


def add_photo_args(p: argparse.ArgumentParser, verb: str) -> None:
    p.add_argument("run", type=path_arg, help="a run folder of a model trained on images (best: with --corrupt)")
    p.add_argument("input", type=path_arg, help="an image file, or a folder of them (read recursively)")
    p.add_argument("output", type=path_arg, nargs="?", default=None,
                   help="the restored image (.png, .jpg or .jpeg) for a file; a folder (created) for a folder, the "
                        f"same relative names; default: beside the input, its name with '-{verb}' added (a file "
                        "keeps its format, PNG for formats other than PNG and JPEG)")
    p.add_argument("-o", "--output", dest="output_option", metavar="OUTPUT", type=path_arg, default=None,
                   help="the same as OUTPUT, as an option")
    p.add_argument("--stride", type=positive_int, default=None,
                   help="pixels between overlapping patches (default: a quarter of the model's input side)")
    p.add_argument("--overwrite", action="store_true", help="replace outputs that exist (never the input)")
    p.add_argument("--no-progress", action="store_true", help="no bar of a large photo's tiles on a terminal")


def _named_output(path: Path, verb: str) -> Path:
    """Where a photo's restoration goes by default: beside it, '-verb' added, its format kept if writable."""
    suffix = path.suffix if path.suffix.lower() in WRITABLE else ".png"
    return path.with_name(f"{path.stem}-{verb}{suffix}")


def _writable_name(path: Path) -> Path:
    return path if path.suffix.lower() in WRITABLE else path.with_suffix(".png")


def _outputs(args: argparse.Namespace, verb: str) -> list[tuple[Path, Path]]:
    from ..data.images import list_images

    src = args.input
    if args.output is not None and args.output_option is not None:
        raise ConfigError(f"two outputs given ({args.output} and -o {args.output_option}); give one")
    out = args.output if args.output is not None else args.output_option
    if not src.exists():
        raise DataError(f"{src}: no such file or folder")
    if src.is_dir():
        files = list_images(src)
        if not files:
            raise DataError(f"no images in {src}")
        here = src.resolve()  # "." has no name of its own
        out = out if out is not None else here.with_name(f"{here.name}-{verb}")
        if out.exists() and not out.is_dir():
            raise ConfigError(f"{out} is a file; the restored images of a folder go to a folder")
        pairs = [(f, _writable_name(out / f.relative_to(src))) for f in files]
    else:
        out = out if out is not None else _named_output(src, verb)
        if out.suffix.lower() not in WRITABLE:
            raise ConfigError(f"output {out} must end in .png, .jpg or .jpeg")
        if out.is_dir():
            raise ConfigError(f"{out} is a folder; name the file to write")
        if not out.parent.exists():
            raise ConfigError(f"folder {out.parent} does not exist")
        pairs = [(src, out)]
    inputs = {f.resolve() for f, _ in pairs}
    onto = [o for _, o in pairs if o.resolve() in inputs]
    if onto:
        raise ConfigError(f"{onto[0]} is an input: a restoration never replaces the photo it restores; name another "
                          "output")
    taken = [o for _, o in pairs if o.exists()]
    if taken and not args.overwrite:
        more = f" and {len(taken) - 1} more" if len(taken) > 1 else ""
        raise ConfigError(f"{taken[0]}{more} already exist(s); use --overwrite to replace")
    return pairs


def encoded(pixels, alpha, suffix: str) -> bytes:
    """A restored photo's file bytes: uint8 (H, W, C) pixels (C = 1 grey, 3 colour), the input's alpha put back
    (PNG; JPEG holds none), upright (the input's EXIF orientation was applied on reading)."""
    import io

    from PIL import Image

    im = Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)
    fmt = WRITABLE[suffix.lower()]
    if alpha is not None and fmt == "PNG":
        im.putalpha(Image.fromarray(alpha))
    buf = io.BytesIO()
    im.save(buf, format=fmt, **({"quality": JPEG_QUALITY} if fmt == "JPEG" else {}))
    return buf.getvalue()


def restore_photos(args: argparse.Namespace, restore: Callable, verb: str) -> int:
    """Read each photo, `restore(model, image (C, H, W), name, progress)`, write it (PNG or JPEG, the input's size, grey or
    colour as the input, its alpha kept); one line per photo."""
    import numpy as np

    from ..data.images import read_alpha, read_image
    from ..fsio import atomic_write_bytes
    from ..restore import patch_size
    from ..api import load

    pairs = _outputs(args, verb)
    model = load(args.run)
    model.eval()
    patch_size(model)  # a model that cannot take patches says so before any photo is read
    for src, dst in pairs:
        t0 = time.time()
        image = read_image(src).numpy()
        out = restore(model, image, str(src), None if args.no_progress else f"{verb} {src.name}")
        dst.parent.mkdir(parents=True, exist_ok=True)
        pixels = (np.clip(out, 0, 1).transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)
        atomic_write_bytes(dst, encoded(pixels, read_alpha(src), dst.suffix))
        print(f"{verb} {src} ({image.shape[2]}x{image.shape[1]}, {image.shape[0]} channel(s)) -> {dst} "
              f"in {time.time() - t0:.1f} s")
    return 0
