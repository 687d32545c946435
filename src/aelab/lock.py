"""One writer per folder (a run, an index): an OS lock on FOLDER/.lock, released by the OS when the process ends,
even by kill -9, so a killed writer never leaves a stale lock."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from typing import Callable

from .errors import AelabError, CheckpointError

LOCK = ".lock"

_held: dict[str, tuple[int, int]] = {}  # resolved folder -> (fd, depth): this process already holds it


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows: a byte-range lock on the first byte
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _holder(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        pid = ""
    return f"process {pid}" if pid.isdigit() else "another process"


@contextlib.contextmanager
def folder_lock(folder: Path, busy: Callable[[str], AelabError], tidy: bool = False) -> Iterator[None]:
    """Hold `folder`'s lock while the block runs (creating the folder); re-entrant within one process.

    Another process asking for it gets `busy(holder)` ("process 1234"); with `tidy`, a folder this call
    created is removed again when nothing but the lock was written in it.
    """
    folder = Path(folder)
    key = str(folder.resolve())
    if key in _held:
        fd, depth = _held[key]
        _held[key] = (fd, depth + 1)
        try:
            yield
        finally:
            fd, depth = _held[key]
            _held[key] = (fd, depth - 1)
        return
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    if not _try_lock(fd):
        os.close(fd)
        raise busy(_holder(path))
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _held[key] = (fd, 1)
    try:
        yield
    finally:
        del _held[key]
        if tidy and created and [p.name for p in folder.iterdir()] == [LOCK]:  # nothing was written: no trace
            path.unlink()
            folder.rmdir()
        else:
            os.ftruncate(fd, 0)  # no pid left behind: the file names a process only while it holds the lock
        os.close(fd)  # closing the descriptor releases the lock; a lock file left behind is harmless


def held_elsewhere(folder: Path) -> bool:
    """Whether another process, alive now, holds `folder`'s lock (a run being trained): the lock file names its
    holder while held (emptied on release; a killed holder's pid names no live process). It only reads the file:
    taking the lock to test it could make a trainer starting that instant fail as busy."""
    try:
        pid = int((Path(folder) / LOCK).read_text().strip() or 0)
    except (OSError, ValueError):
        return False
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def run_lock(folder: Path) -> contextlib.AbstractContextManager[None]:
    """The lock of a run folder, held by the process that trains it."""
    return folder_lock(folder, lambda holder: CheckpointError(
        f"run folder {folder} is in use by {holder}; wait for it to finish or stop it"), tidy=True)
