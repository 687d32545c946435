"""Packed binary codes: bit order, packing, Hamming distance, flip masks and word hashing.

Bit order (everything in `aelab.index` uses it): bit j of a code is bit j % 64 (least significant
first) of uint64 word j // 64; the bits above `bits` in the last word are zero. Viewed as
little-endian bytes this is byte j // 8, bit j % 8, i.e. `np.packbits(..., bitorder="little")`,
which is the byte string FAISS's binary indexes take (see `faiss_io`).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..errors import CodeIndexError

MAX_BITS = 1024
U64 = np.uint64
_LE = np.dtype("<u8")


_LUT = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def _popcount_lut(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """np.bitwise_count for numpy < 2.0: a byte table, summed over each element's bytes."""
    x = np.asarray(x)
    raw = np.ascontiguousarray(x).view(np.uint8).reshape(x.shape + (x.dtype.itemsize,))
    res = _LUT[raw].sum(axis=-1, dtype=np.uint8)
    if out is None:
        return res
    out[...] = res
    return out


# bits set per element, as uint8 (numpy >= 2.0 has it built in, vectorised)
popcount = getattr(np, "bitwise_count", _popcount_lut)


def words_for(bits: int) -> int:
    """Number of uint64 words holding a `bits`-bit code."""
    return (bits + 63) // 64


def check_bits(bits: object) -> int:
    """`bits` as an int in 1..MAX_BITS, else a one-line error."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= int(bits) <= MAX_BITS:
        raise CodeIndexError(f"code length must be an integer from 1 to {MAX_BITS} bits, got {bits!r}")
    return int(bits)


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Bool (or 0/1) array (..., bits) -> uint64 array (..., words) in the module's bit order."""
    a = np.asarray(bits)
    if a.ndim == 0 or a.shape[-1] == 0:
        raise CodeIndexError(f"codes must have a last axis of 1 to {MAX_BITS} bits, got shape {a.shape}")
    if a.dtype != np.bool_:
        if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
            raise CodeIndexError(f"binary codes must be bool or 0/1 numbers, got dtype {a.dtype}")
        if a.size and not np.isin(a, (0, 1)).all():
            raise CodeIndexError("binary codes must hold only 0 and 1 (threshold real-valued codes first)")
        a = a.astype(np.bool_)
    n = check_bits(a.shape[-1])
    w = words_for(n)
    packed = np.packbits(a, axis=-1, bitorder="little")
    pad = w * 8 - packed.shape[-1]
    if pad:
        packed = np.concatenate([packed, np.zeros(packed.shape[:-1] + (pad,), np.uint8)], axis=-1)
    return np.ascontiguousarray(packed).view(_LE).astype(U64, copy=False)


def unpack_bits(words: np.ndarray, bits: int) -> np.ndarray:
    """uint64 array (..., words) -> bool array (..., bits); the inverse of `pack_bits`."""
    bits = check_bits(bits)
    a = np.asarray(words)
    if a.dtype != U64 or a.ndim == 0 or a.shape[-1] != words_for(bits):
        raise CodeIndexError(f"packed {bits}-bit codes are uint64 arrays (..., {words_for(bits)}), "
                             f"got {a.dtype} {a.shape}")
    raw = np.ascontiguousarray(a.astype(_LE, copy=False)).view(np.uint8)
    return np.unpackbits(raw, axis=-1, count=bits, bitorder="little").astype(np.bool_)


def packed_rows(codes: object, bits: int, what: str) -> np.ndarray:
    """Codes as packed uint64 (n, words), from a 2-D array whose row length says how a row holds a code.

    The one rule for every code the index takes (added codes and queries alike), by the row length:
    `bits` entries: one per bit, bool or 0/1 numbers of any dtype; ceil(bits / 8) uint8 entries: FAISS's
    packed bytes (`to_bytes`); `words_for(bits)` uint64 entries: packed words (`pack_bits`). The forms
    coincide only for 1-bit codes, where they mean the same. A single code is a batch of one: (1, ...)."""
    a = codes if type(codes) is np.ndarray else np.asarray(codes)
    w, nbytes = words_for(bits), (bits + 7) // 8
    if a.ndim != 2:
        raise CodeIndexError(f"{what} are a 2-D array, one row per code (a single code is a batch of one, "
                             f"shape (1, ...)); got shape {a.shape}")
    if a.shape[1] == bits and a.dtype.kind in "biufc":  # bool or a number
        return pack_bits(a) if len(a) else np.zeros((0, w), U64)
    if a.dtype == np.uint8 and a.shape[1] == nbytes:
        spare = bits % 8
        if spare and len(a) and (a[:, -1] >> np.uint8(spare)).any():
            raise CodeIndexError(f"packed {what} have bits set above bit {bits}; pack them with np.packbits("
                                 f"..., bitorder='little')")
        return from_bytes(a, bits)
    if a.dtype == U64 and a.shape[1] == w:
        spare = bits % 64
        if spare and len(a) and int(np.bitwise_or.reduce(a[:, -1])) >> spare:
            raise CodeIndexError(f"packed {what} have bits set above bit {bits}; pack them with pack_bits")
        return np.ascontiguousarray(a)
    forms = (f"(n, {bits}) bits, (n, {nbytes}) uint8 bytes as FAISS packs them, or (n, {w}) uint64 words")
    raise CodeIndexError(f"{what} for {bits}-bit codes are {forms}; got {a.dtype} {a.shape}")


def to_bytes(words: np.ndarray, bits: int) -> np.ndarray:
    """uint64 (N, words) -> uint8 (N, ceil(bits / 8)) in FAISS's layout (little-endian bytes)."""
    raw = np.ascontiguousarray(np.asarray(words).astype(_LE, copy=False)).view(np.uint8)
    return np.ascontiguousarray(raw[:, : (bits + 7) // 8])


def from_bytes(raw: np.ndarray, bits: int) -> np.ndarray:
    """uint8 (N, ceil(bits / 8)) in FAISS's layout -> uint64 (N, words); the inverse of `to_bytes`."""
    raw = np.asarray(raw, dtype=np.uint8)
    w = words_for(bits)
    out = np.zeros((raw.shape[0], w * 8), np.uint8)
    out[:, : raw.shape[1]] = raw
    return out.view(_LE).astype(U64, copy=False)


def row_distances(x: np.ndarray) -> np.ndarray:
    """Hamming weights (N,) int32 of XORed codes (N, W): the distances they came from."""
    c = popcount(x)
    return c.sum(axis=1, dtype=np.int32) if c.shape[1] > 1 else c[:, 0].astype(np.int32)


def extract(codes: np.ndarray, start: int, width: int) -> np.ndarray:
    """Bits [start, start + width) of each code (N, W) as uint64 (N,); width <= 64."""
    w, off = divmod(start, 64)
    out = codes[:, w] >> U64(off) if off else codes[:, w].copy()
    if off and off + width > 64:  # the substring runs into the next word
        out |= codes[:, w + 1] << U64(64 - off)
    if width < 64:
        out &= U64((1 << width) - 1)
    return out


def ball_volume(width: int, radius: int) -> int:
    """Number of codes within Hamming distance `radius` of a `width`-bit code."""
    return sum(math.comb(width, i) for i in range(min(radius, width) + 1))


@functools.lru_cache(maxsize=256)
def flip_positions(width: int, count: int) -> np.ndarray:
    """All sets of `count` distinct bit positions below `width`, as int16 (M, count), lexicographic."""
    if count == 0:
        return np.zeros((1, 0), np.int16)
    combos = np.arange(width, dtype=np.int16)[:, None]
    for _ in range(count - 1):  # extend each set by every position above its largest one, vectorised
        last = combos[:, -1].astype(np.int64)
        reps = width - 1 - last
        keep = reps > 0
        combos, last, reps = combos[keep], last[keep], reps[keep]
        rows = np.repeat(np.arange(len(combos)), reps)
        starts = np.repeat(np.cumsum(reps) - reps, reps)
        nxt = (np.arange(len(rows)) - starts + np.repeat(last + 1, reps)).astype(np.int16)
        combos = np.concatenate([combos[rows], nxt[:, None]], axis=1)
    combos.setflags(write=False)
    return combos


@functools.lru_cache(maxsize=256)
def flip_masks(width: int, count: int) -> np.ndarray:
    """XOR masks with exactly `count` of the low `width` bits set, as uint64 (M, words_for(width))."""
    pos = flip_positions(width, count).astype(np.int64)
    out = np.zeros((len(pos), words_for(width)), U64)
    rows = np.repeat(np.arange(len(pos)), count)
    flat = pos.reshape(-1)
    # distinct positions: adding each bit equals or-ing it
    np.add.at(out, (rows, flat // 64), np.left_shift(U64(1), (flat % 64).astype(U64)))
    out.setflags(write=False)
    return out


def _mix(x: np.ndarray) -> np.ndarray:
    # splitmix64's finaliser (Steele, Lea & Flood, OOPSLA 2014): every input bit reaches every output bit
    x = x ^ (x >> U64(30))
    x = x * U64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> U64(27))
    x = x * U64(0x94D049BB133111EB)
    return x ^ (x >> U64(31))


FIB = U64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio, odd: multiplying by it is a bijection of uint64


def code_keys(codes: np.ndarray) -> np.ndarray:
    """The 64-bit hash (N,) of codes (N, W) whose top bits pick a bucket of the full-code table.

    One word: Fibonacci hashing (Knuth, TAOCP vol. 3, 6.4), a bijection, so the top bits of equal keys
    mix every bit of the code; several words: splitmix64's finaliser over the words, chained."""
    if codes.shape[1] == 1:
        return codes[:, 0] * FIB
    h = np.full(codes.shape[0], 0x9E3779B97F4A7C15, U64)
    for j in range(codes.shape[1]):
        h = _mix(h ^ codes[:, j])
    return h
