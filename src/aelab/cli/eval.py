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
    p.add_argument("--interpolation", choices=["lines"], default=None,
                   help="score interpolations with a benchmark's metrics: lines (Berthelot et al. 2019: Mean "
                        "Distance and Smoothness of 16-step interpolations between 256 test pairs; the run's data "
                        "must be the lines images). On by itself for runs trained on lines; writes a strip picture "
                        "RUN/interpolation_lines.png")
    p.add_argument("--no-progress", action="store_true")


def iw_samples(text: str) -> int | str:
    """--iw-samples: "auto" or an integer >= 0 (argparse type)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return nonneg_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or an integer >= 0, got {text!r}") from None


def _lines_strip(model, x, run) -> str:
    """Eight seeded test pairs interpolated in 16 steps, the real images at both ends: RUN/interpolation_lines.png."""
    from pathlib import Path

    import torch

    from ..eval.lines import lines_interpolation
    from ..fsio import atomic_write_bytes
    from ..viz.images import png_bytes

    _, details = lines_interpolation(model, x, pairs=8, steps=16, seed=0)
    strips = details["strips"]
    path = Path(run) / "interpolation_lines.png"
    atomic_write_bytes(path, png_bytes(strips.flatten(0, 1), nrow=strips.shape[1], scale=2))
    return str(path)


def _say_plan(plan: "IWPlan") -> None:
    how = "auto: the most that fits about a minute here; " if plan.auto else ""
    print(f"{plan.describe()} ({how}--iw-samples to change)", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..eval.retrieval import no_labels
    from ..eval.suite import LINES_SHAPE, evaluate_suite, options_for
    from ..models.capabilities import BinaryCoder, LikelihoodBound, is_autoencoder

    model, data, spec = run_data(args, args.split)
    x = eval_data(data.x, spec.train)
    k = "auto" if args.iw_samples is None else args.iw_samples
    if not isinstance(model, LikelihoodBound):
        if args.iw_samples:  # an explicit 0 asks for what happens anyway
            print(f"aelab: warning: --iw-samples ignored: model {model.name!r} defines no likelihood p(x|z), so it "
                  "has no NLL to estimate", file=sys.stderr)
        k = 0
    options = options_for(spec.data, spec.train, iw_samples=k, sample_quality=True, progress=not args.no_progress,
                          on_iw_plan=_say_plan)
    if args.interpolation:
        if tuple(x.shape[1:]) != LINES_SHAPE or len(x) < 2:
            raise ConfigError(f"--interpolation lines needs a model of the lines images (1x32x32) evaluated on them; "
                              f"this split holds {len(x)} items of shape {tuple(x.shape[1:])}")
        options.interpolation = args.interpolation
    unlabelled = data.y is None
    if (isinstance(model, BinaryCoder) or is_autoencoder(model)) and data.y is not None and args.split != "train":
        # the split's items as queries against the training items (the retrieval protocol of semantic hashing),
        # and the training items' codes as the linear probe's training set
        base = load_run_data(spec, "train", args.data, args.data_dir, data_options(args))
        unlabelled = base.y is None
        if base.y is not None:
            options.labels, options.database = data.y, (eval_data(base.x, spec.train), base.y)
    metrics, details = evaluate_suite(model, x, options)
    why = no_labels(data.kind) if isinstance(model, BinaryCoder) and unlabelled and args.split != "train" else None
    if why and args.json:
        print(f"aelab: note: {why}", file=sys.stderr)
    strip = _lines_strip(model, x, args.run) if "lines_mean_distance" in metrics else None
    if args.json:
        print(json.dumps({**metrics, **details}))
        return 0
    how = ", binarised with seed 0" if spec.train.binarize else ""
    print_metrics(metrics, f"{model.name} on {data.name} ({args.split} split, {len(data)} examples{how})")
    if why:
        print(f"  {why}")
    if "kl_per_dim" in details:
        kl = sorted(details["kl_per_dim"], reverse=True)
        print("  KL per latent dimension (nats, largest first): " + " ".join(f"{v:.2f}" for v in kl))
    if getattr(model.config, "likelihood", None) == "bernoulli" and not bool(((x == 0) | (x == 1)).all()):
        print("  note: the data is not binary, so the Bernoulli ELBO/NLL of grey levels is not a normalised "
              "likelihood; train with --binarize for comparable numbers")
    if "probe_accuracy" in metrics:
        print(f"  probe_accuracy: a logistic regression trained on the codes of the first {details['probe_train']} "
              "training items (at most 10,000); cluster_accuracy: k-means on this split's codes, clusters matched "
              "to classes (ACAI, Tables 2 and 3)")
    if "lines_mean_distance" in metrics:
        print(f"  lines_*: Berthelot et al. 2019's interpolation metrics (lower is better; the paper quotes the mean "
              f"distance x 10^-3); strips: {strip}")
    if "sample_frechet" in metrics:
        print("  sample_frechet: Fréchet distance in the features of aelab's MNIST classifier (not the Inception FID)")
    return 0
