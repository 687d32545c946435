"""`aelab eval`: evaluate a run on a data split."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from .common import add_data_args, data_options, eval_data, load_run_data, nonneg_int, path_arg, print_metrics, run_data

if TYPE_CHECKING:  # torch-free at import time: the CLI parser loads this module
    from ..eval.likelihood import IWPlan

HELP = "evaluate a run on a data split"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `aelab eval`."""
    p.add_argument("run", type=path_arg)
    add_data_args(p, default=None)
    p.add_argument("--split", default="test", choices=["train", "test", "all"])
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--iw-samples", type=iw_samples, default=None, metavar="K|auto",
                   help="importance samples k for the IWAE NLL of models with a likelihood (VAE): auto (the default) "
                        "takes the most of 50, 100, 200, 500, ... 5000 that fit about a minute on this machine, timed "
                        "on a first chunk; K uses exactly K; 0 skips the NLL. The choice and the expected time are "
                        "printed on stderr first. Given for a model without a likelihood, it is ignored with a "
                        "one-line warning")
    p.add_argument("--no-progress", action="store_true")


def iw_samples(text: str) -> int | str:
    """--iw-samples: "auto" or an integer >= 0 (argparse type)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return nonneg_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or an integer >= 0, got {text!r}") from None


def _say_plan(plan: "IWPlan") -> None:
    how = "auto: the most that fits about a minute here; " if plan.auto else ""
    print(f"{plan.describe()} ({how}--iw-samples to change)", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from ..eval.suite import EvalOptions, evaluate_suite
    from ..models.base import BINARY_CODES, LIKELIHOOD

    model, data, spec = run_data(args, args.split)
    x = eval_data(data.x, spec.train)
    k = "auto" if args.iw_samples is None else args.iw_samples
    if LIKELIHOOD not in model.capabilities():
        if args.iw_samples:  # an explicit 0 asks for what happens anyway
            print(f"aelab: warning: --iw-samples ignored: model {model.name!r} defines no likelihood p(x|z), so it "
                  "has no NLL to estimate", file=sys.stderr)
        k = 0
    options = EvalOptions(iw_samples=k, sample_quality=True, progress=not args.no_progress, on_iw_plan=_say_plan,
                          corruption=spec.train.corrupt)
    if BINARY_CODES in model.capabilities() and data.y is not None and args.split != "train":
        # the split's items as queries against the training items: the retrieval protocol of semantic hashing
        base = load_run_data(spec, "train", args.data, args.data_dir, data_options(args))
        options.labels, options.database = data.y, (eval_data(base.x, spec.train), base.y)
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
