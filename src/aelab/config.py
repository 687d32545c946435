"""Dataclass configs with a strict JSON round trip (unknown keys and wrong types are refused; keys a config class
has renamed, in its `RENAMED: ClassVar[dict[str, str]]` of old -> new, are read under their new name with a note)."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import sys
import types
import typing
from typing import Any, Callable, Iterator, TypeVar

from .errors import ConfigError

T = TypeVar("T")

# The notes given in the current `notes_once` block (renamed keys, skipped documents): a command reads a run often.
_noted: contextvars.ContextVar[set[tuple[str, ...]] | None] = contextvars.ContextVar("aelab_noted", default=None)


@contextlib.contextmanager
def notes_once() -> Iterator[None]:
    """Inside this block (nested ones join the outermost), each renamed key is noted once, not at every reading."""
    if _noted.get() is not None:
        yield
        return
    token = _noted.set(set())
    try:
        yield
    finally:
        _noted.reset(token)


def note_once(key: tuple[str, ...], message: Callable[[], str | None]) -> None:
    """A one-line note on stderr, once per key inside a `notes_once` block (each time outside one).

    `message()` is called only when the note is due, so what it costs is paid once; None says nothing.
    """
    seen = _noted.get()
    if seen is not None and key in seen:
        return
    text = message()
    if seen is not None:
        seen.add(key)
    if text:
        print(f"aelab: note: {text}", file=sys.stderr)


def current_keys(cls: type, data: dict[str, Any], where: str = "config") -> dict[str, Any]:
    """`data` with each key `cls` has renamed under its new name, saying so in a one-line note on stderr."""
    renamed: dict[str, str] = getattr(cls, "RENAMED", {})
    old = [k for k in data if k in renamed]
    if not old:
        return data
    out = dict(data)
    for key in old:
        new = renamed[key]
        if new in data:
            raise ConfigError(f"{where}: {key!r} is the old name of {new!r}; give {new!r} alone")
        out[new] = out.pop(key)
        seen = _noted.get()
        if seen is None or (cls.__qualname__, key) not in seen:
            print(f"aelab: note: {where} key {key!r} is now {new!r}", file=sys.stderr)
        if seen is not None:
            seen.add((cls.__qualname__, key))
    return out


def to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass config as a JSON-ready dict (tuples become lists)."""
    return dataclasses.asdict(cfg)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{where}: bad value {value!r}")
    if origin in (tuple, list):
        variadic = origin is list or (len(args) == 2 and args[1] is Ellipsis)
        if variadic and isinstance(value, (int, float, str)) and not isinstance(value, bool):
            value = [value]  # `--set hidden=32` means one layer of 32
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        inner = args[0] if args else Any
        items = [_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected an object, got {type(value).__name__}")
        return dict(value)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], data: Any, where: str = "config") -> T:
    """Build dataclass `cls` from a dict, refusing unknown keys and ill-typed values."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object, got {type(data).__name__}")
    data = current_keys(cls, data, where)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    try:
        obj = cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from None
    return obj
