"""`aelab reconstruct`: reconstruct data: a PNG grid (originals above) or a .npy array."""

from __future__ import annotations

import argparse

from .common import add_data_args, check_output, positive_int, run_data, write_images, path_arg

HELP = "reconstruct data: a PNG grid (originals above) or a .npy array"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `aelab reconstruct`."""
    p.add_argument("run", type=path_arg)
    add_data_args(p, default=None)
    p.add_argument("--split", default="test", choices=["train", "test", "all"])
    p.add_argument("-n", type=positive_int, default=32, help="images in the PNG grid")
    p.add_argument("-o", "--output", type=path_arg, required=True, help=".png grid or .npy array of all reconstructions")
    p.add_argument("--overwrite", action="store_true")


def run(args: argparse.Namespace) -> int:
    import torch

    from ..eval.reconstruction import reconstruct_all

    check_output(args.output, args.overwrite)
    model, data, _ = run_data(args, args.split)
    if args.output.suffix == ".npy":
        recon = reconstruct_all(model, data.x)
        write_images(args.output, recon, nrow=1)
        print(f"wrote {len(recon)} reconstructions to {args.output}")
        return 0
    x = data.x[: args.n]
    recon = reconstruct_all(model, x)
    nrow = min(16, len(x))
    rows = []
    for i in range(0, len(x), nrow):  # originals above their reconstructions, row by row
        rows += [x[i : i + nrow], recon[i : i + nrow]]
    write_images(args.output, torch.cat(rows), nrow=nrow)
    print(f"wrote {len(x)} originals and reconstructions to {args.output}")
    return 0
