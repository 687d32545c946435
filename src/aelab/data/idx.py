"""IDX files (the MNIST format): a validated reader and a writer, raw or gzip by suffix.

Layout: two zero bytes, a dtype code, the number of dimensions; then one big-endian uint32
per dimension; then the data, big-endian, C order. The reader checks every part of that
against the file and refuses an impossible header before it reads (or decompresses) the
payload, so a corrupt or hostile file costs neither time nor memory.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError

__all__ = ["read_idx", "write_idx", "read_idx_header", "IDX_DTYPES"]

# code -> big-endian numpy dtype, as in LeCun's description of the format.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF = {(dt.kind, dt.itemsize): code for code, dt in IDX_DTYPES.items()}
MAX_NDIM = 8
# Deflate cannot expand data by more than about 1032:1; anything beyond this is a lie.
_GZIP_MAX_RATIO = 1100
_GZIP_ERRORS = (OSError, EOFError, zlib.error, gzip.BadGzipFile)


def _is_gz(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def _parse_header(head: bytes, path: Path, read_more) -> tuple[np.dtype, tuple[int, ...], int]:
    """Validate the 4-byte magic and the dims; return (dtype, shape, header length)."""
    if len(head) == 0:
        where = "the gzip stream holds no data" if _is_gz(path) else "empty file"
        raise DataError(f"{path}: {where}, expected an IDX header")
    if len(head) < 4:
        raise DataError(f"{path}: not an IDX file: {len(head)} bytes, shorter than the 4-byte header")
    if head[0] != 0 or head[1] != 0:
        raise DataError(
            f"{path}: not an IDX file: magic starts with bytes {head[0]:#04x} {head[1]:#04x}, expected 0x00 0x00"
        )
    code, ndim = head[2], head[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"{c:#04x}" for c in IDX_DTYPES)
        raise DataError(f"{path}: unknown IDX dtype code {code:#04x} (known: {known})")
    if not 1 <= ndim <= MAX_NDIM:
        raise DataError(f"{path}: IDX header says {ndim} dimensions, expected 1 to {MAX_NDIM}")
    dims_raw = read_more(4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise DataError(
            f"{path}: truncated IDX header: {ndim} dimensions need {4 * ndim} bytes after the magic, "
            f"file has {len(dims_raw)}"
        )
    shape = tuple(int(d) for d in struct.unpack(f">{ndim}I", dims_raw))
    dtype = IDX_DTYPES[code]
    if math.prod(d for d in shape if d) * dtype.itemsize >= 2**62:  # numpy refuses such shapes, even empty
        raise DataError(f"{path}: IDX header declares an impossible shape {shape}")
    return dtype, shape, 4 + 4 * ndim


def read_idx_header(path: str | os.PathLike) -> tuple[np.dtype, tuple[int, ...]]:
    """The (big-endian dtype, shape) an IDX file declares, reading only its header."""
    path = Path(path)
    try:
        opener = gzip.open if _is_gz(path) else open
        with opener(path, "rb") as f:
            head = f.read(4)
            dtype, shape, _ = _parse_header(head, path, f.read)
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except _GZIP_ERRORS as e:
        raise DataError(f"{path}: cannot read IDX header ({_reason(e)})") from None
    return dtype, shape


def _reason(e: BaseException) -> str:
    text = str(e).replace("\n", " ").strip()
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _to_native(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.byteorder == ">" and arr.dtype.itemsize > 1:
        return arr.byteswap().view(arr.dtype.newbyteorder("="))
    return arr.view(arr.dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzip if the name ends in .gz) into a native-endian numpy array."""
    path = Path(path)
    try:
        if _is_gz(path):
            arr = _read_gz(path)
        else:
            arr = _read_raw(path)
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except PermissionError:
        raise DataError(f"{path}: permission denied") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, expected an IDX file") from None
    except MemoryError:
        raise DataError(f"{path}: IDX payload too large to fit in memory") from None
    except _GZIP_ERRORS as e:
        kind = "corrupt gzip stream" if _is_gz(path) else "cannot read file"
        raise DataError(f"{path}: {kind} ({_reason(e)})") from None
    return _to_native(arr)


def _expected_bytes(dtype: np.dtype, shape: tuple[int, ...]) -> int:
    return math.prod(shape) * dtype.itemsize


def _read_raw(path: Path) -> np.ndarray:
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(4)
        dtype, shape, hlen = _parse_header(head, path, f.read)
        expected = _expected_bytes(dtype, shape)
        have = size - hlen
        if have < expected:
            raise DataError(f"{path}: truncated: header says {expected} bytes of data, file has {have}")
        if have > expected:
            raise DataError(
                f"{path}: {have - expected} trailing bytes: header says {expected} bytes of data, file has {have}"
            )
        arr = np.fromfile(f, dtype=dtype, count=math.prod(shape))
    if arr.size != math.prod(shape):  # the file changed under us
        raise DataError(f"{path}: truncated while reading")
    return arr.reshape(shape)


def _read_gz(path: Path) -> np.ndarray:
    compressed_size = path.stat().st_size
    with open(path, "rb") as raw:
        magic = raw.read(2)
    if len(magic) == 0:
        raise DataError(f"{path}: empty file, expected gzip-compressed IDX data")
    if magic != b"\x1f\x8b":
        raise DataError(f"{path}: not a gzip file (the name ends in .gz but it starts with {magic!r})")
    with gzip.open(path, "rb") as f:
        head = f.read(4)
        dtype, shape, hlen = _parse_header(head, path, f.read)
        expected = _expected_bytes(dtype, shape)
        if expected + hlen > compressed_size * _GZIP_MAX_RATIO + 1024:
            raise DataError(
                f"{path}: truncated: header says {expected} bytes of data, "
                f"a {compressed_size}-byte gzip file cannot hold that much"
            )
        # np.empty does not touch its pages: memory grows only as real data arrives.
        buf = np.empty(expected, dtype=np.uint8)
        view = memoryview(buf)
        got = 0
        while got < expected:
            n = f.readinto(view[got:])
            if not n:
                break
            got += n
        if got < expected:
            raise DataError(f"{path}: truncated: header says {expected} bytes of data, file has {got}")
        if f.read(1):
            raise DataError(f"{path}: trailing bytes: header says {expected} bytes of data, the file holds more")
    return buf.view(dtype).reshape(shape)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write an array as IDX (gzip if the name ends in .gz); dtypes u1, i1, i2, i4, f4, f8."""
    path = Path(path)
    arr = np.asarray(array)
    code = _CODE_OF.get((arr.dtype.kind, arr.dtype.itemsize))
    if code is None or arr.dtype.kind not in "uif" or (arr.dtype.kind == "u" and arr.dtype.itemsize != 1):
        raise DataError(
            f"cannot write dtype {arr.dtype} to IDX {path}; supported: uint8, int8, int16, int32, float32, float64"
        )
    if not 1 <= arr.ndim <= MAX_NDIM:
        raise DataError(f"cannot write a {arr.ndim}-dimensional array to IDX {path}; expected 1 to {MAX_NDIM}")
    if any(d >= 2**32 for d in arr.shape):
        raise DataError(f"cannot write shape {arr.shape} to IDX {path}: each dimension must be below 2**32")
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    payload = np.ascontiguousarray(arr, dtype=IDX_DTYPES[code])
    try:
        if _is_gz(path):
            with gzip.open(path, "wb", compresslevel=6) as f:
                f.write(header)
                f.write(memoryview(payload).cast("B"))
        else:
            with open(path, "wb") as f:
                f.write(header)
                f.write(memoryview(payload).cast("B"))
    except OSError as e:
        raise DataError(f"cannot write IDX {path} ({_reason(e)})") from None
