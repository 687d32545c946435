"""`aelab sample`: draw samples from a generative model: a PNG grid or a .npy array."""

from __future__ import annotations

import argparse

from ..errors import ConfigError
from .common import check_output, need, positive_int, seed_int, write_images, path_arg

HELP = "draw samples from a generative model: a PNG grid or a .npy array"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `aelab sample`."""
    p.add_argument("run", type=path_arg)
    p.add_argument("-n", type=positive_int, default=64)
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the draws")
    p.add_argument("-o", "--output", type=path_arg, required=True, help=".png grid or .npy array")
    p.add_argument("--overwrite", action="store_true")


def run(args: argparse.Namespace) -> int:
    import torch

    from ..models.capabilities import Encoder, Sampler
    from ..api import load

    check_output(args.output, args.overwrite)
    model = load(args.run)
    if not isinstance(model, Sampler):
        need(model, (Encoder,), "sample")  # no codes: no prior could be trained on them either
        raise ConfigError(f"model {model.name!r} has no prior to sample from; use a generative model (e.g. vae) or "
                          f"train a prior on its codes: aelab train --from {args.run} --prior gmm")
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator(device).manual_seed(args.seed)  # the draws are made on the model's device
    with torch.no_grad():
        images = model.sample(args.n, generator=gen).cpu()
    write_images(args.output, images, nrow=min(8, args.n))
    print(f"wrote {args.n} samples (seed {args.seed}) to {args.output}")
    return 0
