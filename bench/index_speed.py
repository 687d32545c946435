"""aelab.index against FAISS's binary indexes: build time, query latency and memory, one thread each.

For 32- and 64-bit uniformly random codes (1M and 10M by default; --sizes to run smaller), every
operation the two libraries share is run on the same 200 queries: exact lookup (radius 0), radius 1
and 2, and top-100. Each query is a database code with 0, 1 or 2 bits flipped, so radius searches find
something. Before timing, every answer is checked against the other library's: the same set of
(id, distance) pairs within the radius, the same top-100 distances (ids may differ only among ties
at the 100th distance, which FAISS breaks its own way). Each engine then answers the queries in turn,
three rounds with the engines' order rotated, and a query's time is its best round, so that load
from other processes on a shared machine falls on no one engine.

FAISS indexes: IndexBinaryFlat (brute force; range_search and top-k), IndexBinaryHash (one table on
min(bits, 64) bits, nflip = r: exact for range search) and IndexBinaryMultiHash (the same substrings
as ours, nflip = floor(r / tables): exact by the pigeonhole principle). FAISS's range_search keeps
distances < radius, so radius r is asked as r + 1. Their k-NN searches are approximate and not timed.
Memory: our arrays' bytes, FAISS's serialised size; the growth of the process's resident set while
building is recorded too (it is noisy: freed temporaries are reused).

    OMP_NUM_THREADS=1 python bench/index_speed.py                # 1M and 10M, 32 and 64 bits
    OMP_NUM_THREADS=1 python bench/index_speed.py --sizes 100000 --bits 64
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy loads: one thread for everyone

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine, save_rows  # noqa: E402

from aelab.index import Index, kernels  # noqa: E402
from aelab.index.bits import to_bytes  # noqa: E402

OUT = RESULTS / "index_speed.json"


def parse_size(text: str) -> int:
    text = text.strip().upper()
    mult = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if mult > 1 else text) * mult)


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def random_codes(n: int, bits: int, rng: np.random.Generator) -> np.ndarray:
    codes = rng.integers(0, 2**63, size=(n, 1), dtype=np.uint64) << np.uint64(1)
    codes |= rng.integers(0, 2, size=(n, 1), dtype=np.uint64)
    if bits < 64:
        codes &= np.uint64((1 << bits) - 1)
    return codes


def make_queries(codes: np.ndarray, bits: int, count: int, rng: np.random.Generator) -> np.ndarray:
    q = codes[rng.integers(0, len(codes), count)].copy()
    for i in range(count):
        for b in rng.choice(bits, size=i % 3, replace=False):  # 0, 1 or 2 flipped bits
            q[i, 0] ^= np.uint64(1 << int(b))
    return q


def timed_build(make) -> tuple[object, float, int]:
    gc.collect()
    before = rss()
    t = time.perf_counter()
    obj = make()
    seconds = time.perf_counter() - t
    gc.collect()
    return obj, seconds, max(rss() - before, 0)


def pairs_faiss(res, q: int) -> set:
    lims, d, i = res
    return {(int(i[j]), int(d[j])) for j in range(lims[q], lims[q + 1])}


def check(name: str, ok: bool, detail: str) -> None:
    if not ok:
        raise SystemExit(f"NOT EXACT: {name}: {detail}")


def run_config(bits: int, n: int, queries: int, k: int, radii: list[int], seed: int, scratch: str | None) -> list[dict]:
    import faiss

    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(seed)
    codes = random_codes(n, bits, rng)
    qs = make_queries(codes, bits, queries, rng)
    raw = to_bytes(codes, bits)
    qraw = to_bytes(qs, bits)
    print(f"\n{bits}-bit codes, {n:,} items, {queries} queries", flush=True)

    ours, t_ours, rss_ours = timed_build(lambda: _build_ours(bits, codes))
    tables = max(1, len(ours.segments[0].subs))
    stats = ours.stats()
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:  # on disk: how long a save and an open take
        t = time.perf_counter()
        ours.save(Path(tmp) / "index")
        t_save = time.perf_counter() - t
        t = time.perf_counter()
        opened = Index.open(Path(tmp) / "index")
        t_open = time.perf_counter() - t
        assert all(isinstance(a, np.memmap) for a in opened.mapped_arrays())
        disk = opened.stats()["bytes_on_disk"]
        del opened
    ours = _build_ours(bits, codes)  # searches below run on the in-memory index, like FAISS's
    flat, t_flat, rss_flat = timed_build(lambda: _add(faiss.IndexBinaryFlat(bits), raw))
    hb = min(bits, 64)
    hsh, t_hash, rss_hash = timed_build(lambda: _add(faiss.IndexBinaryHash(bits, hb), raw))
    mb = bits // max(tables, 1)
    mh, t_mh, rss_mh = timed_build(lambda: _add(faiss.IndexBinaryMultiHash(bits, max(tables, 1), mb), raw))
    engines = {
        "aelab": {"build_s": t_ours, "memory_bytes": stats["memory_bytes"], "rss_growth_bytes": rss_ours,
                  "detail": f"{tables} substring tables, full table {ours.segments[0].full.kind}",
                  "save_s": t_save, "open_s": t_open, "bytes_on_disk": disk},
        # FAISS's memory: its serialised size (its hash maps' node overhead in RAM comes on top)
        "faiss-flat": {"build_s": t_flat, "memory_bytes": _faiss_bytes(flat), "rss_growth_bytes": rss_flat,
                       "detail": "IndexBinaryFlat"},
        "faiss-hash": {"build_s": t_hash, "memory_bytes": _faiss_bytes(hsh), "rss_growth_bytes": rss_hash,
                       "detail": f"IndexBinaryHash(b={hb}), nflip=r"},
        "faiss-multihash": {"build_s": t_mh, "memory_bytes": _faiss_bytes(mh), "rss_growth_bytes": rss_mh,
                            "detail": f"IndexBinaryMultiHash({tables} x {mb} bits), nflip=r//{tables}"},
    }
    for name, e in engines.items():
        print(f"  build {name:16s} {e['build_s']:7.2f} s  memory {e['memory_bytes'] / 2**20:8.1f} MiB  ({e['detail']})",
              flush=True)
    print(f"  aelab save {t_save:.2f} s, open (memory-mapped) {t_open * 1e3:.1f} ms, {disk / 2**20:.1f} MiB on disk",
          flush=True)

    rows = []
    for r in radii:
        op = "lookup" if r == 0 else f"radius {r}"
        hsh.nflip = r
        mh.nflip = r // max(tables, 1)
        ours_fn = (lambda i: ours.lookup(qs[i])) if r == 0 else (lambda i, r=r: ours.search_radius(qs[i], r))
        fns = {"aelab": ours_fn,
               "faiss-flat": lambda i, r=r: flat.range_search(qraw[i:i + 1], r + 1),
               "faiss-hash": lambda i, r=r: hsh.range_search(qraw[i:i + 1], r + 1),
               "faiss-multihash": lambda i, r=r: mh.range_search(qraw[i:i + 1], r + 1)}
        for i in range(queries):  # exactness first (it also warms every index up)
            res = ours.search_radius(qs[i], r)
            want = set(zip(res.ids.tolist(), res.distances.tolist()))
            if r == 0:
                check(f"{op} lookup", set(ours.lookup(qs[i]).tolist()) == {p[0] for p in want}, f"query {i}")
            for name in ("faiss-flat", "faiss-hash", "faiss-multihash"):
                got = pairs_faiss(fns[name](i), 0)
                check(f"{op} vs {name}", got == want, f"query {i}: {sorted(want)[:5]} vs {sorted(got)[:5]}")
        rows += _time(fns, queries, bits, n, op, engines)

    fns = {"aelab": lambda i: ours.search_topk(qs[i], k), "faiss-flat": lambda i: flat.search(qraw[i:i + 1], k)}
    for i in range(queries):
        res = ours.search_topk(qs[i], k)
        d, ids = fns["faiss-flat"](i)
        check(f"top-{k}", np.array_equal(np.sort(d[0]), res.distances), f"query {i} distances differ")
        kth = res.distances[-1]
        check(f"top-{k}", set(ids[0][d[0] < kth].tolist()) == set(res.ids[res.distances < kth].tolist()),
              f"query {i} ids differ below the k-th distance")
    rows += _time(fns, queries, bits, n, f"top-{k}", engines)

    # a batch of all queries at once (per-query time): both libraries amortise their overheads
    t = time.perf_counter()
    bo = ours.search_topk(qs, k)
    t_ob = (time.perf_counter() - t) / queries
    t = time.perf_counter()
    bd, _ = flat.search(qraw, k)
    t_fb = (time.perf_counter() - t) / queries
    check(f"batch top-{k}", np.array_equal(np.sort(bd, axis=1), bo.distances), "distances differ")
    for name, s in (("aelab", t_ob), ("faiss-flat", t_fb)):
        rows.append(_row(bits, n, name, f"top-{k} batch of {queries}", engines[name], [s]))
    print(f"  {'top-%d batch' % k:14s} per query: aelab {t_ob * 1e3:8.3f} ms   faiss-flat {t_fb * 1e3:8.3f} ms", flush=True)
    return rows  # the indexes go with this frame, before the next configuration builds its own


def _faiss_bytes(index) -> int:
    import faiss

    return int(faiss.serialize_index_binary(index).nbytes)


def _build_ours(bits: int, codes: np.ndarray) -> Index:
    index = Index(bits)
    index.add(codes)
    return index


def _add(index, raw: np.ndarray):
    index.add(raw)
    return index


def _row(bits: int, n: int, engine: str, op: str, e: dict, seconds: list[float]) -> dict:
    s = np.asarray(seconds) * 1e6
    row = {"bits": bits, "items": n, "engine": engine, "operation": op, "threads": 1,
           "median_us": round(float(np.median(s)), 2), "p99_us": round(float(np.percentile(s, 99)), 2),
           "build_s": round(e["build_s"], 3), "memory_bytes": int(e["memory_bytes"]),
           "rss_growth_bytes": int(e["rss_growth_bytes"]), "index": e["detail"], "exact": True}
    for key in ("save_s", "open_s", "bytes_on_disk"):
        if key in e:
            row[key] = round(e[key], 4) if isinstance(e[key], float) else e[key]
    return row


def _time(fns: dict, queries: int, bits: int, n: int, op: str, engines: dict, rounds: int = 3) -> list[dict]:
    """Each engine answers all queries in turn, `rounds` times with the engines' order rotated; a
    query's time is its best round, so a burst of load from other processes lands on no one engine."""
    names = list(fns)
    best = {name: np.full(queries, np.inf) for name in names}
    for rnd in range(rounds):
        for name in names[rnd % len(names):] + names[: rnd % len(names)]:
            fn, ts = fns[name], best[name]
            for i in range(queries):
                t = time.perf_counter()
                fn(i)
                ts[i] = min(ts[i], time.perf_counter() - t)
    rows = [_row(bits, n, name, op, engines[name], list(ts)) for name, ts in best.items()]
    fastest = min(rows, key=lambda r: r["median_us"])["engine"]
    line = "   ".join(f"{r['engine']} {r['median_us']:9.1f} / {r['p99_us']:9.1f}" for r in rows)
    print(f"  {op:14s} median / p99 us: {line}   fastest: {fastest}", flush=True)
    return rows


def table(rows: list[dict]) -> str:
    """Markdown: one line per (bits, items, operation), engines side by side (median / p99 microseconds)."""
    engines = ["aelab", "faiss-flat", "faiss-hash", "faiss-multihash"]
    out = ["| bits | items | operation | " + " | ".join(engines) + " | aelab vs best FAISS |",
           "|---|---|---|" + "---|" * (len(engines) + 1)]
    keys = list(dict.fromkeys((r["items"], r["bits"], r["operation"]) for r in rows))  # run order
    keys = [(b, n, op) for n, b, op in sorted(keys, key=lambda x: (x[0], x[1]))]
    for b, n, op in keys:
        cell, med = [], {}
        for e in engines:
            m = [r for r in rows if (r["bits"], r["items"], r["operation"], r["engine"]) == (b, n, op, e)]
            cell.append(f"{m[0]['median_us']:.1f} / {m[0]['p99_us']:.1f}" if m else "-")
            if m:
                med[e] = m[0]["median_us"]
        faiss_best = min(v for e, v in med.items() if e != "aelab")
        cell.append(f"{faiss_best / med['aelab']:.2f}x {'faster' if med['aelab'] <= faiss_best else 'SLOWER'}")
        out.append(f"| {b} | {n:,} | {op} | " + " | ".join(cell) + " |")
    out += ["", "| bits | items | engine | build s | memory MiB | RSS growth MiB | save s | open ms |",
            "|---|---|---|---|---|---|---|---|"]
    seen = set()
    for r in rows:
        key = (r["bits"], r["items"], r["engine"])
        if key not in seen:
            seen.add(key)
            disk = (f"{r['save_s']:.2f} | {r['open_s'] * 1e3:.1f}" if "open_s" in r else "- | -")
            out.append(f"| {r['bits']} | {r['items']:,} | {r['engine']} | {r['build_s']:.2f} | "
                       f"{r['memory_bytes'] / 2**20:.1f} | {r['rss_growth_bytes'] / 2**20:.1f} | {disk} |")
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1M,10M", help="comma-separated item counts (1M, 250k, 10000000)")
    p.add_argument("--bits", default="32,64", help="comma-separated code lengths (multiples of 8, <= 64)")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--radii", default="0,1,2")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--scratch", default=None, help="folder for the temporary saved index (default: the system's)")
    args = p.parse_args()
    try:
        import faiss  # noqa: F401
    except ImportError:
        raise SystemExit("this benchmark compares with FAISS: pip install 'aelab[faiss]'") from None
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    bits = [int(b) for b in args.bits.split(",")]
    radii = [int(r) for r in args.radii.split(",")]
    engine = kernels.engine()
    print(f"machine: {machine()}; numpy {np.__version__}; faiss {faiss.__version__}; one thread each; "
          f"aelab searches with {engine} code", flush=True)
    rows = []
    started = time.perf_counter()
    for n in sizes:
        for b in bits:
            rows += run_config(b, n, args.queries, args.k, radii, args.seed, args.scratch)
    print("\n" + table(rows))
    save_rows(args.out, rows, key=lambda r: (r["bits"], r["items"], r["engine"], r["operation"]),
              benchmark="index_speed", numpy=np.__version__, faiss=faiss.__version__, aelab_engine=engine,
              codes="uniformly random; queries are database codes with 0-2 bits flipped",
              seconds=round(time.perf_counter() - started, 1))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
