"""A new user's view of semantic hashing: a corpus handed over as a path, `aelab train semhash --data PATH` with no
flags (the defaults and the loader's own split: 10% of the documents held out as the test split, 2,000 words), then
the test documents as queries against the training documents, beside ITQ and TF-IDF cosine on the same split.

This is how the issue that made the default (issue 24) measured it: 20 Newsgroups' training file given as a path,
so no preset named after a registered data set applies. Relevant = same label; mAP over the whole ranking and
precision@100 (ties by database order); the codes' usage (distinct codes, bit balance, mean |correlation|).
Writes bench/results/user_corpus.json.

    python bench/user_corpus.py                                    # ../shared/data/20newsgroups/train.tsv.gz
    python bench/user_corpus.py --corpus my_corpus.csv --bits 32,64
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from common import RUNS, RESULTS, ROOT, bench_parser, machine, parse, print_table, save_rows, train_once
import aelab
from aelab.api.data import load_run_data
from aelab.batching import map_batches
from aelab.config import notes_once
from aelab.eval.code_usage import code_usage
from aelab.eval.hashing import itq, tfidf
from aelab.eval.retrieval import cosine_distances, hamming_distances, ranking_scores

OUT = RESULTS / "user_corpus.json"


@notes_once()
def main() -> None:
    p = bench_parser(__doc__, epochs=0, batch_size=0, lr=0.0)
    p.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "data" / "20newsgroups" / "train.tsv.gz")
    p.add_argument("--bits", default="32")
    p.add_argument("--runs", type=Path, default=RUNS / "user_corpus")
    p.add_argument("--quick", action="store_true", help="a smoke run: 16 bits, one epoch")
    args = parse(p)
    if args.quick:
        args.bits, args.epochs = "16", 1
    rows = []
    for bits in [int(b) for b in args.bits.split(",")]:
        out = args.runs / f"{args.corpus.name.split('.')[0]}-{bits}"
        t0 = time.time()
        folder = train_once(out, str(args.corpus), progress=not args.no_progress, model="semhash",
                            config={"latent_dim": bits}, **({"train": {"epochs": args.epochs}} if args.epochs else {}))
        seconds = time.time() - t0
        spec = folder.read_spec()
        train, test = load_run_data(spec, "train"), load_run_data(spec, "test")
        model = aelab.load(out)
        with torch.no_grad():
            db, q = (map_batches(model, d.x, model.binary_codes).numpy() for d in (train, test))
        db_y, q_y = train.y.numpy(), test.y.numpy()
        common = {"corpus": str(args.corpus), "bits": bits, "train_docs": len(train), "test_docs": len(test),
                  "vocabulary": train.x.shape[1]}
        usage = code_usage(db)[0]
        rows.append({**common, "method": "semhash (ours, no flags)", "train_s": round(seconds, 1),
                     **ranking_scores(hamming_distances, q, q_y, db, db_y), **usage})
        w_db, w_q = tfidf(train.x.numpy(), train.x.numpy()), tfidf(train.x.numpy(), test.x.numpy())
        h = itq(w_db, bits)
        rows.append({**common, "method": "itq (tf-idf)", **ranking_scores(hamming_distances, h(w_q), q_y, h(w_db), db_y),
                     **code_usage(h(w_db))[0]})
        rows.append({**common, "method": "tf-idf cosine (no hashing)",
                     **ranking_scores(cosine_distances, w_q, q_y, w_db, db_y)})
    print_table(rows, [("bits", "bits", ">4"), ("method", "method", "<28"), ("mAP", lambda r: f"{r['map']:.3f}", ">6"),
                       ("P@100", lambda r: f"{r['precision@100']:.3f}", ">6"),
                       ("distinct codes", lambda r: f"{r['distinct_codes']:,.0f}" if "distinct_codes" in r else "",
                        ">14"),
                       ("|corr|", lambda r: f"{r['bit_correlation']:.2f}" if "bit_correlation" in r else "", ">6")])
    save_rows(OUT, rows, key=lambda r: (r["corpus"], r["bits"], r["method"]), benchmark="user_corpus")
    print(f"machine: {machine()}; results in {OUT}")


if __name__ == "__main__":
    main()
