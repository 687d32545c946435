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


SAMPLED_BYTES = 2**30  # data larger than this as float32 is fingerprinted by a sample of its rows
SAMPLE_ROWS = 4096
SAMPLE_BYTES = 64 * 2**20  # and at most this much of them (as float32)


def fingerprint(x, like: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a data split was: rows, shape and a checksum, so that a resume can tell the same data from other data.

    The checksum is of all the float32 values, or for data larger than 1 GiB as float32 of SAMPLE_ROWS rows (at most
    64 MiB of them) spread evenly over it ("sample_sha256"): reading a 30 GB file whole to start a run would take minutes. `like` (a
    recorded fingerprint) asks for the same kind, so a run keeps being checked as it was."""
    import numpy as np

    from ..data.stream import is_streamed

    rows, shape = int(x.shape[0]), [int(d) for d in x.shape[1:]]
    out: dict[str, Any] = {"rows": rows, "shape": shape}
    size = 4 * rows * int(np.prod(shape, dtype=np.int64))
    if ("sample_sha256" in like) if like else size > SAMPLED_BYTES:
        import torch

        count = min(rows, SAMPLE_ROWS, max(1, SAMPLE_BYTES // max(1, size // rows)))
        picked = np.unique(np.linspace(0, rows - 1, count).round().astype(np.int64))
        values = x[torch.from_numpy(picked)]
        out["sample_sha256"] = hashlib.sha256(np.ascontiguousarray(values.numpy()).tobytes()).hexdigest()
    elif is_streamed(x):
        out["sha256"] = x.sha256()
    else:
        out["sha256"] = hashlib.sha256(memoryview(np.ascontiguousarray(x.numpy())).cast("B")).hexdigest()
    return out


def check_same_data(spec: RunSpec, x, where: str | None = None) -> None:
    """Data handed to a resumed run may be the run's data in a new place, never other data."""
    if spec.fingerprint and fingerprint(x, like=spec.fingerprint) != spec.fingerprint:
        f = spec.fingerprint
        digest = f.get("sha256") or f.get("sample_sha256", "")
        raise ConfigError(f"{where or spec.data} is not the data this run trained on ({f['rows']} rows of shape "
                          f"{f['shape']}, sha256 {digest[:12]}...); a resumed run keeps its data: train other "
                          "data in a new run")


def check_trainable(x, name: str) -> None:
    """Refuse data with NaN/inf, or with nothing to learn."""
    import torch

    from ..data.stream import is_streamed

    if is_streamed(x):  # its loader checked every value as it opened the file (finite, in [0, 1])
        return
    # one pass without a mask of the data's size (a sum is finite when every value is, unless finite values
    # overflow it: then the exact check decides); 0.44 s for MNIST's 47M values before, a tenth now
    if not torch.isfinite(x.sum()) and not torch.isfinite(x).all():
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
