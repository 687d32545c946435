"""The standard text-hashing protocol on 20 Newsgroups (VDSH, Chaidaroon & Fang 2017; reused by NASH 2018, AMMI
2020, SNUH 2021): precision@100 of our hasher beside TF-IDF cosine, LSH and ITQ, and the published rows.

The protocol as this script builds it from our 20 Newsgroups "bydate" files (the approximation of VDSH's own
preprocessing that ../shared/PAPERS.md describes): scikit-learn's `CountVectorizer(stop_words='english',
max_features=10000, max_df=0.8, min_df=3)` fitted on the training split; documents with <= 5 or > 500
in-vocabulary tokens dropped from both splits; sublinear TF-IDF (`TfidfTransformer(sublinear_tf=True)` fitted on
the kept training documents); the kept test documents split by `numpy.random.default_rng(0).permutation` into a
first half of validation queries and a second half of test queries. Measured: precision@100 of each query against
the kept training documents (the database), relevant = same newsgroup, ties broken at random: the database is put
in a seeded random order (`default_rng(0)`), then ranked by a stable sort on the distance. Validation precision and
mAP are recorded in the JSON too; the table shows test precision@100.

Rows: TF-IDF cosine (no hashing); LSH (signs of Gaussian projections of the TF-IDF); ITQ (on a TruncatedSVD(256)
of the TF-IDF, then `aelab.eval.hashing.itq`); ours, `aelab.fit("semhash", ...)` on the kept training documents'
word counts with the model's default config (`--preset`, `--set` change it); LSH, ITQ and ours are the mean and
standard deviation over `--seeds` seeds. Published rows (VDSH, NASH, AMMI, SNUH) are printed as published, each
with where its numbers were read (PUBLISHED below): their files are VDSH's .mat files, not ours, so they are a
level to compare with, not a run in this harness. Writes bench/results/text_hashing.json.

    python bench/text_hashing.py                           # 16/32/64/128 bits, 3 seeds
    python bench/text_hashing.py --skip-ours               # the classical rows only (a few minutes)
    python bench/text_hashing.py --bits 32 --seeds 1 --set '{"code_noise": 8}' --epochs 60
    python bench/text_hashing.py --quick                   # a smoke run: a few hundred documents, 1 epoch, 16 bits
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from common import (RUNS, RESULTS, ROOT, bench_parser, finished_and_current, machine, parse, print_table, save_rows,
                    train_once)
import aelab
from aelab.batching import map_batches
from aelab.data import Dataset
from aelab.data.text import locate_newsgroups, read_tsv
from aelab.eval.hashing import itq, lsh
from aelab.eval.retrieval import hamming_distances, ranking_scores
from aelab.models import model_class

BITS = (16, 32, 64, 128)
VOCABULARY = {"stop_words": "english", "max_features": 10000, "max_df": 0.8, "min_df": 3}
MIN_TOKENS, MAX_TOKENS = 5, 500  # a document is kept when MIN_TOKENS < its in-vocabulary tokens <= MAX_TOKENS
SVD_DIMS = 256  # ITQ's input: a TruncatedSVD of the TF-IDF
QUICK = {"train": 600, "queries": 200}
OUT = RESULTS / "text_hashing.json"

# Published precision@100 on 20 Newsgroups at 16/32/64/128 bits, each with where it was read. They were measured
# on VDSH's ng20.tfidf.mat (the same bydate split, their own 10,000 words and document filter), so they sit beside
# our rows as a level, not as a run of this harness. A row whose numbers could not be read in its source says so
# and shows none (nothing here is recalled from memory).
PUBLISHED: dict[str, dict[str, Any]] = {
    "VDSH": {
        "paper": "Chaidaroon & Fang, Variational Deep Semantic Hashing for Text Documents, SIGIR 2017",
        "precision@100": None,
        "short": "not verified: its table could not be read here",
        "source": "not verified: the paper's results table (arxiv.org/abs/1708.03436) could not be read here, "
                  "and its repository (github.com/unsuthee/VariationalDeepSemanticHashing) states no numbers",
    },
    "NASH": {
        "paper": "Shen et al., NASH: Toward End-to-End Neural Architecture for Generative Semantic Hashing, "
                 "ACL 2018",
        "precision@100": None,
        "short": "not verified: its table could not be read here",
        "source": "not verified: the paper's 20Newsgroups table (aclanthology.org/P18-1190, arxiv.org/abs/1805.05361) "
                  "could not be read here",
    },
    "AMMI": {
        "paper": "Stratos & Wiseman, Learning Discrete Structured Representations by Adversarially Maximizing "
                 "Mutual Information, ICML 2020",
        "precision@100": {16: 0.5518, 32: 0.5956, 64: 0.6398, 128: 0.6618},
        "short": "github.com/karlstratos/ammi commands.txt (the paper's settings)",
        "source": "github.com/karlstratos/ammi commands.txt (commit 30c69f8), the ng16/ng32/ng64/ng128 lines: "
                  "'# 55.18', '# 59.56', '# 63.98', '# 66.18' (its README: the hyperparameters used in the paper)",
    },
    "SNUH": {
        "paper": "Ou et al., Integrating Semantics and Neighborhood Information with Graph-Driven Generative "
                 "Models for Document Retrieval, ACL 2021",
        "precision@100": {16: 0.5475, 32: 0.6375, 64: 0.6483, 128: 0.6755},
        "short": "github.com/J-zin/SNUH-mindspore README (the authors' code)",
        "source": "github.com/J-zin/SNUH-mindspore README, 'Experimental Results' table, row NG20: 54.75 / 63.75 / "
                  "64.83 / 67.55 (the authors' MindSpore implementation; the ACL paper's own table was not read "
                  "here and may differ in the last digits)",
    },
}


@dataclass
class Protocol:
    """The protocol's data: counts and TF-IDF of the kept training documents (the database) and of the queries."""

    vocabulary: list[str]
    train_counts: Any  # scipy CSR (N, V), int64
    train_tfidf: Any  # scipy CSR (N, V), float64, rows L2-normalised
    train_y: np.ndarray
    queries: dict[str, dict[str, Any]]  # "validation" / "test" -> {"counts", "tfidf", "y"}
    classes: list[str]
    counts_of: Callable[[list[str]], Any]  # texts -> CSR counts over the vocabulary
    tfidf_of: Callable[[Any], Any]  # counts -> TF-IDF with the training idf
    dropped: dict[str, int]

    @property
    def sizes(self) -> dict[str, int]:
        return {"train": self.train_counts.shape[0], "vocabulary": len(self.vocabulary),
                **{k: len(v["y"]) for k, v in self.queries.items()}}


def load_protocol(data_dir: str | None, quick: bool = False, groups: list[str] | None = None) -> Protocol:
    """The VDSH protocol's splits from the 20 Newsgroups train/test tables in `data_dir` (see the module's doc);
    with `quick`, the first QUICK["train"] kept training documents and QUICK["queries"] queries of each half;
    with `groups`, those newsgroups alone, as if the corpus held nothing else (its own words and idf)."""
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

    paths = locate_newsgroups(data_dir, "all")
    train_labels, train_texts = read_tsv(paths["train"])
    test_labels, test_texts = read_tsv(paths["test"])
    if groups is not None:
        unknown = sorted(set(groups) - set(train_labels))
        if unknown:
            raise SystemExit(f"no newsgroup {', '.join(unknown)} in {paths['train']}")
        train_labels, train_texts = map(list, zip(*[(y, t) for y, t in zip(train_labels, train_texts) if y in groups]))
        test_labels, test_texts = map(list, zip(*[(y, t) for y, t in zip(test_labels, test_texts) if y in groups]))
    vectorizer = CountVectorizer(**VOCABULARY).fit(train_texts)
    classes = sorted(set(train_labels))

    def kept(texts: list[str], labels: list[str]) -> tuple[Any, np.ndarray, int]:
        counts = vectorizer.transform(texts)
        tokens = np.asarray(counts.sum(axis=1)).ravel()
        keep = (tokens > MIN_TOKENS) & (tokens <= MAX_TOKENS)
        y = np.array([classes.index(label) for label in labels], dtype=np.int64)
        return counts[keep], y[keep], int((~keep).sum())

    train_counts, train_y, train_dropped = kept(train_texts, train_labels)
    test_counts, test_y, test_dropped = kept(test_texts, test_labels)
    transformer = TfidfTransformer(sublinear_tf=True).fit(train_counts)
    order = np.random.default_rng(0).permutation(test_counts.shape[0])
    half = len(order) // 2
    parts = {"validation": order[:half], "test": order[half:]}
    if quick:
        train_counts, train_y = train_counts[: QUICK["train"]], train_y[: QUICK["train"]]
        parts = {k: v[: QUICK["queries"]] for k, v in parts.items()}
    queries = {k: {"counts": test_counts[rows], "tfidf": transformer.transform(test_counts[rows]), "y": test_y[rows]}
               for k, rows in parts.items()}
    return Protocol(list(vectorizer.get_feature_names_out()), train_counts, transformer.transform(train_counts),
                    train_y, queries, classes, vectorizer.transform, transformer.transform,
                    {"train": train_dropped, "test": test_dropped})


def dense(counts: Any) -> torch.Tensor:
    """Sparse counts as the float32 (N, V) tensor a model takes."""
    return torch.from_numpy(counts.toarray().astype(np.float32))


def as_dataset(p: Protocol) -> Dataset:
    """The kept training documents as aelab data: word counts over the protocol's vocabulary, with labels. Not named
    20newsgroups: that is the registered 2000-word set, whose preset does not fit these 10,000 words."""
    return Dataset(x=dense(p.train_counts), y=torch.from_numpy(p.train_y), name="20newsgroups-vdsh",
                   classes=p.classes, kind="counts", vocabulary=p.vocabulary)


class Scorer:
    """Precision@100 (and mAP) of queries against the database, ties broken by a seeded random database order."""

    def __init__(self, p: Protocol) -> None:
        self.order = np.random.default_rng(0).permutation(p.train_counts.shape[0])
        self.db_y = p.train_y[self.order]
        self.p = p

    def codes(self, db_codes: np.ndarray, query_codes: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
        db = db_codes[self.order]
        return {part: ranking_scores(hamming_distances, q, self.p.queries[part]["y"], db, self.db_y)
                for part, q in query_codes.items()}

    def cosine(self) -> dict[str, dict[str, float]]:
        db = self.p.train_tfidf[self.order]  # rows are unit vectors: cosine distance = 1 - dot product

        def scores(part: str) -> dict[str, float]:
            q = self.p.queries[part]["tfidf"]
            # ranking_scores slices its queries; index arrays stand for the sparse rows they name
            distance = lambda qi, _: 1.0 - (q[qi] @ db.T).toarray()  # noqa: E731
            return ranking_scores(distance, np.arange(q.shape[0]), self.p.queries[part]["y"],
                                  np.arange(db.shape[0]), self.db_y)

        return {part: scores(part) for part in self.p.queries}


def _result(method: str, bits: int | None, seed: int | None, scores: dict[str, dict[str, float]], **more) -> dict:
    row = {"method": method, "bits": bits, "seed": seed}
    for part, s in scores.items():
        row[f"{part}_precision@100"] = s["precision@100"]
        row[f"{part}_map"] = s["map"]
    return {**row, **more}


def classical_rows(p: Protocol, scorer: Scorer, bits_list: list[int], seeds: list[int]) -> list[dict]:
    from sklearn.decomposition import TruncatedSVD

    rows = [_result("tf-idf cosine (no hashing)", None, None, scorer.cosine())]
    for seed in seeds:
        t0 = time.time()
        svd = TruncatedSVD(min(SVD_DIMS, p.train_tfidf.shape[0] - 1), random_state=seed).fit(p.train_tfidf)
        reduced = svd.transform(p.train_tfidf).astype(np.float32)
        queries = {part: svd.transform(q["tfidf"]).astype(np.float32) for part, q in p.queries.items()}
        svd_s = time.time() - t0
        for bits in bits_list:
            h = lsh(p.train_tfidf, bits, seed=seed)  # uncentred: the projection alone, applied to the sparse rows
            found = scorer.codes(np.asarray(p.train_tfidf @ h.projection) > 0,
                                 {part: np.asarray(q["tfidf"] @ h.projection) > 0 for part, q in p.queries.items()})
            rows.append(_result("lsh", bits, seed, found))
            t0 = time.time()
            h = itq(reduced, bits, seed=seed)
            fit_s = svd_s + time.time() - t0
            rows.append(_result("itq", bits, seed, scorer.codes(h(reduced), {k: h(v) for k, v in queries.items()}),
                                train_s=round(fit_s, 2)))
        print(f"seed {seed}: lsh and itq done", flush=True)
    return rows


def recipe_tag(args) -> str:
    """A short name of what the runs were trained with, so that another recipe trains anew instead of reusing (the
    model's defaults among it: runs made before a default changed are not taken for the new default's)."""
    recipe = {"preset": args.preset, "set": json.loads(args.set or "{}"), "epochs": args.epochs,
              "batch_size": args.batch_size, "lr": args.lr, "quick": args.quick,
              **({"corrupt": args.corrupt} if getattr(args, "corrupt", "") else {}),
              "defaults": dataclasses.asdict(model_class("semhash").Config())}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:8]


def our_rows(p: Protocol, scorer: Scorer, bits_list: list[int], seeds: list[int], args) -> list[dict]:
    data = as_dataset(p)
    query_x = {part: dense(q["counts"]) for part, q in p.queries.items()}
    overrides = json.loads(args.set or "{}")
    train = {k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size), ("lr", args.lr),
                               ("corrupt", getattr(args, "corrupt", ""))) if v}
    rows = []
    for bits in bits_list:
        for seed in seeds:
            out = args.runs / f"{recipe_tag(args)}-{bits}bits-seed{seed}"
            config = {"latent_dim": bits, **overrides}
            t0, reused = time.time(), finished_and_current(out, "semhash", args.preset, config)
            folder = train_once(out, data, progress=not args.no_progress, model="semhash", preset=args.preset,
                                config=config, train={**train, "seed": seed})
            seconds = None if reused else round(time.time() - t0, 1)
            model = aelab.load(out)
            with torch.no_grad():
                db = map_batches(model, data.x, model.binary_codes).numpy().astype(bool)
                queries = {k: map_batches(model, x, model.binary_codes).numpy().astype(bool)
                           for k, x in query_x.items()}
            spec = folder.read_spec()
            main = next(s for s in spec.stages if s.name == "model")
            rows.append(_result(args.name, bits, seed, scorer.codes(db, queries),
                                train_s=seconds, distinct_codes=int(len(np.unique(db, axis=0))), run=str(out),
                                epochs=main.train.epochs, **target_subspace(folder)))
            r = rows[-1]
            print(f"{args.name} {bits:>3} bits seed {seed}: test P@100 {r['test_precision@100']:.3f} "
                  f"(validation {r['validation_precision@100']:.3f}), {r['distinct_codes']} distinct codes, "
                  f"{'reused' if reused else f'{seconds:.0f} s'}", flush=True)
    return rows


def target_subspace(folder: Any) -> dict[str, Any]:
    """The subspace of the run's target codes, and whether the run chose it on its validation items."""
    main = next(s for s in folder.read_spec().stages if s.name == "model")
    chosen = any(r.get("split") == "choice" for r in folder.metrics.records())
    return {"subspace": main.model_config.get("subspace"), "subspace_chosen": chosen}


def summary(rows: list[dict], bits_list: list[int]) -> list[dict]:
    """One line a method: test precision@100 per code length, mean ± std over seeds; the published rows after."""
    lines = []
    for method in dict.fromkeys(r["method"] for r in rows):
        line: dict[str, Any] = {"method": method}
        for bits in bits_list:
            found = [r["test_precision@100"] for r in rows if r["method"] == method and r["bits"] in (bits, None)]
            line[str(bits)] = (f"{np.mean(found):.3f}" + (f" ± {np.std(found, ddof=1):.3f}" if len(found) > 1 else "")
                          if found else "")
        seeds = len({r["seed"] for r in rows if r["method"] == method})
        line["note"] = f"{seeds} seeds" if seeds > 1 else ""
        lines.append(line)
    for name, pub in PUBLISHED.items():
        values = pub["precision@100"]
        line = {"method": f"{name} (published)", "note": pub["short"]}
        for bits in bits_list:
            line[str(bits)] = f"{values[bits]:.4f}" if values and bits in values else "" if values else "not verified"
        lines.append(line)
    return lines


def main() -> None:
    p = bench_parser(__doc__, epochs=0, batch_size=0, lr=0.0)
    p.add_argument("--bits", default=",".join(map(str, BITS)))
    p.add_argument("--seeds", type=int, default=3, help="seeds of ours, LSH and ITQ (0, 1, ...)")
    p.add_argument("--preset", default=None, help="a semhash preset (default: the model's default config)")
    p.add_argument("--set", default="", help='semhash config overrides as JSON, e.g. \'{"code_noise": 8}\'')
    p.add_argument("--corrupt", default="", help="train ours as a denoiser of this corruption (TrainConfig.corrupt), "
                   "e.g. masking:0.3: each step drops that share of a document's words from the encoder's input")
    p.add_argument("--skip-ours", action="store_true", help="the classical rows only")
    p.add_argument("--skip-classical", action="store_true", help="our rows only (the classical ones kept from the "
                   "results file)")
    p.add_argument("--name", default="semhash (ours)", help="the method name of our rows (another recipe, another "
                   "name: its rows are kept beside the default's)")
    p.add_argument("--runs", type=Path, default=RUNS / "text_hashing")
    p.add_argument("--quick", action="store_true",
                   help=f"{QUICK['train']} training documents, {QUICK['queries']} queries a half, 1 epoch, 16 bits")
    args = parse(p)
    bits_list = [int(b) for b in str(args.bits).split(",")]
    if args.quick:
        args.epochs, bits_list = 1, [16]
        args.runs = args.runs.with_name(args.runs.name + "-quick")
    seeds = list(range(args.seeds))
    t0 = time.time()
    proto = load_protocol(args.data_dir, args.quick)
    print(f"protocol: {proto.sizes} (dropped {proto.dropped}) in {time.time() - t0:.0f} s", flush=True)
    scorer = Scorer(proto)
    rows = [] if args.skip_classical else classical_rows(proto, scorer, bits_list, seeds)
    if not args.skip_ours:
        rows += our_rows(proto, scorer, bits_list, seeds, args)
    common = {"quick": args.quick, **{f"{k}_docs": v for k, v in proto.sizes.items()}}
    out = RESULTS / ("text_hashing_quick.json" if args.quick else OUT.name)
    save_rows(out, [{**common, **r} for r in rows],
              key=lambda r: (r["method"], r["bits"], r["seed"], r.get("quick")), benchmark="text_hashing",
              protocol={"vocabulary": VOCABULARY, "tokens": [MIN_TOKENS, MAX_TOKENS], "svd": SVD_DIMS,
                        "dropped": proto.dropped},
              recipe={"preset": args.preset, "set": args.set, "epochs": args.epochs or "model default"},
              published=PUBLISHED)
    saved = [r for r in json.loads(out.read_text())["rows"] if r["machine"] == machine()]  # the rows kept, too
    print_table(summary(saved, bits_list), [("method", "method", "<28"),
                                            *[(f"{b} bits", str(b), ">14") for b in bits_list],
                                            ("note / source", "note", "<")])
    print(f"machine: {machine()}; {time.time() - t0:.0f} s; results in "
          f"{RESULTS / ('text_hashing_quick.json' if args.quick else OUT.name)}")


if __name__ == "__main__":
    main()
