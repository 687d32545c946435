"""Semantic hashing: our model against LSH, PCA-sign and ITQ in one harness, on 20 Newsgroups and MNIST.

Test items are the queries, the training items the database, relevant = same label (newsgroup or digit).
For each code length: mean average precision over the whole ranking by Hamming distance (ties by database
order), precision@100, and precision within Hamming radius 2; precision-recall curves by radius (a plot, seed 0).
Ours, LSH and ITQ are trained with each of --seeds seeds; the table shows the mean and the standard deviation.
Ours is semhash with its default recipe (the preset named after the data set when there is one: it only says what
the data is, e.g. MNIST's intensities); it holds out 10% of its training items and keeps its best epoch on them.
Documents: baselines hash TF-IDF (idf of the training set); TF-IDF cosine ranking is the non-hashing
reference, and "semhash short-list, TF-IDF re-rank" the paper's pipeline (the 1000 nearest codes re-ranked).
Images: baselines hash the pixels. Writes bench/results/semantic_hashing.json and semantic_hashing_pr.png.

    python bench/semantic_hashing.py                  # 20 Newsgroups and MNIST, 16/32/64/128 bits, 3 seeds
    python bench/semantic_hashing.py --datasets 20newsgroups --bits 32 --seeds 1
    python bench/semantic_hashing.py --quick          # a smoke run
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from common import RUNS, RESULTS, ROOT, bench_parser, finished_and_current, machine, parse, print_table, save_rows
import aelab
from aelab import recipes
from aelab.batching import map_batches
from aelab.data import load_dataset
from aelab.eval.hashing import itq, lsh, pca_sign, rerank, tfidf
from aelab.eval.retrieval import cosine_distances, hamming_distances, radius_curve, ranking_scores

DATASETS = ("20newsgroups", "mnist")
SHORT_LIST = 1000


def _preset(dataset: str, args) -> str | None:
    return args.preset or (dataset if dataset in recipes.presets("semhash") else None)


def _model_codes(dataset: str, bits: int, seed: int, train, args) -> tuple[object, float]:
    preset = _preset(dataset, args)
    out = args.runs / f"{preset or 'default'}-{dataset}-{bits}-seed{seed}"
    train_options = {k: v for k, v in (("epochs", args.epochs), ("lr", args.lr), ("batch_size", args.batch_size)) if v}
    t0 = time.time()
    config = {"latent_dim": bits, **json.loads(args.set or "{}")}
    done = finished_and_current(out, "semhash", preset, config)
    if not done:
        aelab.fit("semhash", train, out=out, preset=preset or "none",
                  config=config, train={**train_options, "seed": seed},
                  data_dir=args.data_dir, overwrite=True, progress=not args.no_progress)
    return aelab.load(out), (time.time() - t0) if not done else float("nan")


def _score(name: str, q_codes, q_y, db_codes, db_y) -> dict:
    ranked = ranking_scores(hamming_distances, q_codes, q_y, db_codes, db_y, ks=(100,))
    curve = radius_curve(q_codes, q_y, db_codes, db_y)
    r = min(2, q_codes.shape[1])
    return {"method": name, "map": ranked["map"], "precision@100": ranked["precision@100"],
            "precision_r2": curve["precision"][r], "recall_r2": curve["recall"][r], "curve": curve}


def run_dataset(dataset: str, args) -> list[dict]:
    train = load_dataset(dataset, "train", args.data_dir)
    test = load_dataset(dataset, "test", args.data_dir,
                        **({"vocabulary": train.vocabulary} if train.vocabulary is not None else {}))
    text = train.vocabulary is not None
    rng = np.random.default_rng(0)
    queries = np.arange(len(test)) if not args.queries or args.queries >= len(test) \
        else np.sort(rng.choice(len(test), args.queries, replace=False))
    if args.quick:
        train.x, train.y = train.x[:3000], train.y[:3000]
    q_y, db_y = test.y.numpy()[queries], train.y.numpy()
    if text:
        base_db = tfidf(train.x.numpy(), train.x.numpy())
        base_q = tfidf(train.x.numpy(), test.x.numpy()[queries])
    else:
        base_db, base_q = train.x.flatten(1).numpy(), test.x.flatten(1).numpy()[queries]
    rows: list[dict] = []
    common = {"dataset": dataset, "queries": int(len(queries)), "database": int(len(train))}
    if text:
        ref = ranking_scores(cosine_distances, base_q, q_y, base_db, db_y, ks=(100,))
        rows.append({**common, "bits": None, "method": "tf-idf cosine (no hashing)", **ref})
        print(f"{dataset}: tf-idf cosine  mAP {ref['map']:.3f}  P@100 {ref['precision@100']:.3f}", flush=True)
    for bits in args.bits:
        for seed in range(args.seeds):
            model, seconds = _model_codes(dataset, bits, seed, train, args)
            with torch.no_grad():
                q_codes = map_batches(model, test.x[queries], model.binary_codes).numpy()
                db_codes = map_batches(model, train.x, model.binary_codes).numpy()
            found = [_score("semhash (ours)", q_codes, q_y, db_codes, db_y) | {"train_s": seconds}]
            for make in (lsh, pca_sign, itq):
                if make is pca_sign and seed:  # no randomness: one seed says it all
                    continue
                h = make(base_db, bits) if make is pca_sign else make(base_db, bits, seed=seed)
                found.append(_score(h.name, h(base_q), q_y, h(base_db), db_y))
            if text:  # the paper's pipeline: the short-list by Hamming distance, re-ranked by TF-IDF cosine
                dist = hamming_distances(q_codes, db_codes)
                short = np.argsort(dist, axis=1, kind="stable")[:, :SHORT_LIST]
                order = rerank(short, base_q, base_db)
                p100 = float((db_y[order[:, :100]] == q_y[:, None]).mean())
                found.append({"method": f"semhash short-list {SHORT_LIST}, tf-idf re-rank", "precision@100": p100})
            for f in found:
                rows.append({**common, "bits": bits, "seed": seed, "preset": _preset(dataset, args),
                             **({"epochs": args.epochs} if args.epochs else {}), **f})
                shown = "  ".join(f"{k} {f[k]:.3f}" for k in ("map", "precision@100", "precision_r2") if k in f)
                print(f"{dataset} {bits:>3} bits seed {seed}  {f['method']:<40} {shown}", flush=True)
    return rows


def summary(rows: list[dict]) -> None:
    """Per data set, code length and method: mean ± standard deviation over the seeds."""
    lines = []
    for key in dict.fromkeys((r["dataset"], r["bits"], r["method"]) for r in rows):
        found = [r for r in rows if (r["dataset"], r["bits"], r["method"]) == key]
        line = {"dataset": key[0], "bits": "" if key[1] is None else key[1], "method": key[2], "n": len(found)}
        for m in ("map", "precision@100"):
            v = [r[m] for r in found if m in r]
            line[m] = "" if not v else f"{np.mean(v):.3f}" + (f" ± {np.std(v, ddof=1):.3f}" if len(v) > 1 else "")
        lines.append(line)
    print_table(lines, [("data", "dataset", "<13"), ("bits", "bits", ">4"), ("method", "method", "<40"),
                        ("seeds", "n", ">5"), ("mAP", "map", ">14"), ("P@100", "precision@100", ">14")])


def plot(rows: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    panels = sorted({(r["dataset"], r["bits"]) for r in rows if "curve" in r})
    if not panels:
        return
    fig = Figure(figsize=(4.2 * min(4, len(panels)), 3.6 * ((len(panels) + 3) // 4)))
    for i, (dataset, bits) in enumerate(panels):
        ax = fig.add_subplot((len(panels) + 3) // 4, min(4, len(panels)), i + 1)
        for r in rows:
            if (r["dataset"], r["bits"]) == (dataset, bits) and "curve" in r and r.get("seed") == 0:
                ax.plot(r["curve"]["recall"], r["curve"]["precision"], marker=".", markersize=3, label=r["method"])
        ax.set_title(f"{dataset}, {bits} bits (seed 0)", fontsize=9)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.subplots_adjust(hspace=0.35, wspace=0.25)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=110, bbox_inches="tight")


def main() -> None:
    p = bench_parser(__doc__, epochs=0, batch_size=0, lr=0.0)
    p.add_argument("--datasets", default=",".join(DATASETS))
    p.add_argument("--bits", default="16,32,64,128", help="code lengths (20: the paper's radius-2 setting)")
    p.add_argument("--seeds", type=int, default=3, help="seeds of ours, LSH and ITQ (0, 1, ...)")
    p.add_argument("--preset", default=None, help="a semhash preset for every data set (default: the one named "
                   "after the data set, else none)")
    p.add_argument("--queries", type=int, default=0, help="test queries per data set (0: all)")
    p.add_argument("--set", default="", help='model config overrides as JSON, e.g. \'{"binarize": "straight-through"}\'')
    p.add_argument("--runs", type=Path, default=RUNS / "semantic_hashing")
    p.add_argument("--quick", action="store_true", help="3000 training items, 2 epochs, 500 queries, 16 bits")
    p.add_argument("--plot-only", action="store_true", help="redraw the precision-recall plot from the results file")
    args = parse(p)
    if args.plot_only:
        plot([r for r in json.loads((RESULTS / "semantic_hashing.json").read_text())["rows"] if not r.get("quick")],
             RESULTS / "semantic_hashing_pr.png")
        return
    args.bits = [int(b) for b in str(args.bits).split(",")]
    if args.quick:
        args.epochs, args.queries, args.bits, args.seeds = 2, 500, [16], 1
        args.runs = args.runs.with_name(args.runs.name + "-quick")
    t0 = time.time()
    rows = []
    for dataset in args.datasets.split(","):
        rows += run_dataset(dataset, args)
    tag = "semantic_hashing" + ("-quick" if args.quick else "")
    for r in rows:
        r["quick"] = args.quick
        r["seconds"] = round(time.time() - t0, 1)
    summary(rows)
    save_rows(RESULTS / f"{tag}.json", rows,
              key=lambda r: (r["dataset"], r["bits"], r["method"], r.get("seed", 0), r.get("quick")),
              benchmark="semantic_hashing", set=args.set,
              presets={d: _preset(d, args) for d in args.datasets.split(",")})
    plot(json.loads((RESULTS / f"{tag}.json").read_text())["rows"], RESULTS / f"{tag}_pr.png")  # every data set
    print(f"machine: {machine()}; {time.time() - t0:.0f} s; results in {RESULTS / (tag + '.json')}")


if __name__ == "__main__":
    main()
