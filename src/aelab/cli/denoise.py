"""`aelab denoise`: restore photos of any size with a trained denoiser, patch by patch."""

from __future__ import annotations

import argparse

from .photos import add_photo_args, restore_photos

HELP = "restore noisy photos (a file or a folder) with a model trained with --corrupt"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `aelab denoise`."""
    add_photo_args(p, "denoised")


def run(args: argparse.Namespace) -> int:
    from ..restore import denoise_image

    return restore_photos(args, lambda model, image, name, progress: denoise_image(model, image, args.stride, name,
                                                                                    progress=progress), "denoised")
