"""`aelab train`: train a model into a run folder (or add / re-run stages of a run)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigError, UsageError
from .common import add_data_args, eval_data, parse_sets, positive_float, positive_int, print_metrics, write_run_report
from .train_flags import add_train_flags, flag_name, given_train_flags



PRIOR_TRAIN: dict[str, Any] = {"epochs": 50, "lr": 1e-2, "batch_size": 256}  # a prior over codes: small, fast

HELP = "train a model into a run folder (or add / re-run stages of a run)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `aelab train`."""
    p.add_argument("model", nargs="?", default=None, help="model name (see `aelab models`); optional with --from")
    add_data_args(p)
    p.add_argument("--out", type=Path, default=None, help="run folder (default runs/MODEL-DATA)")
    p.add_argument("--preset", default=None, help="a named architecture, e.g. hinton2006 (default: the preset named "
                   "after the data set, if the model has one; --preset none for the plain defaults)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="model config value, e.g. --set code_dim=2 --set hidden=1000,500,250")
    p.add_argument("--device", default="auto", help="auto (cuda, else mps, else cpu), cpu, cuda, cuda:N or mps; "
                   "not part of the run: a run may resume on another device")
    add_train_flags(p)
    p.add_argument("--pretrain", default=None, metavar="PLAN",
                   help="pre-training stages declared by the model, e.g. rbm (greedy RBMs, Science 2006) for ae")
    p.add_argument("--pretrain-epochs", type=positive_int, default=10)
    p.add_argument("--pretrain-lr", type=positive_float, default=0.1)
    p.add_argument("--pretrain-batch-size", type=positive_int, default=100)
    p.add_argument("--prior", default=None, metavar="PLAN",
                   help="a prior stage trained on the model's codes after it, e.g. gmm (makes an autoencoder generative)")
    p.add_argument("--prior-epochs", type=positive_int, default=None, help=f"default {PRIOR_TRAIN['epochs']}")
    p.add_argument("--prior-lr", type=positive_float, default=None, help=f"default {PRIOR_TRAIN['lr']:g}")
    p.add_argument("--prior-batch-size", type=positive_int, default=None, help=f"default {PRIOR_TRAIN['batch_size']}")
    p.add_argument("--from", dest="from_run", type=Path, default=None, metavar="RUN",
                   help="work on an existing run: add the stage given by --prior, or re-run the --stage(s) named")
    p.add_argument("--stage", action="append", default=[], metavar="NAME",
                   help="with --from: train this stage again, and every stage built on it (needs --overwrite)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder (with --from: the stages retrained)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--no-report", action="store_true")


def _model_config(args: argparse.Namespace, data_name: str,
                  input_shape: tuple[int, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model config (preset, then --set) and the training settings (defaults, the preset's recipe, flags)."""
    from ..config import from_dict, to_dict
    from ..models import model_class

    cls = model_class(args.model)
    cfg: dict[str, Any] = {}
    train: dict[str, Any] = {}
    preset = args.preset
    if preset is None and data_name in cls.presets:  # sized for this registered data set (e.g. "digits")
        preset = data_name
        print(f"using preset {preset!r} of {args.model}, sized for the {data_name} data (--preset none for the plain defaults)")
    if preset and preset != "none":
        if preset not in cls.presets:
            known = ", ".join(sorted(cls.presets)) or "none"
            raise ConfigError(f"unknown preset {preset!r} for model {args.model!r}; known: {known}")
        cfg.update(cls.presets[preset])
        train.update(cfg.pop("train", {}))  # a preset may carry its training recipe
        if "input_shape" in cfg and tuple(cfg["input_shape"]) != tuple(input_shape):
            raise ConfigError(f"preset {preset!r} is for data of shape {tuple(cfg['input_shape'])}, "
                              f"but {args.data} has shape {tuple(input_shape)}")
    cfg["input_shape"] = list(input_shape)
    cfg.update(parse_sets(args.set))
    train.update(given_train_flags(args))
    return to_dict(from_dict(cls.Config, cfg, f"{args.model} config")), train


def _seed(args: argparse.Namespace) -> int:
    """The run's seed, which its pre-training and prior stages derive theirs from."""
    return args.seed if args.seed is not None else 0


def _validate_data(x, name: str) -> None:
    import torch

    if not torch.isfinite(x).all():
        raise ConfigError(f"dataset {name!r} contains NaN or inf")
    if float(x.std()) == 0.0:
        raise ConfigError(f"dataset {name!r} is constant: there is nothing to learn")


def _prior_train(args: argparse.Namespace):
    from ..train.trainer import TrainConfig

    given = {k: getattr(args, f"prior_{k}") for k in PRIOR_TRAIN if getattr(args, f"prior_{k}") is not None}
    return TrainConfig(**{**PRIOR_TRAIN, **given},
                       schedule="cosine", seed=_seed(args))


def _periodic_eval(test_x):
    """The trainer's evaluation after each epoch: the suite's cheap metrics on the test split."""
    from ..eval.suite import evaluate_suite

    return lambda model, progress: evaluate_suite(model, test_x)[0]


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
    from ..data import dataset_names, load_dataset
    from ..train.run import read_spec, train_run
    from ..train.stages import plan_run
    from ..train.trainer import TrainConfig

    if args.stage:
        raise UsageError("--stage names a stage of an existing run: give the run with --from RUN")
    if args.model is None:
        raise UsageError("name the model to train (see `aelab models`), or give an existing run with --from RUN")
    if args.resume and args.binarize:
        raise ConfigError("--binarize is a setting of the run; a resumed run keeps its own")
    out = args.out or Path("runs") / f"{args.model}-{Path(str(args.data)).stem}"
    if args.resume:
        stored = read_spec(out)
        if stored.model != args.model:
            raise ConfigError(f"{out} holds a {stored.model!r} run, not {args.model!r}")
        data_name, data_dir = stored.data, args.data_dir or stored.data_dir
    else:
        data_name, data_dir = args.data, args.data_dir
    train = load_dataset(data_name, "train", data_dir)
    test = load_dataset(data_name, "test", data_dir)
    _validate_data(train.x, data_name)
    if train.name not in dataset_names():  # a user's folder or array: record where it is, from anywhere
        data_name = str(Path(data_name).resolve())
    if args.resume:
        spec = stored
    else:
        model_config, recipe = _model_config(args, train.name if train.name in dataset_names() else "",
                                             tuple(train.x.shape[1:]))
        spec = plan_run(
            args.model, model_config, data_name, str(data_dir) if data_dir else None,
            train=TrainConfig(**recipe),
            pretrain=args.pretrain,
            pretrain_train=TrainConfig(epochs=args.pretrain_epochs, batch_size=args.pretrain_batch_size,
                                       lr=args.pretrain_lr, optimizer="sgd", momentum=0.9, schedule="constant",
                                       seed=_seed(args)),
            prior=args.prior, prior_train=_prior_train(args))
    test_x = eval_data(test.x, spec.train)
    model, result = train_run(spec, out, train.x, train.y, _periodic_eval(test_x),
                              resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress, device=device, ranks=ranks)
    return _after_training(args, out, model, test, test_x, result, f"{spec.model} on {data_name} (test split)")


def _after_training(args: argparse.Namespace, out: Path, model, test, test_x, result: dict, title: str) -> int:
    from ..eval.suite import evaluate_suite
    from ..train.run import read_spec

    if not result or read_spec(out).after_main():  # stages after the main one: score the composed model
        result = evaluate_suite(model, test_x)[0]
    print_metrics(result, title)
    if not args.no_report:
        path = write_run_report(out, model, test)
        print(f"report: {path}")
    print(f"run folder: {out}")
    return 0


def _train_from(args: argparse.Namespace, ranks, device: str) -> int:
    """`aelab train --from RUN --prior gmm` (add a stage) or `--stage NAME --overwrite` (train it again)."""
    from ..data import load_dataset
    from ..train.run import read_spec, retrain, train_run
    from ..train.stages import prior_stages

    run = args.from_run
    stored = read_spec(run)
    if args.model is not None and args.model != stored.model:
        raise ConfigError(f"{run} holds a {stored.model!r} run, not {args.model!r}")
    ignored = [flag_name(k) for k in given_train_flags(args)] + (["--preset"] if args.preset else [])
    ignored += [flag for flag, given in (("--pretrain", args.pretrain), ("--resume", args.resume), ("--out", args.out),
                                         ("--set", args.set)) if given]
    if ignored:
        raise UsageError(f"with --from RUN, {', '.join(ignored)} do(es) not apply: the run keeps its settings; add a "
                         "prior with --prior PLAN (and --prior-epochs ...) or train a stage again with --stage NAME")
    new = prior_stages(stored.main, args.prior, _prior_train(args)) if args.prior else []
    if not new and not args.stage:
        raise ConfigError(f"nothing to do on {run}: add a stage with --prior PLAN or name one to re-run with --stage "
                          f"(its stages: {', '.join(s.name for s in stored.stages)})")
    if args.stage and any(_given(args, f) for f in ("prior_epochs", "prior_lr", "prior_batch_size")) and not args.prior:
        raise ConfigError("--prior-epochs/--prior-lr/--prior-batch-size need --prior PLAN to say which prior to train")
    if ranks.main:
        retrain(run, new, args.stage, args.overwrite)
    ranks.barrier()
    spec = read_spec(run)
    data_dir = args.data_dir or spec.data_dir
    train = load_dataset(spec.data, "train", data_dir)
    test = load_dataset(spec.data, "test", data_dir)
    test_x = eval_data(test.x, spec.train)
    model, result = train_run(spec, run, train.x, train.y, _periodic_eval(test_x), resume=True,
                              progress=not args.no_progress, device=device, ranks=ranks)
    return _after_training(args, run, model, test, test_x, result, f"{spec.model} on {spec.data} (test split)")


def _given(args: argparse.Namespace, name: str) -> bool:
    return getattr(args, name) is not None

