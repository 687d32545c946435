"""`aelab encode`: write the codes of a data split to .npy."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError
from .common import add_data_args, refuse_existing, run_data

HELP = "write the codes of a data split to .npy"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `aelab encode`."""
    p.add_argument("run", type=Path)
    add_data_args(p, default=None)
    p.add_argument("--split", default="test", choices=["train", "test", "all"])
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from ..eval.reconstruction import encode_all
    from ..fsio import atomic_write_npy

    if args.output.suffix != ".npy":
        raise ConfigError(f"output {args.output} must end in .npy")
    refuse_existing(args.output, args.overwrite)
    model, data, _ = run_data(args, args.split)
    codes = encode_all(model, data.x, progress=None if args.no_progress else "encode").numpy()
    atomic_write_npy(args.output, codes)
    print(f"wrote {codes.shape[0]} codes of dimension {codes.shape[1]} to {args.output}")
    return 0
