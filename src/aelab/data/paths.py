"""Where named datasets are looked for: a folder given by the caller, $AELAB_DATA, ~/.cache/aelab."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["data_search_dirs", "data_folders", "default_cache_dir", "ENV_VAR"]

ENV_VAR = "AELAB_DATA"


def default_cache_dir() -> Path:
    """The per-user cache folder that `aelab data fetch` writes to: ~/.cache/aelab."""
    return Path("~/.cache/aelab").expanduser()


def data_search_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Base folders to search, in order: data_dir, $AELAB_DATA (os.pathsep-separated), ~/.cache/aelab."""
    dirs: list[Path] = []
    if data_dir is not None and str(data_dir) != "":
        dirs.append(Path(data_dir).expanduser())
    env = os.environ.get(ENV_VAR, "")
    dirs.extend(Path(p).expanduser() for p in env.split(os.pathsep) if p.strip())
    dirs.append(default_cache_dir())
    seen: set[Path] = set()
    unique = []
    for d in dirs:
        if d not in seen:
            seen.add(d)
            unique.append(d)
    return unique


def data_folders(name: str, data_dir: str | os.PathLike | None, looked: list[str]) -> Iterator[Path]:
    """The folders that may hold data set `name`, in search order: `base/<name>/`, then `base/`, of
    each base folder of data_search_dirs that exists.

    Each one is appended to `looked` as it is reached, and so is each missing base ("(no such
    folder)"), so that a caller that stops early or finds nothing can say where it looked.
    """
    for base in data_search_dirs(data_dir):
        if not base.is_dir():
            looked.append(f"{base} (no such folder)")
            continue
        for folder in (base / name, base):
            if not folder.is_dir():
                continue
            looked.append(str(folder))
            yield folder
