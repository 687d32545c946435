"""The index folder: immutable segment files, one small manifest that commits them, one writer at a time.

```
INDEX/manifest.json                 format, version, bits, source, generation, items, next_id, and per
                                    segment: name, items, its tables, each file's size and sha256
INDEX/segments/NAME/codes.npy       uint64 (n, words), grouped by full-table slot, then by id
INDEX/segments/NAME/ids.npy         int64 (n,), in the same order
INDEX/segments/NAME/full.offsets.npy  the full-code table: where each slot's codes start (a slot is the
                                    top bits of the code's hash, or the code itself when it is short)
INDEX/segments/NAME/subJ.order.npy  substring table J: item positions (uint32) by substring value,
INDEX/segments/NAME/subJ.offsets.npy  with where each value's run starts (direct addressing),
INDEX/segments/NAME/subJ.keys.npy     or the sorted values (binary search) for wide substrings
INDEX/pending.json                  the write in progress: generation, items, its new segments
INDEX/.lock                         the OS lock of the process writing (released by the OS when it ends)
```
A write (save, append, compact) first records pending.json, then writes new segment folders
(each file atomically, under a fresh name), then renames a new manifest over the old one: that rename
is the commit. Only then are the segments it replaced and pending.json removed. A kill at any point
leaves the old manifest with its untouched segments, or the new one with all of its files, so an
open always finds a whole index; a pending.json newer than the manifest tells it that the last
append was lost, and how big it was. Files no manifest names are removed by the next writer, never
by a reader (a reader may still have them mapped, which POSIX allows after unlinking).

Open checks each file's size and .npy header against the manifest (truncation, wrong shape) without
reading the data, so it costs the same for 1k or 10M items; `verify` compares the sha256 sums.
Plain .npy files and JSON only, never pickle: `np.load(..., allow_pickle=False)`.
Every step of a write goes through `atomic_write_bytes`, `atomic_write_json`, `remove_segment` or
`remove_pending` here; tests/killpoints_index.py wraps them in a subprocess to SIGKILL it after any one.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CodeIndexError
from ..fsio import atomic_write_bytes, atomic_write_json
from ..lock import folder_lock

FORMAT = "aelab.index"
VERSION = 1
MANIFEST = "manifest.json"
PENDING = "pending.json"
SEGMENTS = "segments"
LOCK = ".lock"


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def write_segment(folder: Path, name: str, arrays: dict[str, np.ndarray]) -> dict[str, dict]:
    """Write a segment's files; returns {file: {"bytes", "sha256"}} for the manifest."""
    out = {}
    for fname, array in arrays.items():
        payload = npy_bytes(array)
        atomic_write_bytes(folder / SEGMENTS / name / fname, payload)
        out[fname] = {"bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
    return out


def read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CodeIndexError(f"{what} {path} is corrupt or unreadable ({type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else 'empty'})") from None
    if not isinstance(data, dict):
        raise CodeIndexError(f"{what} {path} is corrupt (not a JSON object)")
    return data


def read_manifest(folder: Path) -> dict[str, Any]:
    """The committed manifest, checked for the fields every reader relies on."""
    path = folder / MANIFEST
    try:
        m = read_json(path, "index manifest")
    except FileNotFoundError:
        pending = _read_pending(folder)
        if pending is not None:
            raise CodeIndexError(f"index {folder} was never committed: its first save of "
                                 f"{pending.get('items', '?')} items was interrupted") from None
        raise CodeIndexError(f"no index at {folder} ({path} is missing)") from None
    if m.get("format") != FORMAT:
        raise CodeIndexError(f"{path} is not an aelab index manifest (format {m.get('format')!r})")
    if not isinstance(m.get("version"), int) or m["version"] > VERSION:
        raise CodeIndexError(f"index {folder} has format version {m.get('version')!r}; this aelab reads up to "
                             f"{VERSION} (upgrade aelab)")
    try:
        ok = (isinstance(m["bits"], int) and isinstance(m["items"], int) and isinstance(m["generation"], int)
              and isinstance(m["next_id"], int) and isinstance(m["segments"], list)
              and all(isinstance(s, dict) and isinstance(s["name"], str) and isinstance(s["items"], int)
                      and isinstance(s["files"], dict) and isinstance(s["substrings"], list)
                      and isinstance(s["full"], dict) for s in m["segments"])
              and sum(s["items"] for s in m["segments"]) == m["items"])
    except (KeyError, TypeError):
        ok = False
    if not ok:
        raise CodeIndexError(f"index manifest {path} is corrupt (missing or inconsistent fields)")
    return m


def _read_pending(folder: Path) -> dict[str, Any] | None:
    try:
        return read_json(folder / PENDING, "index pending record")
    except (FileNotFoundError, CodeIndexError):
        return None  # a pending record is advisory: a damaged one only costs the message


def uncommitted(folder: Path, manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The pending record of a write that never committed (newer than the manifest), else None."""
    p = _read_pending(folder)
    if p is not None and isinstance(p.get("generation"), int) and p["generation"] > manifest["generation"]:
        return p
    return None


def load_files(folder: Path, seg: dict[str, Any], mmap: bool) -> dict[str, np.ndarray]:
    """A segment's arrays, memory-mapped or read, after checking each file's size against the manifest."""
    out = {}
    for fname, info in seg["files"].items():
        path = folder / SEGMENTS / seg["name"] / fname
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise
        except OSError as e:
            raise CodeIndexError(f"index segment file {path} is unreadable ({e.strerror})") from None
        if not isinstance(info, dict) or size != info.get("bytes"):
            raise CodeIndexError(f"index segment file {path} is truncated or damaged: {size} bytes, "
                                 f"the manifest says {info.get('bytes') if isinstance(info, dict) else '?'}")
        try:
            out[fname] = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        except FileNotFoundError:
            raise
        except (OSError, ValueError) as e:
            raise CodeIndexError(f"index segment file {path} is corrupt ({str(e).splitlines()[0]})") from None
    return out


def verify_files(folder: Path, manifest: dict[str, Any]) -> None:
    """Compare every segment file's sha256 with the manifest; a one-line error names the first that differs."""
    for seg in manifest["segments"]:
        for fname, info in seg["files"].items():
            path = folder / SEGMENTS / seg["name"] / fname
            h = hashlib.sha256()
            try:
                with open(path, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
            except OSError as e:
                raise CodeIndexError(f"index segment file {path} is unreadable ({e.strerror})") from None
            if h.hexdigest() != info.get("sha256"):
                raise CodeIndexError(f"index segment file {path} is corrupt (its sha256 differs from the manifest's)")


def clean(folder: Path, manifest: dict[str, Any] | None) -> None:
    """Remove segment folders the manifest does not name (uncommitted or replaced writes); writer only."""
    keep = {s["name"] for s in manifest["segments"]} if manifest else set()
    root = folder / SEGMENTS
    if root.is_dir():
        for p in root.iterdir():
            if p.name not in keep:
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    for p in folder.glob(f".{MANIFEST}.*.tmp"):
        p.unlink(missing_ok=True)


def commit(folder: Path, manifest: dict[str, Any], replaced: list[str]) -> None:
    """Rename the new manifest in (the commit), then remove what it replaced and the pending record."""
    atomic_write_json(folder / MANIFEST, manifest)
    for name in replaced:
        remove_segment(folder, name)
    remove_pending(folder)


def remove_segment(folder: Path, name: str) -> None:
    """Remove one segment folder that a committed manifest replaced."""
    shutil.rmtree(folder / SEGMENTS / name, ignore_errors=True)


def remove_pending(folder: Path) -> None:
    """Remove the pending record of a write that has committed."""
    (folder / PENDING).unlink(missing_ok=True)


def write_pending(folder: Path, record: dict[str, Any]) -> None:
    """Record the write about to start (before any of its segment files)."""
    atomic_write_json(folder / PENDING, record)


def writer_lock(folder: Path) -> contextlib.AbstractContextManager[None]:
    """Hold the index's OS lock for one write; a second writer gets a one-line error naming the holder."""
    return folder_lock(folder, lambda holder: CodeIndexError(
        f"index {folder} is being written by {holder}; try again when it is done"))
