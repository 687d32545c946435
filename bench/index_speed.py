"""aelab.index against FAISS's binary indexes: build time, query latency and memory, one thread each.

For 32- and 64-bit uniformly random codes (1M and 10M by default; --sizes to run smaller), every
operation the two libraries share is run through the same calls on the same 200 queries, one query per
call: `lookup` (exact codes), `range_search(q, 2)` and `range_search(q, 3)` (distance < 2, < 3), and
`search(q, 100)`. Each query is a database code with 0, 1 or 2 bits flipped, so range searches find
something. Before timing, every answer is checked against FAISS's: the same (id, distance) pairs within
the radius, the same top-100 distances and the same ids (FAISS, too, breaks ties by the smaller id).
Each engine then answers the queries in turn, three rounds with the engines' order rotated, and a
query's time is its best round, so that load from other processes falls on no one engine. aelab's
range searches are also timed with each way forced (aelab-scan, aelab-hash, aelab-multi-index; a way
past its probe limit is left out), to show whether the rule in aelab/index/plan.py picked the fastest.

FAISS indexes: IndexBinaryFlat (brute force; range_search and top-k), IndexBinaryHash (one table on
min(bits, 64) bits, nflip = radius - 1: exact for range search) and IndexBinaryMultiHash (the same
substrings as ours, nflip = (radius - 1) // tables: exact by the pigeonhole principle). Their k-NN
searches are approximate and not timed. Memory: our arrays' bytes, FAISS's serialised size; the growth
of the process's resident set while building is recorded too (noisy: freed temporaries are reused).

--postgresql adds aelab's PostgreSQL backend (aelab.index.postgresql), on a server of its own that the script
starts (pgserver's bundled PostgreSQL, default settings: shared_buffers 128 MB, 2 parallel workers): build
time is the whole `PostgresIndex.create` (COPY, then the hash index and the substring B-trees, one
transaction), memory is the table's bytes with its indexes (server side), and a query's time is the whole
round trip through psycopg over the local socket. Its answers are checked like every engine's before timing.
Each way is timed forced too up to 1M items; past 1M only "auto", on the first 50 queries (a scan of 10M rows
takes a second).

--calibrate measures what plan.py's rule counts, on this machine, and writes index_calibration.json:
the time of one code word of a linear scan (for a range, and for the 100 nearest), of one table probe,
of one multi-index candidate gathered and verified (both in 8M codes, past the caches), and the fixed
cost of a scan and of a step of each growing way; the rule's NEAREST, PROBE, CANDIDATE and FIXED are
these divided by the first.

    OMP_NUM_THREADS=1 python bench/index_speed.py                # 1M and 10M, 32 and 64 bits
    OMP_NUM_THREADS=1 python bench/index_speed.py --quick        # 100k, 50 queries: index_speed_quick.json
    OMP_NUM_THREADS=1 python bench/index_speed.py --calibrate    # bench/results/index_calibration.json
    OMP_NUM_THREADS=1 python bench/index_speed.py --sizes 100k,1M,10M --postgresql   # with PostgreSQL
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy loads: one thread for everyone

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine, save_rows  # noqa: E402

from aelab.index import Index, hashtable, kernels, multiindex, plan, scan  # noqa: E402
from aelab.index.bits import to_bytes  # noqa: E402

OUT = RESULTS / "index_speed.json"
CALIBRATION = RESULTS / "index_calibration.json"
FORCED = ("scan", "hash", "multi-index")
PG_ALL_WAYS_UPTO = 1_000_000  # past this many items only the PostgreSQL backend's "auto" is timed
PG_FEW_QUERIES = 50  # and on this many queries


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


def pairs(lims: np.ndarray, d: np.ndarray, i: np.ndarray, q: int) -> set:
    a, b = int(lims[q]), int(lims[q + 1])
    return set(zip(i[a:b].tolist(), d[a:b].astype(int).tolist()))


def check(name: str, ok: bool, detail: str) -> None:
    if not ok:
        raise SystemExit(f"NOT EXACT: {name}: {detail}")


def run_config(bits: int, n: int, queries: int, k: int, radii: list[int], seed: int, scratch: str | None,
               dsn: str | None = None) -> list[dict]:
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
    ours_engine = {"build_s": t_ours, "memory_bytes": stats["memory_bytes"], "rss_growth_bytes": rss_ours,
                   "detail": f"{tables} substring tables, full table {ours.segments[0].full.kind}",
                   "save_s": t_save, "open_s": t_open, "bytes_on_disk": disk}
    engines = {
        "aelab": ours_engine,
        **{f"aelab-{way}": {**ours_engine, "detail": f"{ours_engine['detail']}, method={way!r}"} for way in FORCED},
        # FAISS's memory: its serialised size (its hash maps' node overhead in RAM comes on top)
        "faiss-flat": {"build_s": t_flat, "memory_bytes": _faiss_bytes(flat), "rss_growth_bytes": rss_flat,
                       "detail": "IndexBinaryFlat"},
        "faiss-hash": {"build_s": t_hash, "memory_bytes": _faiss_bytes(hsh), "rss_growth_bytes": rss_hash,
                       "detail": f"IndexBinaryHash(b={hb}), nflip=radius-1"},
        "faiss-multihash": {"build_s": t_mh, "memory_bytes": _faiss_bytes(mh), "rss_growth_bytes": rss_mh,
                            "detail": f"IndexBinaryMultiHash({tables} x {mb} bits), nflip=(radius-1)//{tables}"},
    }
    pg = None
    if dsn is not None:
        from aelab.index.postgresql import PostgresIndex

        pg, t_pg, _ = timed_build(lambda: PostgresIndex.create(dsn, f"bench_{bits}", bits, overwrite=True, codes=codes))
        pg_stats = pg.stats()
        pg_engine = {"build_s": t_pg, "memory_bytes": pg_stats["bytes_on_disk"], "rss_growth_bytes": 0,
                     "detail": f"PostgreSQL table: hash index on the code, {pg.substrings} substring B-trees "
                               f"(bytes of table and indexes)"}
        engines["postgresql"] = pg_engine
        engines.update({f"postgresql-{way}": {**pg_engine, "detail": f"{pg_engine['detail']}, method={way!r}"}
                        for way in FORCED})
    for name, e in engines.items():
        if not name.startswith(("aelab-", "postgresql-")):
            print(f"  build {name:16s} {e['build_s']:7.2f} s  memory {e['memory_bytes'] / 2**20:8.1f} MiB  "
                  f"({e['detail']})", flush=True)
    print(f"  aelab save {t_save:.2f} s, open (memory-mapped) {t_open * 1e3:.1f} ms, {disk / 2**20:.1f} MiB on disk",
          flush=True)

    rows = []
    seg = ours.segments[0]
    for radius in radii:  # both libraries keep distance < radius
        r = radius - 1
        op = "lookup" if radius == 1 else f"range_search radius {radius}"
        hsh.nflip = r
        mh.nflip = r // max(tables, 1)
        faiss_fns = {"faiss-flat": lambda i, rd=radius: flat.range_search(qraw[i:i + 1], rd),
                     "faiss-hash": lambda i, rd=radius: hsh.range_search(qraw[i:i + 1], rd),
                     "faiss-multihash": lambda i, rd=radius: mh.range_search(qraw[i:i + 1], rd)}
        ours_fns = {"aelab": (lambda i: ours.lookup(qs[i:i + 1])) if radius == 1 else
                    (lambda i, rd=radius: ours.range_search(qs[i:i + 1], rd))}
        for way in FORCED:
            try:
                plan.for_range(seg, 1, radius, way)
            except Exception:  # past the probe limit: not timed
                continue
            ours_fns[f"aelab-{way}"] = lambda i, rd=radius, w=way: ours.range_search(qs[i:i + 1], rd, method=w)
        picked = plan.for_range(seg, 1, radius, "auto")
        pg_fns = _pg_fns(n, lambda i, w, rd=radius: pg.range_search(qs[i:i + 1], rd, method=w)) if pg else {}
        for i in range(queries):  # exactness first (it also warms every index up)
            want = pairs(*faiss_fns["faiss-flat"](i), 0)
            if radius == 1:
                lims, ids = ours.lookup(qs[i:i + 1])
                check("lookup", set(ids.tolist()) == {p[0] for p in want}, f"query {i}")
            for name, fn in {**ours_fns, **faiss_fns, **pg_fns}.items():
                if name == "aelab" and radius == 1:
                    continue
                if name.startswith("postgresql") and i >= _pg_queries(n, queries):
                    continue
                got = pairs(*fn(i), 0)
                check(f"{op} {name}", got == want, f"query {i}: {sorted(want)[:5]} vs {sorted(got)[:5]}")
        rows += _time({**ours_fns, **faiss_fns}, queries, bits, n, op, engines, picked)
        if pg_fns:
            rows += _time(pg_fns, _pg_queries(n, queries), bits, n, op, engines, _pg_plan(pg, lambda: pg_fns["postgresql"](0)))

    fns = {"aelab": lambda i: ours.search(qs[i:i + 1], k), "faiss-flat": lambda i: flat.search(qraw[i:i + 1], k)}
    picked = plan.for_knn(seg, 1, k, n, "auto")
    for i in range(queries):
        d, ids = ours.search(qs[i:i + 1], k)
        fd, fi = fns["faiss-flat"](i)
        check(f"search k={k}", np.array_equal(d, fd), f"query {i} distances differ")
        check(f"search k={k}", np.array_equal(ids, fi), f"query {i} ids differ")
    rows += _time(fns, queries, bits, n, f"search k={k}", engines, picked)
    if pg is not None:
        pg_fns = _pg_fns(n, lambda i, w: pg.search(qs[i:i + 1], k, method=w))
        for i in range(_pg_queries(n, queries)):
            fd, fi = fns["faiss-flat"](i)
            for name, fn in pg_fns.items():
                d, ids = fn(i)
                check(f"search k={k} {name}", np.array_equal(d, fd) and np.array_equal(ids, fi), f"query {i} differs")
        rows += _time(pg_fns, _pg_queries(n, queries), bits, n, f"search k={k}", engines,
                      _pg_plan(pg, lambda: pg_fns["postgresql"](0)))
        pg.drop()
        pg.close()

    # a batch of all queries at once (per-query time): both libraries amortise their overheads
    t = time.perf_counter()
    bd, bi = ours.search(qs, k)
    t_ob = (time.perf_counter() - t) / queries
    t = time.perf_counter()
    fd, fi = flat.search(qraw, k)
    t_fb = (time.perf_counter() - t) / queries
    check(f"batch search k={k}", np.array_equal(bd, fd) and np.array_equal(bi, fi), "results differ")
    batch_op = f"search k={k}, batch of {queries}"
    batch = [_row(bits, n, "aelab", batch_op, engines["aelab"], [t_ob], plan.for_knn(seg, queries, k, n, "auto")),
             _row(bits, n, "faiss-flat", batch_op, engines["faiss-flat"], [t_fb])]
    rows += _against_faiss(batch)
    print(f"  {batch_op:28s} per query: aelab {t_ob * 1e3:8.3f} ms   faiss-flat {t_fb * 1e3:8.3f} ms", flush=True)
    return rows  # the indexes go with this frame, before the next configuration builds its own


def _pg_plan(pg, call) -> str:
    """The steps "auto" took for the first query (PostgresIndex.last_plan), e.g. "multi-index, within 3 bits"."""
    call()
    return "; ".join(pg.last_plan)


def _pg_queries(n: int, queries: int) -> int:
    return queries if n <= PG_ALL_WAYS_UPTO else min(queries, PG_FEW_QUERIES)


def _pg_fns(n: int, call) -> dict:
    """The PostgreSQL backend's calls: "auto", and each way that answers the first query (up to PG_ALL_WAYS_UPTO
    items; a way past its probe limit refuses)."""
    from aelab.errors import CodeIndexError

    fns = {"postgresql": lambda i: call(i, "auto")}
    for w in FORCED if n <= PG_ALL_WAYS_UPTO else ():
        try:
            call(0, w)
        except CodeIndexError:
            continue
        fns[f"postgresql-{w}"] = lambda i, w=w: call(i, w)
    return fns


POSTGRESQL: dict = {}  # the server's version and settings, filled when it starts


def _postgresql(folder: Path):
    from aelab.index.postgresql import LocalServer, connect

    server = LocalServer(folder)
    with connect(server.dsn) as conn:
        POSTGRESQL.update({"version": conn.execute("SHOW server_version").fetchone()[0],
                           **{k: conn.execute(f"SHOW {k}").fetchone()[0] for k in
                              ("shared_buffers", "work_mem", "max_parallel_workers_per_gather")},
                           "jit_available": conn.execute("SELECT pg_jit_available()").fetchone()[0]})
    print(f"PostgreSQL {POSTGRESQL}", flush=True)
    return server


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


def _row(bits: int, n: int, engine: str, op: str, e: dict, seconds: list[float], picked: str | None = None) -> dict:
    s = np.asarray(seconds) * 1e6
    row = {"bits": bits, "items": n, "engine": engine, "operation": op, "threads": 1,
           "median_us": round(float(np.median(s)), 2), "p99_us": round(float(np.percentile(s, 99)), 2),
           "build_s": round(e["build_s"], 3), "memory_bytes": int(e["memory_bytes"]),
           "rss_growth_bytes": int(e["rss_growth_bytes"]), "index": e["detail"], "exact": True}
    if engine in ("aelab", "postgresql") and picked is not None:
        row["way"] = picked  # what plan.py (or the PostgreSQL backend's _ways) chose
    for key in ("save_s", "open_s", "bytes_on_disk"):
        if key in e:
            row[key] = round(e[key], 4) if isinstance(e[key], float) else e[key]
    return row


def _against_faiss(rows: list[dict]) -> list[dict]:
    """Each aelab row gets `vs_best_faiss`: the fastest FAISS engine's median over its own (> 1: aelab is faster)."""
    faiss_best = min((r["median_us"] for r in rows if r["engine"].startswith("faiss")), default=None)
    for r in rows:
        if r["engine"].startswith("aelab") and faiss_best:
            r["vs_best_faiss"] = round(faiss_best / r["median_us"], 3)
    return rows


def _time(fns: dict, queries: int, bits: int, n: int, op: str, engines: dict, picked: str,
          rounds: int = 3) -> list[dict]:
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
    rows = _against_faiss([_row(bits, n, name, op, engines[name], list(ts), picked) for name, ts in best.items()])
    fastest = min(rows, key=lambda r: r["median_us"])["engine"]
    line = "   ".join(f"{r['engine']} {r['median_us']:.1f}/{r['p99_us']:.1f}" for r in rows)
    print(f"  {op:24s} median/p99 us: {line}   fastest: {fastest}; auto took {picked}", flush=True)
    return rows


def table(rows: list[dict]) -> str:
    """Markdown: one line per (bits, items, operation), engines side by side (median / p99 microseconds), then
    aelab's range searches with each way forced beside the way the rule picked."""
    engines = ["aelab", "faiss-flat", "faiss-hash", "faiss-multihash"]
    engines += ["postgresql"] if any(r["engine"] == "postgresql" for r in rows) else []
    out = ["| bits | items | operation | " + " | ".join(engines) + " | best FAISS / aelab | aelab's way |",
           "|---|---|---|" + "---|" * (len(engines) + 2)]
    keys = list(dict.fromkeys((r["items"], r["bits"], r["operation"]) for r in rows))  # run order
    keys = [(b, n, op) for n, b, op in sorted(keys, key=lambda x: (x[0], x[1]))]
    med = {(r["bits"], r["items"], r["operation"], r["engine"]): r for r in rows}
    for b, n, op in keys:
        got = {e: med[(b, n, op, e)] for e in engines if (b, n, op, e) in med}
        if "aelab" not in got:
            continue
        cell = [f"{got[e]['median_us']:.1f} / {got[e]['p99_us']:.1f}" if e in got else "-" for e in engines]
        ours = got["aelab"]
        cell += [f"{ours['vs_best_faiss']:.2f}x" if "vs_best_faiss" in ours else "-", ours.get("way", "-")]
        out.append(f"| {b} | {n:,} | {op} | " + " | ".join(cell) + " |")
    out += ["", "| backend | bits | items | operation | rule picked | " + " | ".join(FORCED) + " |",
            "|---|---|---|---|---|" + "---|" * len(FORCED)]
    for backend in ("aelab", "postgresql"):
        for b, n, op in keys:
            forced = [med.get((b, n, op, f"{backend}-{w}")) for w in FORCED]
            if any(forced):
                cells = [f"{f['median_us']:.1f}" if f else "refused" for f in forced]
                picked = med[(b, n, op, backend)].get("way", "-")
                out.append(f"| {backend} | {b} | {n:,} | {op} | {picked} | " + " | ".join(cells) + " |")
    out += ["", "| bits | items | engine | build s | memory MiB | RSS growth MiB | save s | open ms |",
            "|---|---|---|---|---|---|---|---|"]
    seen = set()
    for r in rows:
        key = (r["bits"], r["items"], r["engine"])
        if key not in seen and not r["engine"].startswith(("aelab-", "postgresql-")):
            seen.add(key)
            disk = (f"{r['save_s']:.2f} | {r['open_s'] * 1e3:.1f}" if "open_s" in r else "- | -")
            out.append(f"| {r['bits']} | {r['items']:,} | {r['engine']} | {r['build_s']:.2f} | "
                       f"{r['memory_bytes'] / 2**20:.1f} | {r['rss_growth_bytes'] / 2**20:.1f} | {disk} |")
    return "\n".join(out)


def _best_ns(fn, reps: int) -> float:
    """The fastest of `reps` calls, in nanoseconds."""
    best = np.inf
    for _ in range(reps):
        t = time.perf_counter_ns()
        fn()
        best = min(best, time.perf_counter_ns() - t)
    return float(best)


def calibrate(out: Path, n: int = 1_000_000, big: int = 8_000_000, rounds: int = 9) -> dict:
    """Time what plan.py's rule counts, and its ratios: NEAREST, PROBE, CANDIDATE and FIXED in scanned code words.

    Scans run on n codes; probes and candidates on `big` codes, more than the caches hold, as in the large
    indexes where the choice matters (smaller ones probe faster: the rule then leans a little to the scan)."""
    rng = np.random.default_rng(0)
    q = 8  # a small batch: a probe's or a candidate's own cost, not the calls around it
    seg64 = _build_ours(64, random_codes(n, 64, rng)).segments[0]
    big64 = _build_ours(64, random_codes(big, 64, rng)).segments[0]
    big32 = _build_ours(32, random_codes(big, 32, rng)).segments[0]  # 16-bit substrings: big / 2**16 per probe
    tiny = _build_ours(64, random_codes(1000, 64, rng)).segments[0]
    q64 = make_queries(seg64.codes, 64, q, rng)
    qb64, qb32 = make_queries(big64.codes, 64, q, rng), make_queries(big32.codes, 32, q, rng)
    one = tiny.codes[:1].copy()  # a code of the tiny segment: each step finds it, verifying it as usual
    t = len(big32.subs)  # step m: table 0 at substring distance 1
    verified = multiindex.shell(big32, qb32, t)[1]
    timed = {"word": lambda: scan.within(seg64, q64, 3), "nearest": lambda: scan.nearest(seg64, q64, 100),
             "probe": lambda: hashtable.shell(big64, qb64, 2), "mih": lambda: multiindex.shell(big32, qb32, t),
             "hash": lambda: hashtable.shell(tiny, one, 0), "multi-index": lambda: multiindex.shell(tiny, one, 0),
             "scan": lambda: scan.within(tiny, one, 1)}
    ns = dict.fromkeys(timed, np.inf)
    for _ in range(rounds):  # interleaved rounds, the best of each: load from other processes hits them alike
        for name, fn in timed.items():
            ns[name] = min(ns[name], _best_ns(fn, 3 if name in ("hash", "multi-index", "scan") else 1))
    word = ns["word"] / (q * seg64.n * seg64.words)
    probes = q * hashtable.probes(big64, 2)
    probe = ns["probe"] / probes
    candidate = (ns["mih"] - q * multiindex.probes(big32, t) * probe) / verified
    fixed = {"hash": ns["hash"], "multi-index": ns["multi-index"], "scan": ns["scan"] - tiny.n * tiny.words * word}
    ratios = {"NEAREST": ns["nearest"] / ns["word"], "PROBE": probe / word, "CANDIDATE": candidate / word,
              "FIXED": {w: v / word for w, v in fixed.items()}}
    rounded = {k: ({w: _two_digits(x) for w, x in v.items()} if isinstance(v, dict) else _two_digits(v))
               for k, v in ratios.items()}
    rows = [{"measure": "scan: one code word", "ns": round(word, 4), "items": seg64.n, "queries": q},
            {"measure": "scan for the 100 nearest: one code word", "ns": round(ns["nearest"] / (q * seg64.n), 4),
             "items": seg64.n, "queries": q},
            {"measure": "hash table: one probe", "ns": round(probe, 2), "items": big64.n, "queries": q,
             "probes": probes},
            {"measure": "multi-index: one candidate gathered and verified", "ns": round(candidate, 2),
             "items": big32.n, "queries": q, "candidates": int(verified)},
            *({"measure": f"fixed cost of a {'scan' if way == 'scan' else 'step'}: {way}", "ns": round(v, 1),
               "items": tiny.n, "queries": 1} for way, v in fixed.items())]
    for r in rows:
        print(f"  {r['measure']:52s} {r['ns']:12.2f} ns")
    print(f"  ratios, in code words of a scan: {rounded}\n  plan.py holds:                   {_rule()}")
    save_rows(out, rows, key=lambda r: (r["measure"],), benchmark="index_calibration", numpy=np.__version__,
              engine=kernels.engine(),
              ratios=rounded, command="OMP_NUM_THREADS=1 python bench/index_speed.py --calibrate")
    return rounded


def _two_digits(x: float) -> float:
    return float(f"{x:.2g}")


def _rule() -> dict:
    return {"NEAREST": plan.NEAREST, "PROBE": plan.PROBE, "CANDIDATE": plan.CANDIDATE, "FIXED": dict(plan.FIXED)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1M,10M", help="comma-separated item counts (1M, 250k, 10000000)")
    p.add_argument("--bits", default="32,64", help="comma-separated code lengths (multiples of 8, <= 64)")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--radii", default="1,2,3", help="range_search radii (exclusive, as FAISS's); 1 is the lookup")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help=f"default {OUT.name} (--quick: index_speed_quick.json)")
    p.add_argument("--quick", action="store_true", help="100k items, 50 queries")
    p.add_argument("--calibrate", action="store_true", help=f"measure the rule's ratios into {CALIBRATION.name}")
    p.add_argument("--scratch", default=None, help="folder for the temporary saved index (default: the system's)")
    p.add_argument("--postgresql", action="store_true",
                   help="add aelab's PostgreSQL backend, on a server the script starts (pip install pgserver psycopg)")
    args = p.parse_args()
    print(f"machine: {machine()}; numpy {np.__version__}; one thread", flush=True)
    if args.calibrate:
        calibrate(args.out or CALIBRATION)
        print(f"\nwrote {args.out or CALIBRATION}")
        return
    try:
        import faiss
    except ImportError:
        raise SystemExit("this benchmark compares with FAISS: pip install 'aelab[faiss]'") from None
    if args.quick:
        args.sizes, args.queries = "100k", 50
    out = args.out or (OUT.with_name("index_speed_quick.json") if args.quick else OUT)
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    bits = [int(b) for b in args.bits.split(",")]
    radii = [int(r) for r in args.radii.split(",")]
    print(f"faiss {faiss.__version__}", flush=True)
    extra: dict = {}
    rows = []
    started = time.perf_counter()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a kill stops the server below too (finally)
    with tempfile.TemporaryDirectory(dir=args.scratch) as tmp:
        server = _postgresql(Path(tmp) / "postgresql") if args.postgresql else None
        try:
            for n in sizes:
                for b in bits:
                    rows += run_config(b, n, args.queries, args.k, radii, args.seed, args.scratch,
                                       server.dsn if server else None)
        finally:
            if server:
                server.stop()
    print("\n" + table(rows))
    if args.postgresql:
        extra["postgresql"] = POSTGRESQL
    save_rows(out, rows, key=lambda r: (r["bits"], r["items"], r["engine"], r["operation"]), **extra,
              benchmark="index_speed", numpy=np.__version__, faiss=faiss.__version__, aelab_engine=kernels.engine(),
              codes="uniformly random; queries are database codes with 0-2 bits flipped",
              rule=_rule(),
              seconds=round(time.perf_counter() - started, 1))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
