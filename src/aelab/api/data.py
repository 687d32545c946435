"""A run's data: read it again as the run recorded it, or other data to fit its model; check it is the same."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError
from ..recipes.stages import RunSpec


def load_run_data(spec: RunSpec, split: str, data: str | None = None, data_dir: str | None = None,
                  given: dict[str, Any] | None = None, relocated: bool = False):
    """A split of the run's data read as recorded, or of other data (`data`, `data_dir`) read to fit the model.

    Options given on the command line win. The rest come from the run: all of them on its own data (so its
    test split is the one it was scored on), only the image size on other data (the model takes no other
    size; the held-out share of other data is that data's own). `relocated`: `data`/`data_dir` name the run's
    own data in a new place, read with all the recorded options. When the recorded data cannot be found any
    more, the one-line error says so and how to point to it.
    """
    from ..data import load_dataset

    recorded = dict(spec.data_options)
    if data and not relocated:
        recorded = {k: v for k, v in recorded.items() if k == "image_size"}
    options = {**recorded, **{k: v for k, v in (given or {}).items() if v is not None}}
    recorded_path = Path(spec.data)
    if not (data or data_dir) and recorded_path.is_absolute() and not recorded_path.exists():
        raise DataError(f"the data this run was trained on, {spec.data}, is not there any more; "
                        "point to it with --data PATH")
    return load_dataset(data or spec.data, split, data_dir or (None if data else spec.data_dir), **options)


def test_split(spec: RunSpec, data: str | None = None, data_dir: str | None = None):
    """The run's held-out split, or None when the run holds nothing out (val_fraction 0)."""
    if spec.data_options.get("val_fraction") == 0:
        print("no held-out data (--val-fraction 0): no test metrics during or after training")
        return None
    return load_run_data(spec, "test", data, data_dir, relocated=True)


def fingerprint(x) -> dict[str, Any]:
    """What a data split was: rows, shape and a checksum, so that a resume can tell the same data from other data."""
    import numpy as np

    from ..data.stream import is_streamed

    digest = x.sha256() if is_streamed(x) else hashlib.sha256(np.ascontiguousarray(x.numpy()).tobytes()).hexdigest()
    return {"rows": int(x.shape[0]), "shape": [int(d) for d in x.shape[1:]], "sha256": digest}


def check_same_data(spec: RunSpec, x, where: str | None = None) -> None:
    """Data handed to a resumed run may be the run's data in a new place, never other data."""
    if spec.fingerprint and fingerprint(x) != spec.fingerprint:
        f = spec.fingerprint
        raise ConfigError(f"{where or spec.data} is not the data this run trained on ({f['rows']} rows of shape "
                          f"{f['shape']}, sha256 {f['sha256'][:12]}...); a resumed run keeps its data: train other "
                          "data in a new run")


def check_trainable(x, name: str) -> None:
    """Refuse data with NaN/inf, or with nothing to learn."""
    import torch

    from ..data.stream import is_streamed

    if is_streamed(x):  # its loader checked every value as it opened the file (finite, in [0, 1])
        return
    if not torch.isfinite(x).all():
        raise ConfigError(f"dataset {name!r} contains NaN or inf")
    if float(x.std()) == 0.0:
        raise ConfigError(f"dataset {name!r} is constant: there is nothing to learn")


def eval_data(x, train_cfg):
    """The data a run is scored on: a fixed seeded Bernoulli draw if it trained on binarised batches."""
    from ..data import binarize

    return binarize(x, seed=0) if train_cfg.binarize else x


def absolute(path: str) -> str:
    """A user's path as the run records it: ~ expanded, absolute, so that it works from any folder later."""
    return str(Path(path).expanduser().resolve())


def recorded_name(name: str) -> str:
    """A data set's name as a run records it: a registered name as it is, a path absolute (`patches:` kept)."""
    from ..data import dataset_names
    from ..data.patches import PATCHES_PREFIX, patch_folder_of

    if name in dataset_names():
        return name
    folder = patch_folder_of(name)
    return PATCHES_PREFIX + absolute(str(folder)) if folder is not None else absolute(name)
