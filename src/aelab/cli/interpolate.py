"""`aelab interpolate`: decode the straight line between the codes of two examples."""

from __future__ import annotations

import argparse

from ..errors import ConfigError
from .common import add_data_args, check_output, need, nonneg_int, positive_int, run_data, write_images, path_arg

HELP = "decode the straight line between the codes of two examples"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `aelab interpolate`."""
    p.add_argument("run", type=path_arg)
    add_data_args(p, default=None)
    p.add_argument("--split", default="test", choices=["train", "test", "all"])
    p.add_argument("--from", dest="i", type=nonneg_int, required=True, help="index of the first example")
    p.add_argument("--to", dest="j", type=nonneg_int, required=True, help="index of the last example")
    p.add_argument("--steps", type=positive_int, default=10)
    p.add_argument("-o", "--output", type=path_arg, required=True, help=".png strip (ends are the real images) or .npy")
    p.add_argument("--overwrite", action="store_true")


def run(args: argparse.Namespace) -> int:
    import torch

    from ..eval.interpolation import interpolate
    from ..models.capabilities import Decoder, Encoder

    check_output(args.output, args.overwrite)
    model, data, _ = run_data(args, args.split)
    need(model, (Encoder, Decoder), "interpolate between codes")
    for which, i in (("--from", args.i), ("--to", args.j)):
        if i >= len(data):
            raise ConfigError(f"{which} {i} is out of range: the {args.split} split of {data.name} has {len(data)} examples")
    path = interpolate(model, data.x[args.i], data.x[args.j], args.steps)
    if args.output.suffix == ".npy":
        write_images(args.output, path, nrow=args.steps)
    else:  # the real images at both ends, the decoded path between them
        strip = torch.cat([data.x[args.i : args.i + 1], path, data.x[args.j : args.j + 1]])
        write_images(args.output, strip, nrow=len(strip))
    print(f"wrote a {args.steps}-step interpolation from example {args.i} to {args.j} to {args.output}")
    return 0
