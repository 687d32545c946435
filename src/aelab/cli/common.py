"""What the commands share: one-line argparse errors, number types, data options, outputs, a run's data."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Sequence

from ..errors import ConfigError


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


def parse_value(text: str) -> Any:
    """A --set value: JSON when it parses, a comma list of numbers, else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    if "," in text:
        return [parse_value(t) for t in text.split(",") if t]
    return text


def parse_sets(items: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        out[key.strip().replace("-", "_")] = parse_value(value)
    return out


def bounded(kind: type, minimum: float, inclusive: bool, label: str):
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


positive_int = bounded(int, 1, True, "a positive integer")


nonneg_int = bounded(int, 0, True, "an integer >= 0")


positive_float = bounded(float, 0.0, False, "a positive number")


def add_data_args(p: argparse.ArgumentParser, default: str | None = "digits") -> None:
    p.add_argument("--data", default=default, help="dataset name (digits, mnist, fashion-mnist), a folder of images or a .npy file")
    p.add_argument("--data-dir", default=None, help="folder holding dataset files (else $AELAB_DATA, ~/.cache/aelab)")


def print_metrics(metrics: dict[str, float], title: str) -> None:
    print(title)
    width = max((len(k) for k in metrics), default=0)
    for k, v in metrics.items():
        print(f"  {k:<{width}}  {v}" if isinstance(v, int) else f"  {k:<{width}}  {v:.4f}")


def write_run_report(run: Path, model, test) -> Path:
    from ..train.trainer import MetricsLog
    from ..train.run import read_spec
    from ..viz.report import write_report

    spec = read_spec(run)
    config = {"data": {"name": spec.data, "data_dir": spec.data_dir},  # one table row per setting of each stage
              **{f"stage {s.name}": {k: v for k, v in s.to_json().items() if k != "name"} for s in spec.stages}}
    return write_report(run, model, test, MetricsLog(run / "metrics.jsonl").records(),
                        title=f"{spec.model} on {spec.data}", config=config)


def eval_data(x, train_cfg):
    """The data a run is scored on: a fixed seeded Bernoulli draw if it trained on binarised batches."""
    from ..data import binarize

    return binarize(x, seed=0) if train_cfg.binarize else x


def run_data(args: argparse.Namespace, split: str):
    """The data a command on a run uses: --data if given, else the run's own, checked against the model."""
    from ..data import load_dataset
    from ..train.run import load, read_spec

    spec = read_spec(args.run)
    model = load(args.run)
    name = args.data or spec.data
    data_dir = args.data_dir or (spec.data_dir if not args.data else None)
    data = load_dataset(name, split, data_dir)
    model.check_input(data.x)
    return model, data, spec


def refuse_existing(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise ConfigError(f"{path} already exists; use --overwrite to replace it")
    if not path.parent.exists():
        raise ConfigError(f"folder {path.parent} does not exist")


def write_images(path: Path, images, nrow: int) -> None:
    """A PNG grid (pixels scaled up for small images) or the raw array as .npy."""
    from ..fsio import atomic_write_bytes, atomic_write_npy
    from ..viz.images import png_bytes

    if path.suffix == ".npy":
        atomic_write_npy(path, images.numpy())
    else:
        atomic_write_bytes(path, png_bytes(images, nrow=nrow, scale=max(1, 56 // images.shape[-1])))


def check_output(path: Path, overwrite: bool) -> None:
    if path.suffix not in (".png", ".npy"):
        raise ConfigError(f"output {path} must end in .png or .npy")
    refuse_existing(path, overwrite)

