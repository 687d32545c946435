"""`Index`: binary codes by item id, searched by Hamming distance with FAISS's binary-index API.

Semantic hashing (Salakhutdinov & Hinton, 2009) keeps short binary codes in a hash table; this is
that table, with multi-index hashing (Norouzi, Punjani & Fleet, CVPR 2012) for longer codes and
larger radii, and a popcount scan where neither pays (`plan.py` picks). Design and on-disk format:
`aelab.index`.
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CodeIndexError
from . import faiss_io, search, store
from .bits import U64, check_bits, code_keys, words_for
from .interface import CodeIndex, bucket_stats, checked_ids, checked_source
from .segment import Segment

MERGE_RATIO = 2  # a new segment absorbs the last one while that is at most this many times its size


class IndexRecoveryWarning(UserWarning):
    """An index opened without its last, uncommitted append."""


class Index(CodeIndex):
    """Binary codes of 1..1024 bits with int64 item ids; exact search by Hamming distance, as FAISS's binary
    indexes answer it: `add(codes, ids=None)`, `search(queries, k) -> (D, I)`, `range_search(queries, radius)
    -> (lims, D, I)`, and `lookup(codes) -> (lims, I)` for exact codes
    (`interface.CodeIndex`).

    Codes and queries are 2-D, one row per code: (n, bits) bits (bool or 0/1), (n, ceil(bits / 8)) uint8
    bytes packed as FAISS packs them, or (n, words) uint64 words (`pack_bits`); one query is a batch of one.
    Results equal a brute-force scan's, each query's ordered by (distance, id): ties go to the smaller id.

    In memory: `Index(bits)` then `add`. On disk: `save(folder)` writes it and binds the index to the
    folder; `Index.open(folder)` maps it read-only; on a bound index `add` (= `append`) commits each
    batch to the folder atomically.
    """

    def __init__(self, bits: int, source: Mapping[str, Any] | None = None, substrings: int | None = None) -> None:
        """`source`: which model made the codes (free-form JSON, compared on every query that gives one);
        `substrings`: multi-index tables per segment (None: about bits / log2(items); 1: none)."""
        self.bits = check_bits(bits)
        self.words = words_for(self.bits)
        self.source: dict[str, Any] | None = checked_source(source)
        if substrings is not None and (isinstance(substrings, bool) or not isinstance(substrings, int)
                                       or not 1 <= substrings <= self.bits or self.bits / substrings > 64):
            raise CodeIndexError(f"substrings must be an integer from {words_for(self.bits)} to {self.bits} "
                                 f"for {self.bits}-bit codes (each at most 64 bits), got {substrings!r}")
        self.substrings = substrings
        self.folder: Path | None = None
        self.recovered: str | None = None  # set by open when the last append was not committed
        self._segments: list[Segment] = []
        self._files: dict[str, dict[str, dict]] = {}  # segment name -> its files' sizes and sums, when saved
        self._mapped: dict[str, dict[str, np.ndarray]] = {}
        self._generation = 0
        self._next_id = 0

    # -- basics --------------------------------------------------------------------------------

    def __len__(self) -> int:
        return sum(s.n for s in self._segments)

    def __repr__(self) -> str:
        where = f", folder={str(self.folder)!r}" if self.folder else ""
        return f"Index(bits={self.bits}, items={len(self)}, segments={len(self._segments)}{where})"

    @property
    def segments(self) -> list[Segment]:
        return list(self._segments)

    # -- adding -------------------------------------------------------------------------------

    def _ids(self, ids: Any, n: int) -> np.ndarray:
        if ids is None:
            return np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        return checked_ids(ids, n)

    def _segment(self, codes: np.ndarray, ids: np.ndarray) -> Segment:
        name = f"{self._generation + 1:06d}-{secrets.token_hex(4)}"
        return Segment.build(name, self.bits, codes, ids, self.substrings)

    def _plan(self, codes: np.ndarray, ids: np.ndarray) -> tuple[list[Segment], Segment, list[Segment]]:
        """(segments kept, the new segment, segments it absorbed): the log-structured merge rule keeps
        sizes geometrically decreasing, so there are O(log n) segments and each code is rewritten O(log n) times."""
        kept = list(self._segments)
        absorbed: list[Segment] = []
        n = len(ids)
        while kept and kept[-1].n <= MERGE_RATIO * n:
            absorbed.insert(0, kept.pop())
            n += absorbed[0].n
        if absorbed:
            codes = np.concatenate([s.codes for s in absorbed] + [codes])
            ids = np.concatenate([s.ids for s in absorbed] + [ids])
        return kept, self._segment(codes, ids), absorbed

    def add(self, codes: Any, ids: Any = None, source: Mapping[str, Any] | None = None) -> None:
        """Add codes (n rows, in any of the class's three forms) with int64 ids (default: the next unused ones).

        On an index bound to a folder this is `append`: the batch is on disk when it returns."""
        packed = self._rows(codes, "codes", source)
        if not len(packed):
            self._ids(ids, 0)
            return
        if self.folder is not None:
            self._append(packed, ids)
            return
        ids = self._ids(ids, len(packed))
        kept, seg, _ = self._plan(packed, ids)
        self._segments = kept + [seg]
        self._generation += 1
        self._next_id = max(self._next_id, int(ids.max()) + 1)

    def append(self, codes: Any, ids: Any = None, source: Mapping[str, Any] | None = None) -> None:
        """Append a batch to the index's folder, committed by one atomic manifest rename."""
        if self.folder is None:
            raise CodeIndexError("append needs an index on disk: save(folder) it first, or Index.open(folder)")
        self.add(codes, ids, source)

    def _append(self, packed: np.ndarray, given_ids: Any) -> None:
        folder = self.folder
        assert folder is not None
        with store.writer_lock(folder):
            disk = store.read_manifest(folder)
            if disk["generation"] != self._generation:  # another process appended since: start from its state
                self._load(folder, disk, mmap=True)
            ids = self._ids(given_ids, len(packed))  # default ids continue from the state on disk
            store.clean(folder, disk)
            kept, seg, absorbed = self._plan(packed, ids)
            store.write_pending(folder, {"generation": self._generation + 1, "items": int(len(ids)),
                                         "segments": [seg.name]})
            files = store.write_segment(folder, seg.name, seg.arrays())
            segments = kept + [seg]
            all_files = {**{s.name: self._files[s.name] for s in kept}, seg.name: files}
            manifest = self._manifest(segments, all_files, self._generation + 1,
                                      max(self._next_id, int(ids.max()) + 1), len(ids))
            store.commit(folder, manifest, [s.name for s in absorbed])
            self._segments, self._files = segments, all_files
            for s in absorbed:
                self._mapped.pop(s.name, None)
            self._generation, self._next_id = manifest["generation"], manifest["next_id"]

    def compact(self) -> None:
        """Merge all segments into one (in memory, or committed to the folder of a bound index)."""
        if len(self._segments) <= 1:
            return
        codes = np.concatenate([s.codes for s in self._segments])
        ids = np.concatenate([s.ids for s in self._segments])
        seg = self._segment(codes, ids)
        if self.folder is None:
            self._segments = [seg]
            self._generation += 1
            return
        folder = self.folder
        with store.writer_lock(folder):
            disk = store.read_manifest(folder)
            if disk["generation"] != self._generation:
                raise CodeIndexError(f"index {folder} changed since it was opened; open it again, then compact")
            store.clean(folder, disk)
            store.write_pending(folder, {"generation": self._generation + 1, "items": 0, "segments": [seg.name]})
            files = store.write_segment(folder, seg.name, seg.arrays())
            manifest = self._manifest([seg], {seg.name: files}, self._generation + 1, self._next_id, 0)
            store.commit(folder, manifest, [s.name for s in self._segments])
            self._segments, self._files, self._mapped = [seg], {seg.name: files}, {}
            self._generation = manifest["generation"]

    # -- disk ---------------------------------------------------------------------------------

    def _manifest(self, segments: list[Segment], files: dict[str, dict], generation: int, next_id: int,
                  appended: int) -> dict[str, Any]:
        return {"format": store.FORMAT, "version": store.VERSION, "bits": self.bits, "words": self.words,
                "items": sum(s.n for s in segments), "generation": generation, "next_id": next_id,
                "source": self.source, "substrings": self.substrings, "last_append_items": appended,
                "segments": [{**s.meta(), "files": files[s.name]} for s in segments]}

    def save(self, folder: str | Path, overwrite: bool = False) -> Path:
        """Write the index to `folder` (a new one, or replace an index there with overwrite=True) and bind to it."""
        folder = Path(folder).expanduser()
        if folder.exists() and not folder.is_dir():
            raise CodeIndexError(f"cannot save an index to {folder}: it is a file")
        with store.writer_lock(folder):
            old = None
            if (folder / store.MANIFEST).exists():
                if not overwrite:
                    raise CodeIndexError(f"{folder} already holds an index; pass overwrite=True to replace it")
                try:
                    old = store.read_manifest(folder)
                except CodeIndexError:
                    old = None  # a damaged index is being replaced: nothing of it is kept
            elif folder.is_dir() and any(p.name not in (store.LOCK, store.PENDING, store.SEGMENTS)
                                         for p in folder.iterdir()):
                raise CodeIndexError(f"{folder} is a non-empty folder that holds no index; save to a new folder")
            store.clean(folder, old)
            generation = (old["generation"] if old else 0) + 1
            segs = [Segment(f"{generation:06d}-{secrets.token_hex(4)}", s.bits, s.codes, s.ids, s.full, s.subs)
                    for s in self._segments]  # fresh names: never clash with the old files
            store.write_pending(folder, {"generation": generation, "items": len(self), "segments": [s.name for s in segs]})
            files = {s.name: store.write_segment(folder, s.name, s.arrays()) for s in segs}
            manifest = self._manifest(segs, files, generation, self._next_id, len(self))
            store.commit(folder, manifest, [s["name"] for s in old["segments"]] if old else [])
        self._segments, self._files, self._mapped = segs, files, {}
        self.folder, self._generation = folder, generation
        return folder

    @classmethod
    def open(cls, folder: str | Path, mmap: bool = True, verify: bool = False) -> Index:
        """Open a saved index: memory-mapped read-only (mmap=True: nothing is read until searched) or loaded.

        Warns (IndexRecoveryWarning, and sets `recovered`) when the last append was not committed.
        `verify`: check every file's sha256 (reads everything)."""
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise CodeIndexError(f"no index at {folder} (no such folder)")
        for attempt in range(5):
            manifest = store.read_manifest(folder)
            index = cls(manifest["bits"], manifest.get("source"), manifest.get("substrings"))
            try:
                index._load(folder, manifest, mmap)
                break
            except FileNotFoundError as e:
                # a writer replaced segments between our reading the manifest and the files: read it again
                if store.read_manifest(folder)["generation"] == manifest["generation"] or attempt == 4:
                    raise CodeIndexError(f"index segment file {e.filename} is missing") from None
        if verify:
            store.verify_files(folder, manifest)
        lost = store.uncommitted(folder, manifest)
        if lost is not None:
            index.recovered = (f"index {folder}: the last append of {lost.get('items', '?')} items was not committed; "
                               f"opened with {len(index)} items")
            warnings.warn(index.recovered, IndexRecoveryWarning, stacklevel=2)
        return index

    def _load(self, folder: Path, manifest: dict[str, Any], mmap: bool) -> None:
        segments, files, mapped = [], {}, {}
        for meta in manifest["segments"]:
            arrays = store.load_files(folder, meta, mmap)
            where = str(folder / store.SEGMENTS / meta["name"])
            segments.append(Segment.from_arrays(meta, self.bits, {k: np.asarray(v) for k, v in arrays.items()}, where))
            files[meta["name"]] = meta["files"]
            mapped[meta["name"]] = arrays
        self._segments, self._files, self._mapped = segments, files, mapped
        self.folder, self._generation, self._next_id = folder, manifest["generation"], manifest["next_id"]

    def verify(self) -> None:
        """Check the saved files against the manifest's sha256 sums (one-line error naming a damaged file)."""
        if self.folder is None:
            raise CodeIndexError("verify checks a saved index; this one is only in memory")
        store.verify_files(self.folder, store.read_manifest(self.folder))

    def mapped_arrays(self) -> list[np.ndarray]:
        """The arrays as opened from disk (np.memmap when opened with mmap=True)."""
        return [a for arrays in self._mapped.values() for a in arrays.values()]

    # -- searching ----------------------------------------------------------------------------

    def search(self, queries: Any, k: int, method: str = "auto",
               source: Mapping[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest items of each query: (D, I), distances (n, k) int32 and ids (n, k) int64, each row
        by (distance, id). Where the index holds fewer than k items a row ends in ids -1 with distance
        2**31 - 1, as FAISS fills it.

        method: "auto" (each segment as `plan` decides), "scan", "hash" or "multi-index"; all give the same."""
        self._check_method(method)
        k = self._check_k(k)
        q = self._rows(queries, "queries", source)
        return search.knn(self._segments, q, k, method)

    def range_search(self, queries: Any, radius: int, method: str = "auto",
                     source: Mapping[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every item at distance < radius of each query, as FAISS's range_search: (lims, D, I), query i's
        ids I[lims[i]:lims[i + 1]] (int64) with distances D[...] (int32), ordered by (distance, id).

        The radius is exclusive, as FAISS's is: "within r bits" is radius r + 1. lims is int64 (FAISS:
        uint64) and D int32 (FAISS: float32), the same values. method: as `search`."""
        self._check_method(method)
        radius = self._check_radius(radius)
        q = self._rows(queries, "queries", source)
        return search.range_search(self._segments, q, radius, method)

    # -- introspection, FAISS -----------------------------------------------------------------

    def codes_and_ids(self) -> tuple[np.ndarray, np.ndarray]:
        """All codes (n, words) and ids (n,), ordered by id (then code)."""
        if not self._segments:
            return np.zeros((0, self.words), U64), np.zeros(0, np.int64)
        codes = np.concatenate([s.codes for s in self._segments])
        ids = np.concatenate([s.ids for s in self._segments])
        order = np.argsort(ids, kind="stable")
        return codes[order], ids[order]

    def stats(self) -> dict[str, Any]:
        """Items, distinct codes, bucket sizes (items per distinct code), bytes on disk and in memory."""
        if len(self._segments) == 1 and self.words == 1:  # one word: equal hash keys are equal codes
            sizes = np.unique(code_keys(self._segments[0].codes), return_counts=True)[1]
        else:  # count equal codes across segments: group the codes themselves
            codes = np.concatenate([s.codes for s in self._segments]) if self._segments else np.zeros((0, self.words), U64)
            sizes = np.unique(codes, axis=0, return_counts=True)[1] if len(codes) else np.zeros(0, np.int64)
        mapped = sum(a.nbytes for a in self.mapped_arrays() if isinstance(a, np.memmap))
        arrays = sum(s.codes.nbytes + s.ids.nbytes + s.full.nbytes() + sum(t.nbytes() for _, _, t in s.subs)
                     for s in self._segments)
        disk = None
        if self.folder is not None:
            disk = sum(f["bytes"] for files in self._files.values() for f in files.values())
            disk += (self.folder / store.MANIFEST).stat().st_size
        return {
            "items": len(self), "bits": self.bits, "segments": len(self._segments), **bucket_stats(sizes),
            "substrings": [len(s.subs) for s in self._segments],
            "bytes_on_disk": disk, "memory_bytes": arrays - mapped, "mapped_bytes": mapped,
        }

    @classmethod
    def from_faiss(cls, index: Any, source: Mapping[str, Any] | None = None,
                   substrings: int | None = None) -> Index:
        """An Index holding the codes and ids of a FAISS IndexBinaryFlat (ids 0..n-1), IndexBinaryIDMap over
        one, or IndexBinaryHash (`faiss_io`)."""
        bits, codes, ids = faiss_io.from_faiss(index)
        out = cls(bits, source, substrings)
        if len(ids):
            out.add(codes, ids)
        return out
