"""Codes and ids to and from FAISS's binary indexes (faiss optional): IndexBinaryFlat, IndexBinaryIDMap over
one, and IndexBinaryHash.

Bit j of our code is bit j % 8 of byte j // 8 of FAISS's code (`bits.to_bytes`), so the bytes go across
as they are. IndexBinaryHash keeps its codes in a hash map that its Python binding does not open, so they
are read from its serialised form (faiss/impl/index_write.cpp, `write_binary_hash_invlists`), and the
count read is checked against the index's ntotal.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from ..errors import CodeIndexError
from .bits import from_bytes, to_bytes


def _faiss(what: str) -> Any:
    try:
        import faiss
    except ImportError:
        raise CodeIndexError(f"{what} needs faiss: pip install 'aelab[faiss]'") from None
    return faiss


def to_faiss(codes: np.ndarray, ids: np.ndarray, bits: int, kind: str = "flat", hash_bits: int | None = None) -> Any:
    """Packed codes (n, words) with their ids in a FAISS binary index of `kind` "flat" or "hash"."""
    faiss = _faiss("to_faiss")
    if bits % 8:
        raise CodeIndexError(f"FAISS binary indexes need a multiple of 8 bits; this index has {bits}")
    raw = to_bytes(codes, bits)
    if kind == "flat":
        flat = faiss.IndexBinaryFlat(bits)
        if np.array_equal(ids, np.arange(len(ids))):
            flat.add(raw)
            return flat
        out = faiss.IndexBinaryIDMap(flat)
        out.add_with_ids(raw, ids)
        return out
    if kind == "hash":
        b = min(bits, 64) if hash_bits is None else hash_bits
        if not 1 <= b <= min(bits, 64):
            raise CodeIndexError(f"hash_bits must be 1..{min(bits, 64)}, got {b}")
        h = faiss.IndexBinaryHash(bits, b)
        h.add_with_ids(raw, ids)
        return h
    raise CodeIndexError(f"unknown FAISS index kind {kind!r}; choose flat or hash")


def from_faiss(index: Any) -> tuple[int, np.ndarray, np.ndarray]:
    """(bits, packed codes (n, words), ids (n,)) of a FAISS IndexBinaryFlat, IndexBinaryIDMap over one, or
    IndexBinaryHash."""
    faiss = _faiss("from_faiss")
    if isinstance(index, faiss.IndexBinaryHash):
        raw, ids = _hash_contents(faiss, index)
        return index.d, from_bytes(raw, index.d), ids
    ids = None
    inner = index
    if isinstance(index, faiss.IndexBinaryIDMap):
        ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        inner = faiss.downcast_IndexBinary(index.index)
    if not isinstance(inner, faiss.IndexBinaryFlat):
        raise CodeIndexError(f"from_faiss reads IndexBinaryFlat, IndexBinaryIDMap over one, or IndexBinaryHash; "
                             f"got {type(index).__name__}")
    n, d = inner.ntotal, inner.d
    raw = faiss.vector_to_array(inner.xb).reshape(n, d // 8)
    return d, from_bytes(raw, d), (np.arange(n, dtype=np.int64) if ids is None else ids)


def _hash_contents(faiss: Any, index: Any) -> tuple[np.ndarray, np.ndarray]:
    """(bytes (n, d / 8), ids (n,)) of an IndexBinaryHash, read from its serialisation: fourcc "IBHh", the
    binary header (d, code_size: int32; ntotal: int64; is_trained: bool; metric: int32), b and nflip (int32),
    then the map: its size (uint64), il_nbit (int32), one bit-packed vector of (key, list size), and for each
    list its ids and its codes, each a vector (uint64 length, then the items)."""
    buf = faiss.serialize_index_binary(index).tobytes()
    at = 0

    def take(fmt: str) -> tuple:
        nonlocal at
        out = struct.unpack_from("<" + fmt, buf, at)
        at += struct.calcsize("<" + fmt)
        return out

    def vector(dtype: type) -> np.ndarray:
        nonlocal at
        (count,) = take("Q")
        a = np.frombuffer(buf, dtype, count, at)
        at += count * np.dtype(dtype).itemsize
        return a

    try:
        if buf[:4] != b"IBHh":
            raise ValueError("not an IndexBinaryHash")
        at = 4
        d, code_size, ntotal, _, _, _, _ = take("iiq?iii")
        lists, _ = take("Qi")
        vector(np.uint8)  # the (key, size) bit strings: the sizes are in the lists themselves
        ids, codes = [], []
        for _ in range(lists):
            ids.append(vector(np.int64))
            codes.append(vector(np.uint8).reshape(-1, code_size))
        ids_all = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        raw = np.concatenate(codes) if codes else np.zeros((0, code_size), np.uint8)
        if len(ids_all) != ntotal or raw.shape != (ntotal, code_size) or d != index.d:
            raise ValueError(f"read {len(ids_all)} items of {ntotal}")
    except (ValueError, struct.error) as e:
        raise CodeIndexError(f"could not read this FAISS version's IndexBinaryHash ({e}); "
                             "copy its codes into an IndexBinaryFlat first") from None
    order = np.argsort(ids_all, kind="stable")
    return raw[order], ids_all[order].astype(np.int64)
