"""What the commands share: one-line argparse errors, number types, data options, outputs, a run's data."""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
from pathlib import Path
from typing import Any, Sequence

from ..api.data import eval_data, fingerprint, load_run_data  # noqa: F401  (what the commands read a run's data with)
from ..errors import ConfigError


class DefaultsFormatter(argparse.HelpFormatter):
    """--help names each option's default, unless its help already says it."""

    @staticmethod
    def _default(action: argparse.Action) -> str | None:
        default = action.default
        if not action.option_strings or default is None or default is False or default == [] \
                or default == argparse.SUPPRESS or "default" in (action.help or ""):
            return None
        return str(default).replace("%", "%%")

    def _get_help_string(self, action: argparse.Action) -> str:
        shown = self._default(action)
        return f"{action.help} (default: {shown})" if shown is not None else (action.help or "")

    def _format_action(self, action: argparse.Action) -> str:
        if not action.help and self._default(action) is not None:  # argparse skips an option without help text
            action = copy.copy(action)
            action.help = f"default: {self._default(action)}"
            action.default = None
        return super()._format_action(action)


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line, and shows defaults in --help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)

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


def bounded(kind: type, minimum: float, inclusive: bool, label: str, maximum: float | None = None):
    """An argparse type: a finite number of `kind` above `minimum` (and up to `maximum`), with a one-line error."""

    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {label}, got {text!r}") from None
        if not math.isfinite(v) or v < minimum or (v == minimum and not inclusive) or (maximum is not None and v > maximum):
            raise argparse.ArgumentTypeError(f"expected {label}, got {text}")
        return v

    return parse


positive_int = bounded(int, 1, True, "a positive integer")


nonneg_int = bounded(int, 0, True, "an integer >= 0")


positive_float = bounded(float, 0.0, False, "a positive number")


SEED_MAX = 2**32 - 1
seed_int = bounded(int, 0, True, f"a seed from 0 to {SEED_MAX}", SEED_MAX)


def path_arg(text: str) -> Path:
    """An argparse type for a path: '' would silently mean the current folder, so it is refused."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty string")
    return Path(text).expanduser()


def add_data_args(p: argparse.ArgumentParser, default: str | None = "digits", default_text: str | None = None) -> None:
    """--data, --data-dir, and how the data is read: --image-size, --val-fraction (see data_options)."""

    def image_size_arg(text: str) -> tuple[int, int]:
        """--image-size: "N" (a square) or "H,W" (also "HxW"), positive integers."""
        parts = text.lower().replace("x", ",").split(",")
        try:
            if len(parts) not in (1, 2):
                raise ValueError
            sizes = [int(t) for t in parts]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected N or H,W with positive integers, got {text!r}") from None
        if min(sizes) < 1:
            raise argparse.ArgumentTypeError(f"expected N or H,W with positive integers, got {text!r}")
        return (sizes[0], sizes[-1])

    def fraction_arg(text: str) -> float:
        """--val-fraction: a number >= 0 and < 1."""
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number >= 0 and < 1, got {text!r}") from None
        if not 0.0 <= v < 1.0:  # NaN fails too
            raise argparse.ArgumentTypeError(f"expected a number >= 0 and < 1, got {text}")
        return v

    p.add_argument("--data", default=default, help="dataset name (digits, mnist, fashion-mnist), a folder of images or "
                   "a .npy file" + (f" (default: {default_text})" if default_text else ""))
    p.add_argument("--data-dir", default=None, help="folder holding dataset files (else $AELAB_DATA, ~/.cache/aelab)")
    p.add_argument("--image-size", type=image_size_arg, default=None, metavar="H,W",
                   help="resize every image to H,W (or N for NxN); default: the data's own size; a folder of "
                        "mixed sizes takes its first file's size, with a warning")
    p.add_argument("--patch", type=positive_int, default=None, metavar="N",
                   help="with --data patches:FOLDER: the side of the square crops cut from the photos (default 32)")
    p.add_argument("--patch-count", type=positive_int, default=None, metavar="N",
                   help="with --data patches:FOLDER: how many crops, over all photos (default 50000)")
    p.add_argument("--val-fraction", type=fraction_arg, default=None, metavar="F",
                   help="share of a folder or .npy file held out as the test split, 0 <= F < 1 (default 0.1; 0 "
                        "holds out nothing); digits keep 297 of 1797 unless given; mnist and fashion-mnist have "
                        "official test files and refuse it")


def data_options(args: argparse.Namespace) -> dict[str, Any]:
    """The data flags as JSON-safe `load_dataset` keywords: {"image_size": [H, W] | None, "val_fraction": F | None}.

    None means "the data set's own": its size, and its own split (10% of a folder or .npy file).
    Record this in a run and pass it back as `load_dataset(name, split, data_dir, **options)`.
    """
    size = getattr(args, "image_size", None)
    fraction = getattr(args, "val_fraction", None)
    options: dict[str, Any] = {
        "image_size": None if size is None else [int(size[0]), int(size[1])],
        "val_fraction": None if fraction is None else float(fraction),
    }
    for key in ("patch", "patch_count"):  # recorded only when given: they apply to patches:FOLDER alone
        if getattr(args, key, None) is not None:
            options[key] = int(getattr(args, key))
    return options


def print_metrics(metrics: dict[str, float], title: str) -> None:
    print(title)
    width = max((len(k) for k in metrics), default=0)
    for k, v in metrics.items():
        print(f"  {k:<{width}}  {v}" if isinstance(v, int) else f"  {k:<{width}}  {v:.4f}")


def write_run_report(run: Path, model, test, database=None) -> Path:
    """RUN/report.html (see `viz.run_report`)."""
    from ..viz.run_report import write_run_report as write

    return write(run, model, test, database)


def run_data(args: argparse.Namespace, split: str):
    """The data a command on a run uses: --data if given, else the run's own, checked against the model."""
    from ..api import load
    from ..runs import RunFolder

    spec = RunFolder(args.run).read_spec()
    model = load(args.run)
    data = load_run_data(spec, split, args.data, args.data_dir, data_options(args))
    model.check_input(data.x)
    return model, data, spec


def need(model: Any, kinds: Sequence[type], doing: str) -> None:
    """A one-line error unless `model` has each capability in `kinds` (models.capabilities): what it can do instead."""
    from ..models.capabilities import Restorer, capabilities

    if all(isinstance(model, kind) for kind in kinds):
        return
    instead = " (aelab denoise, aelab inpaint)" if isinstance(model, Restorer) else ""
    raise ConfigError(f"model {model.name!r} cannot {doing}; what it can do: {', '.join(capabilities(model))}{instead}")


def refuse_existing(path: Path, overwrite: bool) -> None:
    """An output file may be written: not a folder, not there already (unless asked), in a folder that exists."""
    if path.is_dir():
        raise ConfigError(f"{path} is a folder; name a file to write")
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

