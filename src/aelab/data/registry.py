"""Named datasets: each source registers itself here, and `load_dataset` / `aelab data list` read this table.

A new dataset is one module that calls `register_dataset` at import, plus one import line in
`aelab/data/__init__.py`. Names are matched case-insensitively with "_" read as "-".
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar, overload

from ..errors import DataError
from .dataset import KINDS, Dataset

__all__ = [
    "DatasetSource",
    "Loader",
    "Probe",
    "register_dataset",
    "unregister_dataset",
    "dataset_source",
    "find_dataset",
    "dataset_names",
    "describe_datasets",
    "canonical_key",
]

# (split, data_dir, image_size, grayscale) -> Dataset; split and image_size arrive already checked.
# A loader that also takes a `val_fraction` keyword holds out that share as its test split (see
# dataset.split_indices); one without it has a fixed test split, and a val_fraction is refused.
# A text loader (kind "counts") also takes `vocabulary` and `vocab_size` keywords (see text.py).
Loader = Callable[..., Dataset]
# data_dir -> (available, location); location is None for data that ships with the code.
Probe = Callable[[str | os.PathLike | None], tuple[bool, str | None]]
L = TypeVar("L", bound=Loader)


@dataclass(frozen=True)
class DatasetSource:
    """One registered dataset: its name, what it is, its sizes, how to load it and where it is."""

    name: str
    description: str
    loader: Loader
    aliases: tuple[str, ...] = ()
    shape: tuple[int, int, int] | None = None
    train: int | None = None
    test: int | None = None
    probe: Probe | None = field(default=None, compare=False)
    kind: str = "image"  # what its Dataset.x holds: "image" or "counts" (text)

    def load(
        self,
        split: str,
        data_dir: str | os.PathLike | None,
        image_size: tuple[int, int] | None,
        grayscale: bool | None,
        val_fraction: float | None = None,
        *,
        vocabulary: list[str] | None = None,
        vocab_size: int | None = None,
    ) -> Dataset:
        """Call the loader; the Dataset is named by this source's canonical name.

        val_fraction None leaves the split to the loader; another value reaches a loader that
        takes it, and is a one-line DataError for a data set with a fixed test split. vocabulary
        and vocab_size (text only) reach a loader that takes them, and are a DataError otherwise.
        """
        options: dict[str, Any] = {}
        if val_fraction is not None:
            if not self.takes_val_fraction:
                unit = "images" if self.kind == "image" else "documents"
                size = f" ({self.test} {unit})" if self.test else ""
                raise DataError(
                    f"{self.name} has an official test split{size}; --val-fraction (val_fraction) does not apply to it"
                )
            options["val_fraction"] = val_fraction
        for key, value in (("vocabulary", vocabulary), ("vocab_size", vocab_size)):
            if value is not None:
                if not self._takes(key):
                    raise DataError(f"{self.name} is not text; {key} applies to text data sets only")
                options[key] = value
        ds = self.loader(split, data_dir, image_size, grayscale, **options)
        if not isinstance(ds, Dataset):
            raise TypeError(f"the loader of dataset {self.name!r} returned {type(ds).__name__}, not a Dataset")
        # callers tell a named dataset from a path by Dataset.name (see `aelab train`), so it must be the name
        return ds if ds.name == self.name else replace(ds, name=self.name)

    @property
    def takes_val_fraction(self) -> bool:
        """Whether the loader accepts a `val_fraction` keyword (a held-out share rather than fixed test files)."""
        return self._takes("val_fraction")

    def _takes(self, keyword: str) -> bool:
        try:
            params = inspect.signature(self.loader).parameters
        except (TypeError, ValueError):  # a builtin or C callable without a signature: assume the four arguments
            return False
        return keyword in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())

    def availability(self, data_dir: str | os.PathLike | None = None) -> tuple[bool, str | None]:
        """(available, location): no probe means embedded, always available, no location."""
        if self.probe is None:
            return True, None
        try:
            available, location = self.probe(data_dir)
        except DataError:  # a listing must not fail because one dataset's folder is unreadable
            return False, None
        return bool(available), (None if location is None else str(location))

    def describe(self, data_dir: str | os.PathLike | None = None) -> dict[str, Any]:
        """The row `aelab data list` prints: name, description, available, location, shape, train, test."""
        available, location = self.availability(data_dir)
        return {
            "name": self.name,
            "description": self.description,
            "available": available,
            "location": location,
            "shape": self.shape,
            "train": self.train,
            "test": self.test,
        }


_SOURCES: dict[str, DatasetSource] = {}
_KEYS: dict[str, str] = {}  # canonical name or alias -> canonical name


def canonical_key(name: str | os.PathLike) -> str:
    """How names are compared: stripped, lower-case, "_" read as "-"."""
    return os.fspath(name).strip().lower().replace("_", "-")


def _check_int(what: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a non-negative int or None, got {value!r}")
    return value


def _make_source(
    name: str,
    description: str,
    loader: Loader,
    aliases: Iterable[str],
    shape: tuple[int, int, int] | None,
    train: int | None,
    test: int | None,
    probe: Probe | None,
    kind: str = "image",
) -> DatasetSource:
    """A checked DatasetSource; mistakes in a registration are programming errors (ValueError)."""
    if kind not in KINDS:
        raise ValueError(f"dataset {name!r}: kind must be one of {KINDS}, got {kind!r}")
    key = canonical_key(name)
    if not key or key != name or os.sep in key or "/" in key:
        raise ValueError(f"dataset name must be lower-case, without '_' or '/', and not empty; got {name!r}")
    if not description or "\n" in description:
        raise ValueError(f"dataset {name!r} needs a one-line description")
    if not callable(loader) or (probe is not None and not callable(probe)):
        raise ValueError(f"dataset {name!r}: loader and probe must be callables")
    alias_keys = tuple(dict.fromkeys(canonical_key(a) for a in aliases if canonical_key(a) != key))
    if any(not a for a in alias_keys):
        raise ValueError(f"dataset {name!r}: an alias is empty")
    if shape is not None:
        shape = tuple(shape)  # type: ignore[assignment]
        if len(shape) != 3 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
            raise ValueError(f"dataset {name!r}: shape must be (C, H, W) with positive ints, got {shape!r}")
    return DatasetSource(
        name=key,
        description=description,
        loader=loader,
        aliases=alias_keys,
        shape=shape,
        train=_check_int("train", train),
        test=_check_int("test", test),
        probe=probe,
        kind=kind,
    )


def _add(source: DatasetSource) -> None:
    for key in (source.name, *source.aliases):
        owner = _KEYS.get(key)
        if owner is not None and owner != source.name:
            raise ValueError(f"dataset name or alias {key!r} is already taken by {owner!r}")
    if source.name in _SOURCES:  # re-registering a name (a reloaded module) replaces it
        unregister_dataset(source.name)
    _SOURCES[source.name] = source
    for key in (source.name, *source.aliases):
        _KEYS[key] = source.name


@overload
def register_dataset(
    name: str,
    *,
    description: str,
    loader: None = None,
    aliases: Iterable[str] = (),
    shape: tuple[int, int, int] | None = None,
    train: int | None = None,
    test: int | None = None,
    probe: Probe | None = None,
    kind: str = "image",
) -> Callable[[L], L]: ...


@overload
def register_dataset(
    name: str,
    *,
    description: str,
    loader: L,
    aliases: Iterable[str] = (),
    shape: tuple[int, int, int] | None = None,
    train: int | None = None,
    test: int | None = None,
    probe: Probe | None = None,
    kind: str = "image",
) -> L: ...


def register_dataset(
    name: str,
    *,
    description: str,
    loader: L | None = None,
    aliases: Iterable[str] = (),
    shape: tuple[int, int, int] | None = None,
    train: int | None = None,
    test: int | None = None,
    probe: Probe | None = None,
    kind: str = "image",
) -> L | Callable[[L], L]:
    """Register a dataset by name; with `loader` returns it, without returns a decorator for the loader.

    The loader is called as loader(split, data_dir, image_size, grayscale) and returns a Dataset;
    if it also takes a `val_fraction` keyword, a caller's held-out share reaches it (otherwise the
    data set's test split is fixed and a val_fraction is refused). Give each row's source position
    as `finish(..., index=...)` so that `aelab encode` can write codes in source order.
    `probe(data_dir) -> (available, location)` finds the data on disk; leave it None for data
    that ships with the code. `shape` (C, H, W) and the split sizes are shown by `aelab data list`.
    `kind` is "image", or "counts" for text (its loader also takes `vocabulary` and `vocab_size`).
    """

    def add(fn: L) -> L:
        _add(_make_source(name, description, fn, aliases, shape, train, test, probe, kind))
        return fn

    return add if loader is None else add(loader)


def unregister_dataset(name: str) -> DatasetSource:
    """Remove a registered dataset (by name or alias) and return it; unknown names are a DataError."""
    source = dataset_source(name)
    del _SOURCES[source.name]
    for key in (source.name, *source.aliases):
        _KEYS.pop(key, None)
    return source


def find_dataset(name: str | os.PathLike) -> DatasetSource | None:
    """The source registered under this name or alias, or None."""
    key = _KEYS.get(canonical_key(name))
    return None if key is None else _SOURCES[key]


def dataset_names() -> list[str]:
    """Names of the registered datasets (not their aliases), sorted."""
    return sorted(_SOURCES)


def dataset_source(name: str | os.PathLike) -> DatasetSource:
    """The source registered under this name or alias, or a one-line DataError listing the known names."""
    source = find_dataset(name)
    if source is None:
        raise DataError(f"unknown dataset {os.fspath(name)!r}; known: {', '.join(dataset_names())}")
    return source


def describe_datasets(data_dir: str | os.PathLike | None = None) -> list[dict]:
    """One dict per registered dataset: name, description, available, location, shape (C,H,W), train, test."""
    return [_SOURCES[n].describe(data_dir) for n in dataset_names()]
