"""Speed and size of semantic hashing: our hasher's training and encoding documents/s beside ITQ's fit and encode
time, then a synthetic corpus of a million documents encoded, indexed and searched, with wall time and peak memory.

Part 1, the 20 Newsgroups protocol of bench/text_hashing.py (10,000 words, 11,007 kept training documents): ours
trained by `aelab.fit("semhash", ...)` (the model's default config, `--epochs` epochs, `--bits` bits), its
training documents/s (documents x epochs / the fit's wall time, checkpoints included), and its encoding
documents/s (sparse counts -> the dense float32 batches it takes -> binary codes); ITQ's fit (TF-IDF idf,
TruncatedSVD(256), the ITQ rotation) and encode (TF-IDF, projection, signs) on the same documents.

Part 2, a synthetic corpus of `--docs` documents (default 1,000,000) over the same 10,000 words, resampled from
the training documents: each synthetic document picks a training document at random and draws Poisson(its length)
words from that document's word distribution, so the corpus has the topics of a real one (a corpus of words drawn
from one law for all has none, and any hasher trained on topics gives it a handful of codes). Made in chunks of
`--chunk` documents as sparse counts, never the whole corpus at once (1M x 10k dense float32 would be 40 GB). Each
chunk is densified and encoded
by the model of part 1 (and by ITQ, for comparison); the codes, packed into uint64 words, are added to an
`aelab.index.Index` in one `add` (ids 0..n-1), saved to a temporary folder, and searched: `--queries` codes of the
corpus, k = 10 and 100 nearest, and all within 2 bits (`range_search(q, 3)`), each one batch call. Memory: the
process's peak resident set (`resource.getrusage(RUSAGE_SELF).ru_maxrss`, the high-water mark of the whole
process, numpy and torch together) read at the end of each phase: it only grows, so a phase's figure is the peak
up to its end. Writes bench/results/hashing_speed.json (--quick: hashing_speed_quick.json).

    python bench/hashing_speed.py                  # 1,000,000 synthetic documents
    python bench/hashing_speed.py --quick          # 20,000 synthetic documents, 2,000 training documents, 1 epoch
    python bench/hashing_speed.py --docs 200000 --bits 64 --epochs 1
"""

from __future__ import annotations

import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common import RUNS, RESULTS, ROOT, bench_parser, machine, parse, print_table, save_rows
from text_hashing import SVD_DIMS, Protocol, dense, load_protocol

import aelab
from aelab.batching import map_batches
from aelab.data import Dataset
from aelab.eval.hashing import itq
from aelab.index import Index, pack_bits


def peak_mib() -> float:
    """The process's peak resident set so far, MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Clock:
    """Rows of (phase, seconds, items, items/s, peak memory), one per `phase` block."""

    def __init__(self, common: dict[str, Any]) -> None:
        self.rows: list[dict[str, Any]] = []
        self.common = common

    def add(self, part: str, method: str, phase: str, seconds: float, items: int | None, **more: Any) -> dict:
        row = {**self.common, "part": part, "method": method, "phase": phase, "seconds": round(seconds, 3),
               "items": items, "items_per_s": round(items / seconds, 1) if items and seconds > 0 else None,
               "peak_rss_mib": round(peak_mib(), 1), **more}
        self.rows.append(row)
        rate = f"{row['items_per_s']:>12,.0f}/s" if row["items_per_s"] else " " * 14
        print(f"{part:<10} {method:<13} {phase:<34} {seconds:9.2f} s {rate}  peak {row['peak_rss_mib']:8.0f} MiB",
              flush=True)
        return row


def train_ours(p: Protocol, args, clock: Clock) -> Any:
    """Ours trained on the protocol's training documents: the fit timed whole."""
    x = dense(p.train_counts)
    data = Dataset(x=x, y=torch.from_numpy(p.train_y), name="20newsgroups-vdsh", classes=p.classes, kind="counts",
                   vocabulary=p.vocabulary)
    out = args.runs / f"{args.bits}bits-{args.epochs}epochs{'-quick' if args.quick else ''}"
    t0 = time.time()
    run = aelab.fit("semhash", data, out=out, config={"latent_dim": args.bits}, overwrite=True,
                    train={"epochs": args.epochs, "seed": 0}, progress=not args.no_progress)
    clock.add("20ng", "ours", f"train ({args.epochs} epochs)", time.time() - t0, len(x) * args.epochs,
              documents=len(x), epochs=args.epochs, run=str(out))
    return run.model.eval()


def encode_ours(model: Any, counts: Any) -> np.ndarray:
    """Sparse counts -> packed codes, in the model's batches."""
    with torch.no_grad():
        return pack_bits(map_batches(model, dense(counts), model.binary_codes).numpy().astype(bool))


class ITQ:
    """ITQ as text_hashing.py runs it: TF-IDF (sublinear, training idf), TruncatedSVD(256), the ITQ rotation."""

    def __init__(self, counts: Any, bits: int) -> None:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfTransformer

        self.tfidf = TfidfTransformer(sublinear_tf=True).fit(counts)
        x = self.tfidf.transform(counts)
        self.svd = TruncatedSVD(min(SVD_DIMS, x.shape[0] - 1), random_state=0).fit(x)
        self.hash = itq(self.svd.transform(x).astype(np.float32), bits)

    def __call__(self, counts: Any) -> np.ndarray:
        return pack_bits(self.hash(self.svd.transform(self.tfidf.transform(counts)).astype(np.float32)))


def part_20ng(p: Protocol, args, clock: Clock) -> Any:
    counts = p.train_counts
    model = train_ours(p, args, clock)
    t0 = time.time()
    encode_ours(model, counts)
    clock.add("20ng", "ours", "encode", time.time() - t0, counts.shape[0])
    t0 = time.time()
    baseline = ITQ(counts, args.bits)
    clock.add("20ng", "itq", "fit (tf-idf, svd 256, rotation)", time.time() - t0, counts.shape[0])
    t0 = time.time()
    baseline(counts)
    clock.add("20ng", "itq", "encode", time.time() - t0, counts.shape[0])
    return model, baseline


def synthetic_chunks(source: Any, n: int, chunk: int, seed: int = 0):
    """Sparse (rows, vocabulary) float32 counts of n documents resampled from `source` (CSR counts), `chunk` rows at a
    time: each row a random source document's words, drawn again Poisson(its length) times."""
    from scipy.sparse import csr_matrix

    rng = np.random.default_rng(seed)
    cum = np.cumsum(source.data, dtype=np.float64)  # running word count over every stored entry, row after row
    totals = np.asarray(source.sum(axis=1), dtype=np.float64).ravel()
    before = np.concatenate([[0.0], cum])[source.indptr[:-1]]  # words of the rows above each row
    for start in range(0, n, chunk):
        rows = min(chunk, n - start)
        picked = rng.integers(0, source.shape[0], rows)
        lengths = np.maximum(rng.poisson(totals[picked]), 1)
        docs = np.repeat(np.arange(rows), lengths)
        at = before[picked][docs] + rng.random(len(docs)) * totals[picked][docs]  # a word position in its source row
        cols = source.indices[np.searchsorted(cum, at, side="right")]
        yield csr_matrix((np.ones(len(cols), np.float32), (docs, cols)), shape=(rows, source.shape[1]))  # sums repeats


def part_synthetic(model: Any, baseline: ITQ, source: Any, args, clock: Clock) -> None:
    n, bits = args.docs, args.bits
    methods = ["ours"] + ([] if args.skip_itq else ["itq"])
    packed = {m: np.empty((n, (bits + 63) // 64), np.uint64) for m in methods}
    encoders = {"ours": lambda counts: encode_ours(model, counts), "itq": baseline}
    times = dict.fromkeys(["generate", *methods], 0.0)
    words_drawn = done = 0
    t_all = time.time()
    chunks = synthetic_chunks(source, n, args.chunk)
    while True:
        t0 = time.time()
        counts = next(chunks, None)
        if counts is None:
            break
        times["generate"] += time.time() - t0
        words_drawn += int(counts.sum())
        for m in methods:
            t0 = time.time()
            packed[m][done : done + counts.shape[0]] = encoders[m](counts)
            times[m] += time.time() - t0
        done += counts.shape[0]
        if done % (20 * args.chunk) == 0 or done == n:
            print(f"  {done:,} / {n:,} documents, {time.time() - t_all:.0f} s", flush=True)
    clock.add("synthetic", "-", "generate (sparse counts)", times["generate"], n, mean_words=round(words_drawn / n, 1))
    for m in methods:
        clock.add("synthetic", m, "encode (densify + model)" if m == "ours" else "encode (tf-idf + svd + rotation)",
                  times[m], n)
    for m in methods:  # ITQ's codes too: an index of well-spread codes, where ours may have collapsed
        index_phase(m, packed.pop(m), args, clock)


def index_phase(method: str, packed: np.ndarray, args, clock: Clock) -> None:
    """Index `packed` codes (ids 0..n-1) in one add, save them, and search them with some of their own codes."""
    n, part = len(packed), f"index ({method})"
    t0 = time.time()
    index = Index(args.bits, source={"bench": "hashing_speed", "codes": method, "docs": n})
    index.add(packed, np.arange(n, dtype=np.int64))
    clock.add("synthetic", part, "add", time.time() - t0, n)
    stats = index.stats()
    folder = Path(tempfile.mkdtemp(prefix="hashing_speed_"))
    try:
        t0 = time.time()
        index.save(folder / "index")
        clock.add("synthetic", part, "save", time.time() - t0, n, bytes_on_disk=index.stats()["bytes_on_disk"])
        queries = packed[np.random.default_rng(1).choice(n, args.queries, replace=False)]
        for name, call in ((f"search k=10, {args.queries} queries", lambda: index.search(queries, 10)),
                           (f"search k=100, {args.queries} queries", lambda: index.search(queries, 100)),
                           (f"range_search r<3, {args.queries} queries", lambda: index.range_search(queries, 3))):
            t0 = time.time()
            found = call()
            seconds = time.time() - t0
            hits = {"hits": int(found[0][-1])} if name.startswith("range") else {}
            clock.add("synthetic", part, name, seconds, args.queries,
                      ms_per_query=round(1000 * seconds / args.queries, 3), **hits)
            del found
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    clock.rows[-1]["index_stats"] = {k: stats[k] for k in ("items", "distinct_codes", "buckets", "memory_bytes")}
    print(f"index ({method}): {stats['distinct_codes']:,} distinct {args.bits}-bit codes for {n:,} documents, largest "
          f"bucket {stats['buckets']['max']:,}, {stats['memory_bytes'] / 2**20:.1f} MiB of arrays", flush=True)


def main() -> None:
    p = bench_parser(__doc__, epochs=2, batch_size=0, lr=0.0)
    p.add_argument("--docs", type=int, default=1_000_000, help="synthetic documents")
    p.add_argument("--bits", type=int, default=32)
    p.add_argument("--chunk", type=int, default=5000, help="synthetic documents made and encoded at a time")
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--skip-itq", action="store_true", help="do not encode the synthetic corpus with ITQ too")
    p.add_argument("--runs", type=Path, default=RUNS / "hashing_speed")
    p.add_argument("--quick", action="store_true", help="20,000 synthetic documents, 2,000 training documents, "
                                                        "1 epoch")
    args = parse(p)
    if args.quick:
        args.docs, args.epochs = min(args.docs, 20_000), 1
    t0 = time.time()
    proto = load_protocol(args.data_dir)
    if args.quick:
        proto.train_counts, proto.train_y = proto.train_counts[:2000], proto.train_y[:2000]
    clock = Clock({"quick": args.quick, "bits": args.bits, "threads": torch.get_num_threads()})
    clock.add("20ng", "-", "protocol (read, count, tf-idf)", time.time() - t0, None)
    model, baseline = part_20ng(proto, args, clock)
    part_synthetic(model, baseline, proto.train_counts, args, clock)
    print()
    print_table(clock.rows, [("part", "part", "<10"), ("method", "method", "<13"), ("phase", "phase", "<36"),
                             ("seconds", "seconds", ">9.2f"),
                             ("items/s", lambda r: f"{r['items_per_s']:,.0f}" if r["items_per_s"] else "", ">12"),
                             ("ms/query", lambda r: r.get("ms_per_query", ""), ">9"),
                             ("peak RSS MiB", "peak_rss_mib", ">12.0f")])
    path = RESULTS / ("hashing_speed_quick.json" if args.quick else "hashing_speed.json")
    save_rows(path, [{**r, "docs": args.docs} for r in clock.rows],
              key=lambda r: (r["part"], r["method"], r["phase"], r["bits"], r["docs"], r.get("quick")),
              benchmark="hashing_speed", memory="peak resident set of the whole process (ru_maxrss), read at the "
              "end of each phase", synthetic={"docs": args.docs, "resampled": "training documents",
                                              "chunk": args.chunk})
    print(f"machine: {machine()}; {time.time() - t0:.0f} s; results in {path}")


if __name__ == "__main__":
    main()
