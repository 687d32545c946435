"""`aelab eval`: evaluate a run on a data split."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import add_data_args, eval_data, nonneg_int, print_metrics, run_data

HELP = "evaluate a run on a data split"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `aelab eval`."""
    p.add_argument("run", type=Path)
    add_data_args(p, default=None)
    p.add_argument("--split", default="test", choices=["train", "test", "all"])
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--iw-samples", type=nonneg_int, default=1000,
                   help="importance samples for the NLL estimate of VAE-type models (0: skip it)")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from ..eval.suite import EvalOptions, evaluate_suite

    model, data, spec = run_data(args, args.split)
    x = eval_data(data.x, spec.train)
    options = EvalOptions(iw_samples=args.iw_samples, sample_quality=True, progress=not args.no_progress)
    metrics, details = evaluate_suite(model, x, options)
    if args.json:
        print(json.dumps({**metrics, **details}))
        return 0
    how = ", binarised with seed 0" if spec.train.binarize else ""
    print_metrics(metrics, f"{model.name} on {data.name} ({args.split} split, {len(data)} examples{how})")
    if "kl_per_dim" in details:
        kl = sorted(details["kl_per_dim"], reverse=True)
        print("  KL per latent dimension (nats, largest first): " + " ".join(f"{v:.2f}" for v in kl))
    if getattr(model.config, "likelihood", None) == "bernoulli" and not bool(((x == 0) | (x == 1)).all()):
        print("  note: the data is not binary, so the Bernoulli ELBO/NLL of grey levels is not a normalised "
              "likelihood; train with --binarize for comparable numbers")
    if "sample_frechet" in metrics:
        print("  sample_frechet: Fréchet distance in the features of aelab's MNIST classifier (not the Inception FID)")
    return 0
