"""`aelab train`: train a model into a run folder (or add / re-run stages of a run)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigError, UsageError
from ..api.fit import DEFAULT_DATA
from ..recipes.ae import PRETRAIN_TRAIN
from ..recipes.priors import PRIOR_TRAIN
from .common import add_data_args, data_options, parse_sets, path_arg, positive_float, positive_int, print_metrics
from .train_flags import add_train_flags, flag_name, given_train_flags

HELP = "train a model into a run folder (or add / re-run stages of a run)"


def train_data_options(args: argparse.Namespace) -> dict:
    """The data flags as `load_dataset` keywords, --stream among them when given."""
    return {**data_options(args), **({"stream": True} if args.stream else {})}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `aelab train`."""
    p.add_argument("model", nargs="?", default=None, help="model name (see `aelab models`); optional with --from")
    add_data_args(p, default=None, default_text="digits; a resumed run reads its own")
    p.add_argument("--stream", action="store_true", default=None,
                   help="with a .npy file or a folder of images: read the training split from disk batch by batch "
                        "instead of holding it in memory (the same training, bit for bit; a folder is decoded once "
                        "into ~/.cache/aelab/image-folders, or $AELAB_CACHE; done anyway when it would take more "
                        "than half of this machine's memory)")
    p.add_argument("--out", type=path_arg, default=None, help="run folder (default runs/MODEL-DATA)")
    p.add_argument("--preset", default=None, help="a named architecture, e.g. hinton2006 (default: the preset named "
                   "after the data set, if the model has one; --preset none for the plain defaults)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="model config value, e.g. --set latent_dim=2 --set hidden=1000,500,250")
    p.add_argument("--bits", type=positive_int, default=None, metavar="N",
                   help="the code length of a model with binary codes (semhash): an alias of --set latent_dim=N")
    p.add_argument("--device", default="auto", help="auto (cuda, else mps, else cpu), cpu, cuda, cuda:N or mps; "
                   "not part of the run: a run may resume on another device")
    add_train_flags(p)
    p.add_argument("--pretrain", default=None, metavar="PLAN",
                   help="pre-training stages declared by the model, e.g. rbm (greedy RBMs, Science 2006) for ae")
    p.add_argument("--pretrain-epochs", type=positive_int, default=None, help=f"default {PRETRAIN_TRAIN['epochs']}")
    p.add_argument("--pretrain-lr", type=positive_float, default=None, help=f"default {PRETRAIN_TRAIN['lr']:g}")
    p.add_argument("--pretrain-batch-size", type=positive_int, default=None,
                   help=f"default {PRETRAIN_TRAIN['batch_size']}")
    p.add_argument("--prior", default=None, metavar="PLAN",
                   help="a prior stage trained on the model's codes after it, e.g. gmm (makes an autoencoder generative); "
                        "none: without the prior the model trains by default (the VQ-VAE's PixelCNN)")
    p.add_argument("--prior-epochs", type=positive_int, default=None, help=f"default {PRIOR_TRAIN['epochs']}")
    p.add_argument("--prior-lr", type=positive_float, default=None, help=f"default {PRIOR_TRAIN['lr']:g}")
    p.add_argument("--prior-batch-size", type=positive_int, default=None, help=f"default {PRIOR_TRAIN['batch_size']}")
    p.add_argument("--from", dest="from_run", type=path_arg, default=None, metavar="RUN",
                   help="work on an existing run: add the stage given by --prior, or re-run the --stage(s) named")
    p.add_argument("--stage", action="append", default=[], metavar="NAME",
                   help="with --from: train this stage again, and every stage built on it (needs --overwrite)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last committed checkpoint, with its recorded settings "
                        "(other settings are refused); with --epochs N or --more-epochs N, extend a run (on a "
                        "finished run the cosine schedule restarts over the added epochs)")
    p.add_argument("--more-epochs", type=positive_int, default=None, metavar="N",
                   help="with --resume: train N epochs more than the run has")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder (with --from: the stages retrained)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--no-report", action="store_true")
    p.add_argument("--log", action="append", default=[], choices=("tensorboard", "mlflow"),
                   help="log besides metrics.jsonl (repeatable): tensorboard (RUN/tensorboard; pip install "
                        "'aelab[tensorboard]') or mlflow (pip install 'aelab[mlflow]')")
    p.add_argument("--mlflow-uri", default=None, metavar="URI",
                   help="MLflow tracking URI for --log mlflow (default: MLflow's own, MLFLOW_TRACKING_URI)")
    p.add_argument("--mlflow-experiment", default="aelab", metavar="NAME", help="MLflow experiment (default aelab)")


def _stage_train(args: argparse.Namespace, prefix: str) -> dict[str, Any]:
    """--pretrain-* or --prior-* given on the command line, by TrainConfig field."""
    return {k: getattr(args, f"{prefix}_{k}") for k in ("epochs", "lr", "batch_size")
            if getattr(args, f"{prefix}_{k}") is not None}


def run(args: argparse.Namespace) -> int:
    """Train (or add to / re-train stages of) a run; under torchrun, on every process it started."""
    import torch.distributed

    from ..train.distributed import from_environment

    ranks, device = from_environment(args.device)  # several processes under torchrun, else one
    if not ranks.main:  # rank 0 alone speaks and writes
        sys.stdout = open(os.devnull, "w")
        args.no_report = True
    try:
        if args.from_run is not None:
            return _train_from(args, ranks, device)
        return _train(args, ranks, device)
    finally:
        if ranks.distributed:
            torch.distributed.destroy_process_group()


def _train(args: argparse.Namespace, ranks, device: str) -> int:
    from ..api import fit
    from ..runs import RunFolder

    if args.stage:
        raise UsageError("--stage names a stage of an existing run: give the run with --from RUN")
    if args.model is None and args.resume and args.out is not None and RunFolder(args.out).is_run():
        args.model = RunFolder(args.out).read_spec().model  # the run knows what it trains
    if args.model is None:
        raise UsageError("name the model to train (see `aelab models`), or give an existing run with --from RUN")
    _bits_alias(args)
    out = args.out or Path("runs") / f"{args.model}-{Path(str(args.data or DEFAULT_DATA)).stem}"
    if args.resume and RunFolder(out).is_empty():
        print(f"nothing to resume in {out} (killed before the run was recorded); starting it")
        args.resume = False
    if args.resume:
        stored = RunFolder(out).read_spec()
        if stored.model != args.model:
            raise ConfigError(f"{out} holds a {stored.model!r} run, not {args.model!r}")
        _refuse_changes(args, stored)
        run = fit(args.model, args.data, out=out, data_dir=args.data_dir, resume=True, epochs=_extension(args, stored),
                  overwrite=args.overwrite, device=device, progress=not args.no_progress,
                  report=not args.no_report, log=_loggers(args), ranks=ranks)
    else:
        run = fit(args.model, args.data, out=out, preset=args.preset, config=parse_sets(args.set),
                  train=given_train_flags(args), pretrain=args.pretrain, pretrain_train=_stage_train(args, "pretrain"),
                  prior=args.prior, prior_train=_stage_train(args, "prior"), data_dir=args.data_dir,
                  data_options=train_data_options(args), overwrite=args.overwrite, device=device,
                  progress=not args.no_progress, report=not args.no_report, log=_loggers(args), ranks=ranks)
    return _after_training(run, args)


def _loggers(args: argparse.Namespace) -> list:
    """--log's loggers, MLflow's with --mlflow-uri and --mlflow-experiment."""
    if (args.mlflow_uri or args.mlflow_experiment != "aelab") and "mlflow" not in args.log:
        raise UsageError("--mlflow-uri and --mlflow-experiment go with --log mlflow")
    from ..viz.loggers import MLflowLogger, make_loggers

    return [MLflowLogger(args.mlflow_uri, args.mlflow_experiment) if name == "mlflow" else make_loggers(name)[0]
            for name in dict.fromkeys(args.log)]


def _bits_alias(args: argparse.Namespace) -> None:
    """--bits N is --set latent_dim=N, for models whose codes are binary."""
    if args.bits is None:
        return
    from ..config import current_keys
    from ..models import BinaryCoder, model_class, model_names

    cls = model_class(args.model)  # a one-line error for an unknown model
    if not issubclass(cls, BinaryCoder):
        binary = [m for m in model_names() if issubclass(model_class(m), BinaryCoder)]
        raise UsageError(f"--bits is the code length of a model with binary codes ({', '.join(binary)}); "
                         f"{args.model} has none: use --set latent_dim=N")
    if "latent_dim" in current_keys(cls.Config, parse_sets(args.set), f"{args.model} config"):
        raise UsageError("--bits N is --set latent_dim=N: give one of them")
    args.set = [*args.set, f"latent_dim={args.bits}"]


def _refuse_changes(args: argparse.Namespace, spec) -> None:
    """--resume continues the run as recorded: a flag whose value differs from the run's is refused (all named in
    one line); repeating the run's own command with --resume added is fine."""
    import json

    from .. import recipes
    from ..config import current_keys
    from ..models import model_class
    from ..train.plan import full_config

    if args.overwrite and not (args.epochs or args.more_epochs):
        raise UsageError("--resume continues a run and --overwrite replaces it: give one of them")

    def norm(v: Any) -> Any:
        return json.loads(json.dumps(v))

    changed: list[str] = []

    def compare(flag: str, given: Any, have: Any) -> None:
        if norm(given) != norm(have):
            shown = ",".join(map(str, given)) if isinstance(given, (list, tuple)) else given
            changed.append(f"{flag}{'' if flag.endswith('=') else ' '}{shown} (the run has "
                           f"{'none' if have is None else have})")

    main, before, after = spec.main, spec.before_main(), spec.after_main()
    for key, value in given_train_flags(args).items():
        if key == "update_options":
            for update, options in value.items():
                for k, v in options.items():
                    compare(f"--update-opt {update}.{k}", v, main.train.option(update, k))
        elif key != "epochs":
            compare(flag_name(key), value, getattr(main.train, key))
    full = full_config(main.model, main.model_config, saved=True)
    cls = model_class(main.model).Config  # a key given or recorded under its old name is compared under its new one
    sets = current_keys(cls, parse_sets(args.set), f"{main.model} config")
    as_set = full_config(main.model, {**current_keys(cls, main.model_config, f"{main.model} config"), **sets},
                         saved=True)
    for key, value in sets.items():
        if as_set.get(key) != full.get(key):
            compare(f"--set {key}=", value, full.get(key))
    family = recipes.family(main.model)
    if args.preset and args.preset != "none":
        preset, _ = recipes.preset(main.model, args.preset)
        mismatched = [k for k, v in preset.items() if k != "input_shape" and norm(v) != norm(full.get(k))]
        if mismatched:
            changed.append(f"--preset {args.preset} (the run differs in {', '.join(mismatched)})")
    for flag, plan, stages, kind in (("--pretrain", args.pretrain, before, "pretrain"), ("--prior", args.prior, after, "prior")):
        if plan == "none" and kind == "prior" and stages:
            changed.append(f"{flag} none (the run has {', '.join(s.name for s in stages)})")
        elif plan and plan != "none" and (plan not in family.plans.get(kind, {}) or not stages):
            changed.append(f"{flag} {plan} (the run has {', '.join(s.name for s in stages) or 'no such stages'})")
    for prefix, stages in (("pretrain", before), ("prior", after)):
        for key in ("epochs", "lr", "batch_size"):
            value = getattr(args, f"{prefix}_{key}")
            if value is not None:
                compare(f"--{prefix}-{key.replace('_', '-')}", value, getattr(stages[0].train, key) if stages else None)
    for key, value in train_data_options(args).items():
        if value is not None:
            compare(f"--{key.replace('_', '-')}", value, spec.data_options.get(key))
    if changed:
        raise UsageError(f"--resume continues the run with its recorded settings; {'; '.join(changed)} cannot change "
                         "now (--epochs N or --more-epochs N extends it; a new run takes a new --out)")


def _extension(args: argparse.Namespace, spec) -> int | None:
    """The main stage's new number of epochs, when --epochs/--more-epochs asks to train longer; else None."""
    if args.epochs is not None and args.more_epochs is not None:
        raise UsageError("give --epochs N (the new total) or --more-epochs N, not both")
    have = spec.train.epochs
    wanted = have + args.more_epochs if args.more_epochs is not None else args.epochs
    if wanted is None or wanted == have:
        return None
    if wanted < have:
        raise ConfigError(f"the run has {have} epochs; --epochs can extend it, not shorten it")
    return wanted


def _after_training(run, args: argparse.Namespace) -> int:
    if run.test is not None:
        print_metrics(run.metrics, f"{run.spec.model} on {run.spec.data} (test split)")
    if not args.no_report:
        print(f"report: {run.folder.report_path}")
    print(f"run folder: {run.path}")
    return 0


def _train_from(args: argparse.Namespace, ranks, device: str) -> int:
    """`aelab train --from RUN --prior gmm` (add a stage) or `--stage NAME --overwrite` (train it again)."""
    from ..api import fit
    from ..recipes.priors import prior_train
    from ..runs import RunFolder
    from ..train.plan import prior_stages
    from ..train.run import retrain

    run = args.from_run
    stored = RunFolder(run).read_spec()
    if args.model is not None and args.model != stored.model:
        raise ConfigError(f"{run} holds a {stored.model!r} run, not {args.model!r}")
    ignored = [flag_name(k) for k in given_train_flags(args)] + (["--preset"] if args.preset else [])
    ignored += [flag for flag, given in (("--pretrain", args.pretrain), ("--resume", args.resume), ("--out", args.out),
                                         ("--set", args.set), ("--bits", args.bits)) if given]
    if ignored:
        raise UsageError(f"with --from RUN, {', '.join(ignored)} do(es) not apply: the run keeps its settings; add a "
                         "prior with --prior PLAN (and --prior-epochs ...) or train a stage again with --stage NAME")
    new = prior_stages(stored.main, args.prior, prior_train(stored.train.seed, **_stage_train(args, "prior"))) \
        if args.prior else []
    if not new and not args.stage:
        raise ConfigError(f"nothing to do on {run}: add a stage with --prior PLAN or name one to re-run with --stage "
                          f"(its stages: {', '.join(s.name for s in stored.stages)})")
    if args.stage and _stage_train(args, "prior") and not args.prior:
        raise ConfigError("--prior-epochs/--prior-lr/--prior-batch-size need --prior PLAN to say which prior to train")
    if ranks.main:
        retrain(run, new, args.stage, args.overwrite)
    ranks.barrier()
    result = fit(stored.model, args.data, out=run, data_dir=args.data_dir, resume=True, device=device,
                 progress=not args.no_progress, report=not args.no_report, ranks=ranks)
    return _after_training(result, args)
