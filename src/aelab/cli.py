"""The `aelab` command: train, eval, encode, reconstruct, report, models, data."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Sequence

from .errors import AelabError, ConfigError, UsageError


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


def _parse_value(text: str) -> Any:
    """A --set value: JSON when it parses, a comma list of numbers, else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    if "," in text:
        return [_parse_value(t) for t in text.split(",") if t]
    return text


def _parse_sets(items: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        out[key.strip().replace("-", "_")] = _parse_value(value)
    return out


def _bounded(kind: type, minimum: float, inclusive: bool, label: str):
    """An argparse type: a finite number of `kind` above `minimum`, with a one-line error."""

    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {label}, got {text!r}") from None
        if not math.isfinite(v) or v < minimum or (v == minimum and not inclusive):
            raise argparse.ArgumentTypeError(f"expected {label}, got {text}")
        return v

    return parse


_positive_int = _bounded(int, 1, True, "a positive integer")
_nonneg_int = _bounded(int, 0, True, "an integer >= 0")
_positive_float = _bounded(float, 0.0, False, "a positive number")


def _add_data_args(p: argparse.ArgumentParser, default: str | None = "digits") -> None:
    p.add_argument("--data", default=default, help="dataset name (digits, mnist, fashion-mnist), a folder of images or a .npy file")
    p.add_argument("--data-dir", default=None, help="folder holding dataset files (else $AELAB_DATA, ~/.cache/aelab)")


TRAIN_DEFAULTS: dict[str, Any] = {"epochs": 30, "batch_size": 100, "lr": 1e-3, "optimizer": "adam", "schedule": "cosine"}


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used to document the CLI)."""
    p = _Parser(prog="aelab", description="Train, evaluate and use autoencoders.")
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    t = sub.add_parser("train", help="train a model into a run folder (or add / re-run stages of a run)")
    t.add_argument("model", nargs="?", default=None, help="model name (see `aelab models`); optional with --from")
    _add_data_args(t)
    t.add_argument("--out", type=Path, default=None, help="run folder (default runs/MODEL-DATA)")
    t.add_argument("--preset", default=None, help="a named architecture, e.g. hinton2006 (default: the preset named "
                   "after the data set, if the model has one; --preset none for the plain defaults)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="model config value, e.g. --set code_dim=2 --set hidden=1000,500,250")
    # None = not given: the preset's training recipe, else TRAIN_DEFAULTS, fills it in
    t.add_argument("--epochs", type=_positive_int, default=None, help=f"default {TRAIN_DEFAULTS['epochs']}")
    t.add_argument("--batch-size", type=_positive_int, default=None, help=f"default {TRAIN_DEFAULTS['batch_size']}")
    t.add_argument("--lr", type=_positive_float, default=None, help=f"default {TRAIN_DEFAULTS['lr']:g}")
    t.add_argument("--optimizer", default=None, choices=["adam", "adamw", "sgd"], help="default adam")
    t.add_argument("--schedule", default=None, choices=["constant", "cosine"], help="default cosine")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--eval-every", type=_nonneg_int, default=0, help="steps between evaluations (0: each epoch)")
    t.add_argument("--checkpoint-every", type=_nonneg_int, default=0, help="steps between checkpoints (0: each epoch)")
    t.add_argument("--pretrain", default=None, metavar="PLAN",
                   help="pre-training stages declared by the model, e.g. rbm (greedy RBMs, Science 2006) for ae")
    t.add_argument("--pretrain-epochs", type=_positive_int, default=10)
    t.add_argument("--pretrain-lr", type=_positive_float, default=0.1)
    t.add_argument("--pretrain-batch-size", type=_positive_int, default=100)
    t.add_argument("--prior", default=None, metavar="PLAN",
                   help="a prior stage trained on the model's codes after it, e.g. gmm (makes an autoencoder generative)")
    t.add_argument("--prior-epochs", type=_positive_int, default=None, help="default: 50")
    t.add_argument("--prior-lr", type=_positive_float, default=None, help="default: 1e-2")
    t.add_argument("--prior-batch-size", type=_positive_int, default=None, help="default: 256")
    t.add_argument("--from", dest="from_run", type=Path, default=None, metavar="RUN",
                   help="work on an existing run: add the stage given by --prior, or re-run the --stage(s) named")
    t.add_argument("--stage", action="append", default=[], metavar="NAME",
                   help="with --from: train this stage again, and every stage built on it (needs --overwrite)")
    t.add_argument("--binarize", action="store_true",
                   help="dynamic binarisation: train on a fresh Bernoulli draw of each batch; evaluate on a fixed draw")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    t.add_argument("--overwrite", action="store_true", help="replace an existing run folder (with --from: the stages retrained)")
    t.add_argument("--no-progress", action="store_true")
    t.add_argument("--no-report", action="store_true")

    e = sub.add_parser("eval", help="evaluate a run on a data split")
    e.add_argument("run", type=Path)
    _add_data_args(e, default=None)
    e.add_argument("--split", default="test", choices=["train", "test", "all"])
    e.add_argument("--json", action="store_true", help="print JSON instead of a table")
    e.add_argument("--iw-samples", type=_nonneg_int, default=1000,
                   help="importance samples for the NLL estimate of VAE-type models (0: skip it)")
    e.add_argument("--no-progress", action="store_true")

    s = sub.add_parser("sample", help="draw samples from a generative model: a PNG grid or a .npy array")
    s.add_argument("run", type=Path)
    s.add_argument("-n", type=_positive_int, default=64)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("-o", "--output", type=Path, required=True, help=".png grid or .npy array")
    s.add_argument("--overwrite", action="store_true")

    ip = sub.add_parser("interpolate", help="decode the straight line between the codes of two examples")
    ip.add_argument("run", type=Path)
    _add_data_args(ip, default=None)
    ip.add_argument("--split", default="test", choices=["train", "test", "all"])
    ip.add_argument("--from", dest="i", type=_nonneg_int, required=True, help="index of the first example")
    ip.add_argument("--to", dest="j", type=_nonneg_int, required=True, help="index of the last example")
    ip.add_argument("--steps", type=_positive_int, default=10)
    ip.add_argument("-o", "--output", type=Path, required=True, help=".png strip (ends are the real images) or .npy")
    ip.add_argument("--overwrite", action="store_true")

    en = sub.add_parser("encode", help="write the codes of a data split to .npy")
    en.add_argument("run", type=Path)
    _add_data_args(en, default=None)
    en.add_argument("--split", default="test", choices=["train", "test", "all"])
    en.add_argument("-o", "--output", type=Path, required=True)
    en.add_argument("--overwrite", action="store_true")

    r = sub.add_parser("reconstruct", help="reconstruct data: a PNG grid (originals above) or a .npy array")
    r.add_argument("run", type=Path)
    _add_data_args(r, default=None)
    r.add_argument("--split", default="test", choices=["train", "test", "all"])
    r.add_argument("-n", type=_positive_int, default=32, help="images in the PNG grid")
    r.add_argument("-o", "--output", type=Path, required=True, help=".png grid or .npy array of all reconstructions")
    r.add_argument("--overwrite", action="store_true")

    rp = sub.add_parser("report", help="(re)write report.html for a run")
    rp.add_argument("run", type=Path)
    _add_data_args(rp, default=None)

    sub.add_parser("models", help="list the models and their presets")

    d = sub.add_parser("data", help="list or fetch datasets")
    dsub = d.add_subparsers(dest="data_command", metavar="{list,fetch}", parser_class=_Parser)
    dsub.required = True
    dl = dsub.add_parser("list", help="known datasets and where they were found")
    dl.add_argument("--data-dir", default=None)
    df = dsub.add_parser("fetch", help="download a dataset (checksummed)")
    df.add_argument("name")
    df.add_argument("--dest", type=Path, default=None)
    return p


# --- commands ----------------------------------------------------------------------------
def _model_config(args: argparse.Namespace, data_name: str,
                  input_shape: tuple[int, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model config (preset, then --set) and the training settings (defaults, the preset's recipe, flags)."""
    from .config import from_dict, to_dict
    from .models import model_class

    cls = model_class(args.model)
    cfg: dict[str, Any] = {}
    train = dict(TRAIN_DEFAULTS)
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
    cfg.update(_parse_sets(args.set))
    train.update({k: getattr(args, k) for k in TRAIN_DEFAULTS if getattr(args, k) is not None})
    return to_dict(from_dict(cls.Config, cfg, f"{args.model} config")), train


def _validate_data(x, name: str) -> None:
    import torch

    if not torch.isfinite(x).all():
        raise ConfigError(f"dataset {name!r} contains NaN or inf")
    if float(x.std()) == 0.0:
        raise ConfigError(f"dataset {name!r} is constant: there is nothing to learn")


def _prior_train(args: argparse.Namespace):
    from .train.trainer import TrainConfig

    return TrainConfig(epochs=args.prior_epochs or 50, lr=args.prior_lr or 1e-2, batch_size=args.prior_batch_size or 256,
                       schedule="cosine", seed=args.seed)


def _periodic_eval(test_x):
    """The trainer's evaluation after each epoch: the suite's cheap metrics on the test split."""
    from .eval.suite import evaluate_suite

    return lambda model, progress: evaluate_suite(model, test_x)[0]


def cmd_train(args: argparse.Namespace) -> int:
    from .data import dataset_names, load_dataset
    from .train.run import read_spec, train_run
    from .train.stages import plan_run
    from .train.trainer import TrainConfig

    if args.from_run is not None:
        return _train_from(args)
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
            train=TrainConfig(**recipe, seed=args.seed, eval_every=args.eval_every,
                              checkpoint_every=args.checkpoint_every, binarize=args.binarize),
            pretrain=args.pretrain,
            pretrain_train=TrainConfig(epochs=args.pretrain_epochs, batch_size=args.pretrain_batch_size,
                                       lr=args.pretrain_lr, optimizer="sgd", momentum=0.9, seed=args.seed),
            prior=args.prior, prior_train=_prior_train(args))
    test_x = eval_data(test.x, spec.train)
    model, result = train_run(spec, out, train.x, train.y, _periodic_eval(test_x),
                              resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress)
    return _after_training(args, out, model, test, test_x, result, f"{spec.model} on {data_name} (test split)")


def _after_training(args: argparse.Namespace, out: Path, model, test, test_x, result: dict, title: str) -> int:
    from .eval.suite import evaluate_suite

    if not result or getattr(model, "prior", None) is not None:  # score the composed model, not only its main stage
        result = evaluate_suite(model, test_x)[0]
    _print_metrics(result, title)
    if not args.no_report:
        path = _write_report(out, model, test)
        print(f"report: {path}")
    print(f"run folder: {out}")
    return 0


def _train_from(args: argparse.Namespace) -> int:
    """`aelab train --from RUN --prior gmm` (add a stage) or `--stage NAME --overwrite` (train it again)."""
    from .data import load_dataset
    from .train.run import read_spec, retrain, train_run
    from .train.stages import prior_stages

    run = args.from_run
    stored = read_spec(run)
    if args.model is not None and args.model != stored.model:
        raise ConfigError(f"{run} holds a {stored.model!r} run, not {args.model!r}")
    ignored = [f"--{k.replace('_', '-')}" for k in (*TRAIN_DEFAULTS, "preset") if getattr(args, k) is not None]
    ignored += [flag for flag, given in (("--pretrain", args.pretrain), ("--resume", args.resume), ("--out", args.out),
                                         ("--set", args.set), ("--binarize", args.binarize)) if given]
    if ignored:
        raise UsageError(f"with --from RUN, {', '.join(ignored)} do(es) not apply: the run keeps its settings; add a "
                         "prior with --prior PLAN (and --prior-epochs ...) or train a stage again with --stage NAME")
    new = prior_stages(stored.main, args.prior, _prior_train(args)) if args.prior else []
    if not new and not args.stage:
        raise ConfigError(f"nothing to do on {run}: add a stage with --prior PLAN or name one to re-run with --stage "
                          f"(its stages: {', '.join(s.name for s in stored.stages)})")
    if args.stage and any(_given(args, f) for f in ("prior_epochs", "prior_lr", "prior_batch_size")) and not args.prior:
        raise ConfigError("--prior-epochs/--prior-lr/--prior-batch-size need --prior PLAN to say which prior to train")
    spec = retrain(run, new, args.stage, args.overwrite)
    data_dir = args.data_dir or spec.data_dir
    train = load_dataset(spec.data, "train", data_dir)
    test = load_dataset(spec.data, "test", data_dir)
    test_x = eval_data(test.x, spec.train)
    model, result = train_run(spec, run, train.x, train.y, _periodic_eval(test_x), resume=True,
                              progress=not args.no_progress)
    return _after_training(args, run, model, test, test_x, result, f"{spec.model} on {spec.data} (test split)")


def _given(args: argparse.Namespace, name: str) -> bool:
    return getattr(args, name) is not None


def _print_metrics(metrics: dict[str, float], title: str) -> None:
    print(title)
    width = max((len(k) for k in metrics), default=0)
    for k, v in metrics.items():
        print(f"  {k:<{width}}  {v}" if isinstance(v, int) else f"  {k:<{width}}  {v:.4f}")


def _write_report(run: Path, model, test) -> Path:
    from .train.trainer import MetricsLog
    from .train.run import read_spec
    from .viz.report import write_report

    spec = read_spec(run)
    config = {"data": {"name": spec.data, "data_dir": spec.data_dir},  # one table row per setting of each stage
              **{f"stage {s.name}": {k: v for k, v in s.to_json().items() if k != "name"} for s in spec.stages}}
    return write_report(run, model, test, MetricsLog(run / "metrics.jsonl").records(),
                        title=f"{spec.model} on {spec.data}", config=config)


def eval_data(x, train_cfg):
    """The data a run is scored on: a fixed seeded Bernoulli draw if it trained on binarised batches."""
    from .data import binarize

    return binarize(x, seed=0) if train_cfg.binarize else x


def _run_data(args: argparse.Namespace, split: str):
    """The data a command on a run uses: --data if given, else the run's own, checked against the model."""
    from .data import load_dataset
    from .train.run import load, read_spec

    spec = read_spec(args.run)
    model = load(args.run)
    name = args.data or spec.data
    data_dir = args.data_dir or (spec.data_dir if not args.data else None)
    data = load_dataset(name, split, data_dir)
    model.check_input(data.x)
    return model, data, spec


def _refuse_existing(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise ConfigError(f"{path} already exists; use --overwrite to replace it")
    if not path.parent.exists():
        raise ConfigError(f"folder {path.parent} does not exist")


def cmd_eval(args: argparse.Namespace) -> int:
    from .eval.suite import EvalOptions, evaluate_suite

    model, data, spec = _run_data(args, args.split)
    x = eval_data(data.x, spec.train)
    options = EvalOptions(iw_samples=args.iw_samples, sample_quality=True, progress=not args.no_progress)
    metrics, details = evaluate_suite(model, x, options)
    if args.json:
        print(json.dumps({**metrics, **details}))
        return 0
    how = ", binarised with seed 0" if spec.train.binarize else ""
    _print_metrics(metrics, f"{model.name} on {data.name} ({args.split} split, {len(data)} examples{how})")
    if "kl_per_dim" in details:
        kl = sorted(details["kl_per_dim"], reverse=True)
        print("  KL per latent dimension (nats, largest first): " + " ".join(f"{v:.2f}" for v in kl))
    if getattr(model.config, "likelihood", None) == "bernoulli" and not bool(((x == 0) | (x == 1)).all()):
        print("  note: the data is not binary, so the Bernoulli ELBO/NLL of grey levels is not a normalised "
              "likelihood; train with --binarize for comparable numbers")
    if "sample_frechet" in metrics:
        print("  sample_frechet: Fréchet distance in the features of aelab's MNIST classifier (not the Inception FID)")
    return 0


def cmd_encode(args: argparse.Namespace) -> int:
    from .eval.reconstruction import encode_all
    from .fsio import atomic_write_npy

    if args.output.suffix != ".npy":
        raise ConfigError(f"output {args.output} must end in .npy")
    _refuse_existing(args.output, args.overwrite)
    model, data, _ = _run_data(args, args.split)
    codes = encode_all(model, data.x).numpy()
    atomic_write_npy(args.output, codes)
    print(f"wrote {codes.shape[0]} codes of dimension {codes.shape[1]} to {args.output}")
    return 0


def cmd_reconstruct(args: argparse.Namespace) -> int:
    import torch

    from .eval.reconstruction import reconstruct_all

    _check_output(args.output, args.overwrite)
    model, data, _ = _run_data(args, args.split)
    if args.output.suffix == ".npy":
        recon = reconstruct_all(model, data.x)
        _write_images(args.output, recon, nrow=1)
        print(f"wrote {len(recon)} reconstructions to {args.output}")
        return 0
    x = data.x[: args.n]
    recon = reconstruct_all(model, x)
    nrow = min(16, len(x))
    rows = []
    for i in range(0, len(x), nrow):  # originals above their reconstructions, row by row
        rows += [x[i : i + nrow], recon[i : i + nrow]]
    _write_images(args.output, torch.cat(rows), nrow=nrow)
    print(f"wrote {len(x)} originals and reconstructions to {args.output}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    model, data, _ = _run_data(args, "test")
    print(f"report: {_write_report(args.run, model, data)}")
    return 0


def _write_images(path: Path, images, nrow: int) -> None:
    """A PNG grid (pixels scaled up for small images) or the raw array as .npy."""
    from .fsio import atomic_write_bytes, atomic_write_npy
    from .viz.images import png_bytes

    if path.suffix == ".npy":
        atomic_write_npy(path, images.numpy())
    else:
        atomic_write_bytes(path, png_bytes(images, nrow=nrow, scale=max(1, 56 // images.shape[-1])))


def _check_output(path: Path, overwrite: bool) -> None:
    if path.suffix not in (".png", ".npy"):
        raise ConfigError(f"output {path} must end in .png or .npy")
    _refuse_existing(path, overwrite)


def cmd_sample(args: argparse.Namespace) -> int:
    import torch

    from .models.base import SAMPLE
    from .train.run import load

    _check_output(args.output, args.overwrite)
    model = load(args.run)
    if SAMPLE not in model.capabilities():
        raise ConfigError(f"model {model.name!r} has no prior to sample from; use a generative model (e.g. vae) or "
                          f"train a prior on its codes: aelab train --from {args.run} --prior gmm")
    model.eval()
    gen = torch.Generator().manual_seed(args.seed)
    with torch.no_grad():
        images = model.sample(args.n, generator=gen).cpu()
    _write_images(args.output, images, nrow=min(8, args.n))
    print(f"wrote {args.n} samples (seed {args.seed}) to {args.output}")
    return 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    import torch

    from .eval.interpolation import interpolate

    _check_output(args.output, args.overwrite)
    model, data, _ = _run_data(args, args.split)
    for which, i in (("--from", args.i), ("--to", args.j)):
        if i >= len(data):
            raise ConfigError(f"{which} {i} is out of range: the {args.split} split of {data.name} has {len(data)} examples")
    path = interpolate(model, data.x[args.i], data.x[args.j], args.steps)
    if args.output.suffix == ".npy":
        _write_images(args.output, path, nrow=args.steps)
    else:  # the real images at both ends, the decoded path between them
        strip = torch.cat([data.x[args.i : args.i + 1], path, data.x[args.j : args.j + 1]])
        _write_images(args.output, strip, nrow=len(strip))
    print(f"wrote a {args.steps}-step interpolation from example {args.i} to {args.j} to {args.output}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .models import model_class, model_names

    for name in model_names():
        cls = model_class(name)
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        print(f"{name:<8} {doc}")
        if cls.presets:
            print(f"{'':<8} presets: {', '.join(sorted(cls.presets))}")
        for kind, plans in sorted(cls.stage_plans.items()):
            if plans:
                print(f"{'':<8} --{kind}: {', '.join(sorted(plans))}")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from .data import describe_datasets, fetch

    if args.data_command == "list":
        for d in describe_datasets(args.data_dir):
            if d.get("available"):
                where = d.get("location") or "embedded"
            else:
                where = f"not found: aelab data fetch {d['name']}"
            print(f"{d['name']:<14} {d.get('description', '')}  [{where}]")
        return 0
    path = fetch(args.name, args.dest)
    print(f"{args.name}: files are in {path}")
    return 0


COMMANDS = {"train": cmd_train, "eval": cmd_eval, "encode": cmd_encode, "reconstruct": cmd_reconstruct,
            "report": cmd_report, "sample": cmd_sample, "interpolate": cmd_interpolate, "models": cmd_models, "data": cmd_data}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: user errors are one line on stderr and a non-zero exit."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # usage errors (one line, see _Parser) and --help
        return int(e.code or 0)
    try:
        return COMMANDS[args.command](args)
    except AelabError as e:
        if args.debug:
            raise
        print(f"aelab: error: {e}", file=sys.stderr)
        return 2 if isinstance(e, UsageError) else 1
    except KeyboardInterrupt:
        print("aelab: interrupted; a training run continues with --resume", file=sys.stderr)
        return 130
    except OSError as e:
        if args.debug:
            raise
        print(f"aelab: error: {e.strerror or e} ({e.filename})" if e.filename else f"aelab: error: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001  (last resort: still one line, the traceback on --debug)
        if args.debug:
            raise
        first = str(e).splitlines()[0][:200] if str(e) else ""
        print(f"aelab: internal error: {type(e).__name__}: {first} (rerun with --debug for the traceback)", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
