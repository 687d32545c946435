"""`aelab train`: train a model into a run folder (or add / re-run stages of a run)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigError, UsageError
from .common import (
    add_data_args,
    data_options,
    eval_data,
    fingerprint,
    load_run_data,
    parse_sets,
    path_arg,
    positive_float,
    positive_int,
    print_metrics,
    write_run_report,
)
from .train_flags import add_train_flags, flag_name, given_train_flags



PRIOR_TRAIN: dict[str, Any] = {"epochs": 50, "lr": 1e-2, "batch_size": 256}  # a prior over codes: small, fast

HELP = "train a model into a run folder (or add / re-run stages of a run)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `aelab train`."""
    p.add_argument("model", nargs="?", default=None, help="model name (see `aelab models`); optional with --from")
    add_data_args(p, default=None, default_text="digits; a resumed run reads its own")
    p.add_argument("--out", type=path_arg, default=None, help="run folder (default runs/MODEL-DATA)")
    p.add_argument("--preset", default=None, help="a named architecture, e.g. hinton2006 (default: the preset named "
                   "after the data set, if the model has one; --preset none for the plain defaults)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="model config value, e.g. --set code_dim=2 --set hidden=1000,500,250")
    p.add_argument("--device", default="auto", help="auto (cuda, else mps, else cpu), cpu, cuda, cuda:N or mps; "
                   "not part of the run: a run may resume on another device")
    add_train_flags(p)
    p.add_argument("--pretrain", default=None, metavar="PLAN",
                   help="pre-training stages declared by the model, e.g. rbm (greedy RBMs, Science 2006) for ae")
    p.add_argument("--pretrain-epochs", type=positive_int, default=None, help="default 10")
    p.add_argument("--pretrain-lr", type=positive_float, default=None, help="default 0.1")
    p.add_argument("--pretrain-batch-size", type=positive_int, default=None, help="default 100")
    p.add_argument("--prior", default=None, metavar="PLAN",
                   help="a prior stage trained on the model's codes after it, e.g. gmm (makes an autoencoder generative)")
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


def _periodic_eval(test_x, spec):
    """The trainer's evaluation after each epoch: the suite's cheap metrics on the test split (a denoiser's
    restoration of it corrupted once, too; on the lines data, the interpolation metrics)."""
    from ..eval.suite import evaluate_suite, options_for

    return lambda model, progress: evaluate_suite(model, test_x, options_for(spec.data, spec.train))[0]


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
    from ..train.run import extend, read_spec, train_run
    from ..train.stages import plan_run
    from ..train.trainer import TrainConfig

    if args.stage:
        raise UsageError("--stage names a stage of an existing run: give the run with --from RUN")
    if args.model is None:
        raise UsageError("name the model to train (see `aelab models`), or give an existing run with --from RUN")
    from ..models import model_class

    cls = model_class(args.model)
    if not cls.standalone:
        raise UsageError(f"{args.model} is {cls.stage_of}; it trains as a stage of that model's run, not on data")
    out = args.out or Path("runs") / f"{args.model}-{Path(str(args.data or DEFAULT_DATA)).stem}"
    if args.resume and _empty(out):
        print(f"nothing to resume in {out} (killed before the run was recorded); starting it")
        args.resume = False
    if args.resume:
        stored = read_spec(out)
        if stored.model != args.model:
            raise ConfigError(f"{out} holds a {stored.model!r} run, not {args.model!r}")
        _refuse_changes(args, stored)
        train = load_run_data(stored, "train", args.data, args.data_dir, relocated=True)
        _check_same_data(stored, train, args)
        test = _test_split(stored, args)
        epochs = _extension(args, stored)
        if epochs and ranks.main:  # rank 0 alone writes the run folder
            extend(out, epochs, args.overwrite, len(train))
        ranks.barrier()
        spec = read_spec(out) if epochs else stored
    else:
        options = data_options(args)
        args.data = args.data or DEFAULT_DATA
        train = load_dataset(args.data, "train", args.data_dir, **options)
        _validate_data(train.x, args.data)
        data_name = args.data if train.name in dataset_names() else _absolute_data(args.data)  # usable from any folder
        data_dir = _absolute(args.data_dir) if args.data_dir else None
        model_config, recipe = _model_config(args, train.name if train.name in dataset_names() else "",
                                             tuple(train.x.shape[1:]))
        spec = plan_run(
            args.model, model_config, data_name, data_dir,
            train=TrainConfig(**recipe),
            pretrain=args.pretrain,
            pretrain_train=TrainConfig(epochs=_or(args.pretrain_epochs, PRETRAIN_TRAIN["epochs"]),
                                       batch_size=_or(args.pretrain_batch_size, PRETRAIN_TRAIN["batch_size"]),
                                       lr=_or(args.pretrain_lr, PRETRAIN_TRAIN["lr"]), optimizer="sgd", momentum=0.9,
                                       schedule="constant", seed=_seed(args)),
            prior=args.prior, prior_train=_prior_train(args))
        if train.vocabulary is not None:  # documents: the words counted, so that every later read counts the same
            options = {**options, "vocabulary": list(train.vocabulary)}
        spec = dataclasses.replace(spec, data_options=options, fingerprint=fingerprint(train.x))
        test = _test_split(spec, args)
    test_x = eval_data(test.x, spec.train) if test is not None else None
    evaluate = _periodic_eval(test_x, spec) if test_x is not None else None
    model, result = train_run(spec, out, train.x, train.y, evaluate,
                              resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress,
                              device=device, ranks=ranks)
    return _after_training(args, out, model, test or train, test_x, result, f"{spec.model} on {spec.data} (test split)",
                           database=train if test is not None else None)


DEFAULT_DATA = "digits"  # embedded: trains on a fresh machine with no download
PRETRAIN_TRAIN: dict[str, Any] = {"epochs": 10, "lr": 0.1, "batch_size": 100}  # Science 2006's RBMs, shortened


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _empty(folder: Path) -> bool:
    return folder.is_dir() and all(p.name == ".lock" for p in folder.iterdir())


def _absolute(path: str) -> str:
    """A user's path as the run records it: ~ expanded, absolute, so that it works from any folder later."""
    return str(Path(path).expanduser().resolve())


def _absolute_data(name: str) -> str:
    """A data path as the run records it; `patches:FOLDER` keeps its prefix."""
    from ..data.patches import PATCHES_PREFIX, patch_folder_of

    folder = patch_folder_of(name)
    return PATCHES_PREFIX + _absolute(str(folder)) if folder is not None else _absolute(name)


def _refuse_changes(args: argparse.Namespace, spec) -> None:
    """--resume continues the run as recorded: a flag whose value differs from the run's is refused (all named in
    one line); repeating the run's own command with --resume added is fine."""
    import json

    from ..models import model_class
    from ..train.run import full_config

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
    full = full_config(main.model, main.model_config)
    for key, value in parse_sets(args.set).items():
        compare(f"--set {key}=", value, full.get(key))
    cls = model_class(main.model)
    if args.preset and args.preset != "none":
        preset = cls.presets.get(args.preset)
        if preset is None:
            raise ConfigError(f"unknown preset {args.preset!r} for model {main.model!r}; known: {', '.join(sorted(cls.presets))}")
        mismatched = [k for k, v in preset.items() if k not in ("train", "input_shape") and norm(v) != norm(full.get(k))]
        if mismatched:
            changed.append(f"--preset {args.preset} (the run differs in {', '.join(mismatched)})")
    for flag, plan, stages, kind in (("--pretrain", args.pretrain, before, "pretrain"), ("--prior", args.prior, after, "prior")):
        if plan and (plan not in cls.stage_plans.get(kind, {}) or not stages):
            changed.append(f"{flag} {plan} (the run has {', '.join(s.name for s in stages) or 'no such stages'})")
    for prefix, stages in (("pretrain", before), ("prior", after)):
        for key in ("epochs", "lr", "batch_size"):
            value = getattr(args, f"{prefix}_{key}")
            if value is not None:
                compare(f"--{prefix}-{key.replace('_', '-')}", value, getattr(stages[0].train, key) if stages else None)
    for key, value in data_options(args).items():
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


def _check_same_data(spec, train, args: argparse.Namespace) -> None:
    """--data/--data-dir on resume may point to the run's data in a new place, never to other data."""
    if spec.fingerprint and fingerprint(train.x) != spec.fingerprint:
        where = args.data or args.data_dir or spec.data
        raise ConfigError(f"{where} is not the data this run trained on ({spec.fingerprint['rows']} rows of shape "
                          f"{spec.fingerprint['shape']}, sha256 {spec.fingerprint['sha256'][:12]}...); a resumed run "
                          "keeps its data: train other data in a new run")


def _test_split(spec, args: argparse.Namespace):
    """The held-out split, or None when the run holds nothing out (--val-fraction 0)."""
    if spec.data_options.get("val_fraction") == 0:
        print("no held-out data (--val-fraction 0): no test metrics during or after training")
        return None
    return load_run_data(spec, "test", args.data, args.data_dir, relocated=True)


def _after_training(args: argparse.Namespace, out: Path, model, test, test_x, result: dict, title: str,
                    database=None) -> int:
    from ..eval.suite import evaluate_suite, options_for
    from ..train.run import read_spec

    if test_x is not None:
        spec = read_spec(out)
        if not result or spec.after_main():  # stages after the main one: score the composed model
            result = evaluate_suite(model, test_x, options_for(spec.data, spec.train))[0]
        print_metrics(result, title)
    if not args.no_report:
        path = write_run_report(out, model, test, database)
        print(f"report: {path}")
    print(f"run folder: {out}")
    return 0


def _train_from(args: argparse.Namespace, ranks, device: str) -> int:
    """`aelab train --from RUN --prior gmm` (add a stage) or `--stage NAME --overwrite` (train it again)."""
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
    train = load_run_data(spec, "train", args.data, args.data_dir, relocated=True)
    _check_same_data(spec, train, args)
    test = _test_split(spec, args)
    test_x = eval_data(test.x, spec.train) if test is not None else None
    model, result = train_run(spec, run, train.x, train.y, _periodic_eval(test_x, spec) if test_x is not None else None,
                              resume=True, progress=not args.no_progress, device=device, ranks=ranks)
    database = train if test is not None else None
    test = test or train
    return _after_training(args, run, model, test, test_x, result, f"{spec.model} on {spec.data} (test split)",
                           database=database)


def _given(args: argparse.Namespace, name: str) -> bool:
    return getattr(args, name) is not None

