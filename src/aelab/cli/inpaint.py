"""`aelab inpaint`: fill the holes of photos with a trained model; known pixels are kept exactly."""

from __future__ import annotations

import argparse

from .common import positive_int
from .photos import add_photo_args, restore_photos

HELP = "fill missing parts of photos (a mask image, white = missing, or box:x,y,w,h) with a trained model"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `aelab inpaint`."""
    add_photo_args(p, "inpainted")
    p.add_argument("--mask", required=True,
                   help="an image of the photo's size, white = missing; or box:x,y,w,h (left, top, width, height), "
                        "several joined by '+'")
    p.add_argument("--iterations", type=positive_int, default=1,
                   help="passes: each feeds the filled image back, so later passes see the first guess")


def run(args: argparse.Namespace) -> int:
    from ..restore import inpaint_image, read_mask

    def restore(model, image, name, progress):
        holes = read_mask(args.mask, image.shape[1:])
        return inpaint_image(model, image, holes, args.iterations, args.stride, name, progress=progress)

    return restore_photos(args, restore, "inpainted")
