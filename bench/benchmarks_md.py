"""Write BENCHMARKS.md from the JSON files in bench/results/ (numbers are never typed by hand).

    python bench/benchmarks_md.py
    python bench/benchmarks_md.py --results bench/quick/results --out BENCHMARKS-quick.md   # what --quick wrote
"""

from __future__ import annotations

import argparse
import json
import os
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(os.environ.get("AELAB_BENCH_RESULTS") or ROOT / "bench" / "results")  # main(--results) resets it


def pic(name: str) -> str:
    """A picture in the results folder, as the page (in the repository's root) links it."""
    return f"{RESULTS.resolve().relative_to(ROOT)}/{name}"

NOTES = {
    "logistic-pca": "codes fitted per test image by Newton's method (convex, 30 free numbers per image); "
    "the paper's fitting procedure is not given",
    "ae-rbm": "CD-1 RBM stack, unrolled, fine-tuned with Adam on cross-entropy",
    "ae-scratch": "same network and schedule, random initialisation (no pre-training)",
    "ae-scratch-elu": "ELU units, random initialisation",
    "ae-rbm-2d": "2-D code for Fig. 3 (not comparable to the 30-D rows)",
}


def _machines(d: dict) -> str:
    """The machines (and torch versions) a results file's rows ran on, each once."""
    seen = []
    for r in d["rows"]:
        m = f"{r.get('machine', d['machine'])}; torch {r.get('torch', d['versions']['torch'])}"
        if m not in seen:
            seen.append(m)
    return " / ".join(seen)


def hinton2006(d: dict) -> str:
    s = d.get("settings", {})
    lines = [
        "## Science 2006: deep autoencoder vs PCA on MNIST",
        "",
        "Squared reconstruction error summed over the 784 pixels (in [0,1]), averaged over the 10,000",
        "test images; trained on the 60,000 training images. Command:",
        "",
        "```bash",
        "python bench/hinton2006.py        # writes bench/results/hinton2006.json and hinton2006_fig3.png",
        "```",
        "",
        f"Machine: {_machines(d)}. Autoencoders: fine-tuned with Adam "
        "(cosine schedule) on cross-entropy; RBM pre-training is CD-1, SGD lr 0.1 (0.001 for the linear "
        "code layer), momentum 0.9, weight cost 0.0002, batch 100. Wall time covers pre-training, "
        "fine-tuning and the per-epoch test evaluations.",
        "",
        "| method | architecture | test error (ours) | paper | train error | training | wall time | fine-tune samples/s | machine | note |",
        "|---|---|---:|---:|---:|---|---:|---:|---|---|",
    ]
    for r in d["rows"]:
        paper = d["paper"].get(r["method"], "")
        train = f"{r['train_sq_err']:.2f}" if "train_sq_err" in r else ""
        sps = f"{r['samples_per_s']:.0f}" if "samples_per_s" in r else ""
        wall = f"{r['wall_s'] / 60:.1f} min" if r["wall_s"] >= 60 else f"{r['wall_s']:.0f} s"
        if r.get("pretrain_s"):
            wall += f" ({r['pretrain_s'] / 60:.1f} min pre-training)"
        how = ""
        if "epochs" in r:
            how = (f"{r['pretrain_epochs_per_layer']} CD-1 epochs/layer + " if r.get("pretrain_epochs_per_layer") else "")
            how += f"{r['epochs']} epochs, batch {r.get('batch_size', s.get('batch_size'))}, lr {r.get('lr', s.get('lr'))}"
        lines.append(f"| {r['method']} | {r.get('architecture', '')} | {r['test_sq_err']:.2f} | {paper} | {train} | "
                     f"{how} | {wall} | {sps} | {r.get('machine', d['machine']).split(',')[0]} | {NOTES.get(r['method'], '')} |")
    commands = []
    for r in d["rows"]:
        if r["method"] in ("ae-rbm", "ae-scratch", "ae-scratch-elu"):
            only = {"ae-rbm": "rbm", "ae-scratch": "scratch", "ae-scratch-elu": "scratch-elu"}[r["method"]]
            pre = f" --pretrain-epochs {r['pretrain_epochs_per_layer']}" if r.get("pretrain_epochs_per_layer") else ""
            commands.append(f"python bench/hinton2006.py --only {only}{pre} --epochs {r['epochs']} "
                            f"--batch-size {r['batch_size']} --lr {r['lr']:g}   # {r['test_sq_err']:.2f}")
        elif r["method"] == "ae-rbm-2d":
            commands.append(f"python bench/hinton2006.py --only map2d --map-epochs {r['epochs']} --map-pretrain-epochs "
                            f"{r['pretrain_epochs_per_layer']}   # {r['test_sq_err']:.2f}")
        elif r["method"] in ("pca", "logistic-pca"):
            commands.append(f"python bench/hinton2006.py --only {r['method']}   # {r['test_sq_err']:.2f}")
    if commands:
        lines += ["", "Each row's command:", "", "```bash", *commands, "```"]
    within = [r for r in d["rows"] if r["method"].startswith("ae-rbm") and r.get("architecture", "").endswith("-30")
              and r["wall_s"] <= 1800]
    if within:
        best = min(within, key=lambda r: r["test_sq_err"])
        verdict = "below" if best["test_sq_err"] < 3.00 else "not yet below"
        lines += ["", f"Best 30-D autoencoder whose whole run took at most 30 minutes on its machine: "
                  f"**{best['test_sq_err']:.2f}** in {best['wall_s'] / 60:.1f} min ({verdict} the paper's 3.00)."]
    crossings = []
    for r in d["rows"]:
        for (epoch, err), t in zip(r.get("curve", []), r.get("curve_elapsed_s", [])):
            if err < 3.00:
                crossings.append((t, epoch, err, r))
                break
    if crossings:
        t, epoch, err, r = min(crossings, key=lambda c: c[0])
        lines += ["", f"Earliest test error below 3.00 in any run's per-epoch test evaluation: **{err:.3f} after "
                  f"{t / 60:.1f} min** of wall time from the start of the run (pre-training included), at fine-tuning "
                  f"epoch {epoch:g} of the {r['pretrain_epochs_per_layer']}+{r['epochs']}-epoch, lr {r['lr']} run, which "
                  f"went on to {r['test_sq_err']:.2f} in {r['wall_s'] / 60:.1f} min."]
    curves = [r for r in d["rows"] if r.get("curve")]
    if curves:
        lines += ["", "Test error against fine-tuning epochs (from each run's metrics.jsonl):", ""]
        marks = sorted({e for r in curves for e, _ in r["curve"] if e in (1, 5, 10, 20, 30, 40, 50, 55, 60, 80, 100)})
        lines.append("| method | " + " | ".join(f"ep {m:g}" for m in marks) + " |")
        lines.append("|---|" + "---:|" * len(marks))
        for r in curves:
            by = dict((e, v) for e, v in r["curve"])
            label = f"{r['method']} ({r.get('pretrain_epochs_per_layer', 0)}+{r['epochs']} ep)"
            lines.append(f"| {label} | " + " | ".join(f"{by[m]:.2f}" if m in by else "" for m in marks) + " |")
    fig = next((r["figure"] for r in d["rows"] if r.get("figure")), None)
    if fig:
        lines += ["", f"Fig. 3 analogue (test images; left PCA, right the 2-D autoencoder): `{fig}`", "",
                  f"![Fig. 3]({fig})"]
    return "\n".join(lines) + "\n"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def vae_mnist(d: dict) -> str:
    lines = [
        "## VAE on dynamically binarised MNIST (Kingma & Welling 2014; evaluation of Burda et al. 2016)",
        "",
        "Encoder and decoder tanh MLPs (widths in the model's name), Bernoulli decoder; each training batch is a",
        "fresh Bernoulli draw of the MNIST intensities, the test set one fixed draw (seed 0). NLL is the",
        "importance-weighted estimate of -log p(x) with k samples over the 10,000 test images (± its",
        "standard error over images). Adam, cosine schedule, one z per example in training. Rows with a",
        "validation set held out 5,000 of the 60,000 training images (a seeded choice, one fixed draw) and",
        "trained on the other 55,000: settings are compared on the validation NLL, never on the test set.",
        "",
        f"Machine: {d['machine']}; torch {d['versions']['torch']}.",
        "",
        "| model | test NLL (nats) | validation NLL | k | -ELBO | KL | active units | epochs | batch | KL warm-up | "
        "trained on | training | command |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in d["rows"]:
        val = f"{r['val_nll']:.2f}" if r.get("val_nll") is not None else "–"
        lines.append(f"| {r['method']} | **{r['nll']:.2f}** ± {r['nll_sem']:.2f} | {val} | {r['nll_k']} | "
                     f"{r['nelbo']:.2f} | {r['kl']:.2f} | {r['active_units']}/{r['latent_dim']} | {r['epochs']} | "
                     f"{r['batch_size']} | {r.get('kl_warmup', 0):g} | {r.get('train_images', 60000):,} | "
                     f"{_minutes(r['train_wall_s'])} ({r['threads']} threads) | `{r['command']}` |")
    for name, v in d.get("published", {}).items():
        lines.append(f"| published: {name} | {v} |  | 5000 |  |  |  |  |  |  |  |  |  |")
    for r in d["rows"]:
        pts = [c for c in r.get("curve", []) if any(k.startswith("nll_k") for k in c)]
        if pts:
            key = next(k for k in pts[0] if k.startswith("nll_k"))
            n_first = key.split("first")[-1]
            held = "validation" if r.get("validation") else "test"
            step = max(1, len(pts) // 12)  # at most about a dozen columns
            shown = pts[::step] if pts[-1] in pts[::step] else [*pts[::step], pts[-1]]
            lines += ["", f"NLL against epochs ({r['method']}, batch {r['batch_size']}, {r['epochs']}-epoch cosine "
                      f"run; `{key}`: k on the first {n_first} {held} images only; read the curve for its shape):", "",
                      "| epoch | " + " | ".join(str(c["epoch"]) for c in shown) + " |",
                      "|---|" + "---:|" * len(shown),
                      "| NLL | " + " | ".join(f"{c[key]:.2f}" for c in shown) + " |",
                      f"| -ELBO (all {held} images) | " + " | ".join(f"{c['nelbo']:.2f}" for c in shown) + " |"]
        verdict = "meets" if r["nll"] <= r.get("target", 87.5) else "does not yet meet"
        lines += ["", f"{r['method']}, batch {r['batch_size']}, {r['epochs']} epochs: {r['nll']:.2f} nats {verdict} "
                  f"the target of {r.get('target', 87.5)}. Sample Fréchet distance {r['sample_frechet']:.2f} (aelab "
                  f"MNIST-classifier features, not FID)."]
    last = d["rows"][-1] if d["rows"] else None
    if last:
        lines += ["", f"Samples (decoder means) of the last run written: `{last['samples_png']}`"]
    return "\n".join(lines) + "\n"


def vaegan_mnist(d: dict) -> str:
    lines = [
        "## VAE vs VAE-GAN on MNIST (Larsen et al. 2016)",
        "",
        "Same conv encoder/decoder (channels in the row, 32 latents). Sample quality: Fréchet distance between",
        "the 128-d penultimate features of aelab's shipped MNIST classifier on 10,000 samples and on the",
        "10,000 test images (not the Inception FID; lower is better); confidence: the classifier's mean",
        "max-probability on the samples. Reconstruction: pixel squared error on the test set.",
        "",
        f"Machine: {d['machine']}; torch {d['versions']['torch']}.",
        "",
        "| model | sample Fréchet | confidence | test sq_err | epochs | gamma | beta | training | command |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in d["rows"]:
        lines.append(f"| {r['method']} | {r['sample_frechet']:.2f} | {r['sample_confidence']:.3f} | {r['test_sq_err']:.2f} | "
                     f"{r['epochs']} | {r.get('gamma') if r.get('gamma') is not None else ''} | {r.get('beta', 1.0)} | "
                     f"{_minutes(r['train_wall_s'])} ({r.get('threads', '?')} thread(s)) | `{r['command']}` |")
    ref = RESULTS / "mnist_classifier.json"
    if ref.exists():
        c = json.loads(ref.read_text())["rows"][0]
        lines += ["", f"The score's floor: 10,000 real training images vs the test set give {c['frechet_train10k_vs_test']:.2f}. "
                  f"The classifier (`python bench/mnist_classifier.py`) has test accuracy {c['test_accuracy']:.4f}."]
    if d.get("picture"):
        lines += ["", d["picture"], "", f"![VAE vs VAE-GAN]({d['picture'].split(':')[0]})"]
    for r in d["rows"]:
        if r.get("picture"):
            lines += ["", f"{r['method']} (gamma {r.get('gamma')}, beta {r.get('beta', 1.0)}): two rows of samples, then 16 test "
                      f"images above their reconstructions (`{r['picture']}`)", "", f"![{r['method']}]({r['picture']})"]
    return "\n".join(lines) + "\n"


def _spread(values: list[float], fmt: str = ".3f") -> str:
    """"mean ± std (n seeds)" (std with ddof=1), or the value alone when there is one; "–" when there is none."""
    values = [v for v in values if isinstance(v, (int, float)) and v == v]
    if not values:
        return "–"
    if len(values) == 1:
        return format(values[0], fmt)
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
    return f"{format(mean, fmt)} ± {format(std, fmt)} ({len(values)} seeds)"


def _mean(values: list[float]) -> float | None:
    values = [v for v in values if isinstance(v, (int, float)) and v == v]
    return sum(values) / len(values) if values else None


def _latest(rows: list[dict], key) -> list[dict]:
    """One row per key, the last in the file (save_rows appends a run's fresh rows after the ones it kept)."""
    found: dict = {}
    for r in rows:
        found.pop(key(r), None)
        found[key(r)] = r
    return list(found.values())


def _threads(rows: list[dict]) -> str:
    return rows[-1].get("machine", "").rsplit(" ", 1)[-1] if rows else ""


def _bits_list(bits: list) -> str:
    return ", ".join(str(b) for b in bits)


def _versus(ours: dict, other: dict, measures: list[tuple[str, str]], other_name: str) -> str:
    """"ours above OTHER on ... at 16, 32 bits; not at 64 bits (P@100 0.844 vs 0.858)": means over the seeds.

    `ours` and `other` map bits -> {measure: [values]}."""
    above, below = [], []
    for bits in sorted(b for b in ours if b in other):
        short = []
        for key, label in measures:
            a, b = _mean(ours[bits].get(key, [])), _mean(other[bits].get(key, []))
            if a is None or b is None:
                continue
            if not a > b:
                short.append(f"{label} {a:.3f} vs {b:.3f}")
        (below if short else above).append((bits, short))
    if not above and not below:
        return ""
    names = " and ".join(label for _, label in measures)
    text = f"ours above {other_name} on {names} at {_bits_list([b for b, _ in above])} bits" if above \
        else f"ours not above {other_name} on {names} at any code length measured"
    if below:
        text += ("; not at " if above else ": ") + ", ".join(f"{b} bits ({'; '.join(s)})" for b, s in below)
    return text


def semantic_hashing(d: dict) -> str:
    lines = [
        "## Semantic hashing (Salakhutdinov & Hinton 2009) against LSH, PCA-sign and ITQ",
        "",
        "Test items as queries against the training items, relevant = same label; mAP over the whole ranking by",
        "Hamming distance (ties by database order), precision@100, precision within Hamming radius 2. Baselines hash",
        "TF-IDF for documents (idf of the training set), pixels for images. Ours is semhash with its default recipe (the",
        "preset named after the data set where there is one); it holds out 10% of its training items and keeps the",
        "epoch whose codes retrieve them best. Ours, LSH and ITQ are trained with 3 seeds: mAP and precision@100 are",
        "mean ± standard deviation (n seeds), precision within radius 2 the mean; PCA-sign has no randomness (one",
        "run). \"semhash short-list 1000, tf-idf re-rank\" is the paper's pipeline: the 1000 nearest codes re-ranked",
        "by TF-IDF cosine. Command:",
        "",
        "```",
        "python bench/semantic_hashing.py   # 20 Newsgroups and MNIST, 16/32/64/128 bits, 3 seeds; writes",
        "                                   # bench/results/semantic_hashing.json and semantic_hashing_pr.png",
        "```",
        "",
        f"Machine: {_machines(d)}.",
    ]
    test_items = {"20newsgroups": 7528, "mnist": 10000}  # the test splits' sizes: --queries 0 takes them all
    for dataset in sorted({r["dataset"] for r in d["rows"] if not r.get("quick")}):
        rows = [r for r in d["rows"] if r["dataset"] == dataset and not r.get("quick")]
        seeded_bits = {r["bits"] for r in rows if "seed" in r}
        # at a code length with rows of the seeded runs, rows from before them (no seed) are not mixed in
        rows = [r for r in rows if "seed" in r or r["bits"] not in seeded_bits]
        rows = _latest(rows, lambda r: (r["bits"], r["method"], r.get("seed", 0)))
        old_bits = sorted({r["bits"] for r in rows if "seed" not in r and r["bits"]})
        new = [r for r in rows if "seed" in r] or rows
        bits = sorted({r["bits"] for r in rows if r["bits"]})
        seeds = max((len({r.get("seed", 0) for r in rows if r["method"] == "semhash (ours)" and r["bits"] == b})
                     for b in bits), default=1)
        queries = new[0]["queries"]
        flag = f" --queries {queries}" if queries < test_items.get(dataset, queries) else ""
        epochs = sorted({r["epochs"] for r in new if r.get("epochs")})
        flag += f" --epochs {epochs[0]}" if len(epochs) == 1 else ""  # the runs' recipe overridden on the command line
        presets = sorted({str(r.get("preset")) for r in new if r["method"] == "semhash (ours)" and "preset" in r})
        lines += ["", f"### {dataset} ({queries} queries, {new[0]['database']} items)", "",
                  f"`python bench/semantic_hashing.py --datasets {dataset} --bits {','.join(map(str, bits))} "
                  f"--seeds {seeds}{flag} --threads {_threads(new)}`", ""]
        if presets:
            lines += ["Ours: " + ", ".join("the model's default config (no preset)" if p == "None" else f"preset `{p}`"
                                           for p in presets) + ".", ""]
        lines += ["| bits | method | mAP | precision@100 | precision, r <= 2 |", "|---|---|---|---|---|"]
        groups: dict = {}
        for r in rows:
            groups.setdefault((r["bits"], r["method"]), []).append(r)
        order = sorted(groups, key=lambda k: (k[0] or 0, k[1] != "semhash (ours)", k[1]))
        for key in order:
            found = groups[key]
            mark = " (earlier run)" if any("seed" not in r for r in found) and key[0] else ""
            r2 = _mean([r.get("precision_r2") for r in found])
            lines.append(f"| {key[0] or '–'} | {key[1]}{mark} | {_spread([r.get('map') for r in found])} | "
                         f"{_spread([r.get('precision@100') for r in found])} | {_num(r2, '.3f')} |")
        if old_bits:
            lines += ["", f"Rows marked \"earlier run\" ({_bits_list(old_bits)} bits) are from a run before the seeded "
                      "runs (one seed, the recipe of that time); the seeded runs replace them as they finish."]

        def measures(method: str) -> dict:
            out: dict = {}
            for (b, m), found in groups.items():
                if m == method and b:
                    out[b] = {k: [r.get(k) for r in found] for k in ("map", "precision@100")}
            return out

        verdict = _versus(measures("semhash (ours)"), measures("itq"), [("map", "mAP"), ("precision@100", "P@100")],
                          "ITQ")
        if verdict:
            few = [b for b in bits if any(len(groups.get((b, m), [])) < 3 for m in ("semhash (ours)", "itq"))]
            lines += ["", f"**{dataset}**: {verdict} (means over the seeds)"
                      + (f"; fewer than 3 seeds so far at {_bits_list(few)} bits." if few else ".")]
    lines += ["", f"![precision-recall by Hamming radius]({pic('semantic_hashing_pr.png')})"]
    return "\n".join(lines) + "\n"


def _by_seed(rows: list[dict], method: str, key: str) -> dict:
    """bits -> {key: [values over the seeds]} of one method's rows; a row without bits counts at every bits."""
    out: dict = {}
    for r in rows:
        if r["method"] == method:
            for b in ([r["bits"]] if r["bits"] else sorted({x["bits"] for x in rows if x["bits"]})):
                out.setdefault(b, {}).setdefault(key, []).append(r.get(key))
    return out


def _subspaces(rows: list[dict], methods: list[str], bits: list[int]) -> list[str]:
    """A line per method whose runs chose their target codes' subspace on their validation items: what each chose."""
    lines = []
    for m in methods:
        found = {b: [r for r in sorted(rows, key=lambda r: r.get("seed") or 0) if r["method"] == m and r["bits"] == b
                     and r.get("subspace_chosen")] for b in bits}
        if any(found.values()):
            lines += ["", f"{m}: the subspace of the target codes each run chose on its validation items, by seed: " +
                      "; ".join(f"{b} bits {', '.join(str(r['subspace']) for r in found[b])}" for b in bits
                                if found[b]) + " (one code of as many directions as bits where none is listed)."]
    return lines


def text_hashing(d: dict) -> str:
    rows = [r for r in d["rows"] if not r.get("quick")]
    if not rows:
        return ""
    rows = _latest(rows, lambda r: (r["method"], r["bits"], r["seed"]))
    proto = d.get("protocol", {})
    voc = proto.get("vocabulary", {})
    tokens = proto.get("tokens", [5, 500])
    dropped = proto.get("dropped", {})
    size = rows[0]
    bits = [b for b in (16, 32, 64, 128) if any(r["bits"] == b for r in rows)]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    methods = [m for m in ("tf-idf cosine (no hashing)", "lsh", "itq") if m in methods] + \
        [m for m in methods if m.startswith("semhash")] + \
        [m for m in methods if m not in ("tf-idf cosine (no hashing)", "lsh", "itq") and not m.startswith("semhash")]
    lines = [
        "## The standard text-hashing protocol (VDSH) on 20 Newsgroups",
        "",
        *textwrap.wrap(
        "The protocol VDSH introduced (Chaidaroon & Fang 2017) and NASH, AMMI and SNUH report on, built from our 20 "
        "Newsgroups \"bydate\" files (an approximation of VDSH's own preprocessing): scikit-learn's `CountVectorizer("
        f"stop_words='{voc.get('stop_words', 'english')}', max_features={voc.get('max_features', 10000)}, "
        f"max_df={voc.get('max_df', 0.8)}, min_df={voc.get('min_df', 3)})` fitted on the training split "
        f"({size['vocabulary_docs']:,} words kept); documents with <= {tokens[0]} or > {tokens[1]} in-vocabulary "
        f"tokens dropped ({dropped.get('train', '?')} training, {dropped.get('test', '?')} test documents); "
        "sublinear TF-IDF fitted on the kept training documents; the kept test documents split by a seeded "
        f"permutation into {size['validation_docs']:,} validation queries and {size['test_docs']:,} test queries. "
        f"Database: the {size['train_docs']:,} kept training documents; relevant = same newsgroup; precision@100 with "
        "ties broken at random (the database in a seeded random order, then a stable sort on the distance). LSH: signs "
        f"of Gaussian projections of the TF-IDF; ITQ: on a TruncatedSVD({proto.get('svd', 256)}) of the TF-IDF; ours: "
        "`aelab.fit(\"semhash\", ...)` on the kept training documents' word counts with the model's default config. "
        "LSH, ITQ and ours are mean ± standard deviation over seeds (n seeds). Published rows are printed as "
        "published, with where they were read: they were measured on VDSH's own files, not in this harness, so they "
        "are a level to compare with. The table shows TEST precision@100; the defaults were chosen on the validation "
        "queries (second table). Commands:", 115, break_on_hyphens=False),
        "",
        "```",
        "python bench/text_hashing.py                  # 16/32/64/128 bits, 3 seeds; writes bench/results/text_hashing.json",
        "python bench/text_hashing.py --skip-ours      # the classical rows only",
        "python bench/text_hashing.py --skip-classical --name NAME --set '{...}'   # another recipe's rows, kept beside",
        "```",
        "",
        f"Machine: {_machines({**d, 'rows': rows})}.",
        "",
    ]
    published = d.get("published", {})
    cells: dict = {}  # (name, bits) -> mean, for the best mark
    table = []
    for m in methods:
        got = _by_seed(rows, m, "test_precision@100")
        for b in bits:
            if b in got and m != "tf-idf cosine (no hashing)":
                cells[(m, b)] = _mean(got[b]["test_precision@100"])
        table.append((m, [_spread(got[b]["test_precision@100"]) if b in got else "–" for b in bits], ""))
    for name, pub in published.items():
        values = pub.get("precision@100") or {}
        for b in bits:
            if str(b) in values:
                cells[(f"{name} (published)", b)] = values[str(b)]
        table.append((f"{name} (published)", [f"{values[str(b)]:.4f}" if str(b) in values else
                                              ("not verified" if not values else "–") for b in bits],
                      pub.get("short", "")))
    best = {b: max((k for k in cells if k[1] == b), key=lambda k: cells[k], default=None) for b in bits}
    lines += ["| method | " + " | ".join(f"{b} bits" for b in bits) + " | source |",
              "|---|" + "---|" * len(bits) + "---|"]
    for name, values, source in table:
        shown = [f"**{v}**" if best[b] == (name, b) else v for b, v in zip(bits, values)]
        lines.append(f"| {name} | {' | '.join(shown)} | {source or 'measured here'} |")
    lines += _subspaces(rows, methods, bits)
    lines += ["", "Bold: the best hashing row at each code length, measured here or published (TF-IDF cosine ranks "
              "without codes and is left out). Best: " + "; ".join(
                  f"{b} bits {best[b][0]} {cells[best[b]]:.{4 if best[b][0].endswith('(published)') else 3}f}"
                  for b in bits if best[b]) + "."]
    for m in methods:
        if m.startswith("semhash"):
            got = {b: _mean(v["test_precision@100"]) for b, v in _by_seed(rows, m, "test_precision@100").items()}
            parts = [f"{b} bits {got[b]:.3f} (goal {goal}: {'met' if got[b] >= goal else 'not met'})"
                     for b, goal in ((32, 0.65), (64, 0.68)) if got.get(b) is not None]
            pub_best = {b: max((v["precision@100"][str(b)] for v in published.values()
                                if v.get("precision@100") and str(b) in v["precision@100"]), default=None)
                        for b in got}
            above = [b for b in sorted(got) if pub_best[b] is not None and got[b] > pub_best[b]]
            not_above = [f"{b} ({got[b]:.3f} vs {pub_best[b]:.4f})" for b in sorted(got)
                         if pub_best[b] is not None and not got[b] > pub_best[b]]
            named = ", ".join(n for n, v in published.items() if v.get("precision@100"))
            if parts or above or not_above:
                lines += ["", f"{m}: " + "; ".join(parts) + ("; " if parts else "")
                          + (f"above every published number ({named}) at {_bits_list(above)} bits" if above else
                             f"above no published number ({named})")
                          + (f"; not at {', '.join(not_above)} bits" if not_above and above else
                             (f" ({', '.join(not_above)} bits)" if not_above else "")) + "."]
    lines += ["", "Issue 24's goal: at least 0.65 precision@100 at 32 bits and 0.68 at 64.", "",
              "Validation precision@100 (the validation queries; what the defaults were chosen on):", "",
              "| method | " + " | ".join(f"{b} bits" for b in bits) + " | distinct training codes (ours) |",
              "|---|" + "---|" * len(bits) + "---|"]
    for m in methods:
        if m == "lsh":
            continue
        got = _by_seed(rows, m, "validation_precision@100")
        codes = _by_seed(rows, m, "distinct_codes")
        distinct = "; ".join(f"{b}: {_mean(codes[b]['distinct_codes']):,.0f}" for b in bits
                             if b in codes and _mean(codes[b]["distinct_codes"]) is not None)
        lines.append(f"| {m} | " + " | ".join(_spread(got[b]["validation_precision@100"]) if b in got else "–"
                                              for b in bits) + f" | {distinct} |")
    lines += ["", "Published rows' sources:", ""]
    lines += [f"- {name}: {pub.get('paper', '')}. {pub.get('source', '')}" for name, pub in published.items()]
    return "\n".join(lines) + "\n"


def held_out_groups(d: dict) -> str:
    rows = [r for r in d["rows"] if not r.get("quick")]
    a = [r for r in rows if r.get("part") == "A"]
    b = _latest([r for r in rows if r.get("part") == "B"], lambda r: (r["method"], r["bits"], r["seed"]))
    groups = d.get("groups", {})
    lines = [
        "## Semhash's default on newsgroups it was not chosen on",
        "",
        "The 20 newsgroups split in two halves by name, each a corpus of its own through the standard protocol of",
        "`bench/text_hashing.py` (its own 10,000 words, idf, document filter, and test split halved into validation and",
        "test queries). Part A: semhash's free settings chosen on the first half in two steps, each setting trained",
        "with 3 seeds: the graph of its neighbourhood targets (neighbours, hops) at 32 bits, then with that graph the",
        "code's subspace at 64 bits (it changes only codes longer than itself). Each run holds out 10% of its training",
        "documents and keeps its best epoch on them, and the setting whose kept epochs scored best on that own",
        "validation, on average over the seeds, is chosen (no query of either half is looked at; A's validation",
        "queries are shown for information); the model's default graph is that choice. The code step showed that the",
        "subspace matters; the full corpus's rows (the VDSH protocol, test P@100 0.633 at 32 bits with subspace 16",
        "against 0.663 with one code) then showed that its value does not carry from one corpus to another, so no value",
        "is fixed: a run with validation items (every run by default) chooses its own subspace before training, by the",
        "target codes' score on those items (`SemanticHasher.choose_settings`); the code step's choice, 16, is the",
        "subspace of a run without them. A third step (`--a-steps denoise`), where it was run: training as a denoiser",
        "of dropped words (`--corrupt masking:P`) at 64 bits, with the default graph and each run's own subspace.",
        "Part B: the default recipe, unchanged, on the other half at each code length",
        "and seed,",
        "beside ITQ, LSH and TF-IDF cosine: mAP and precision@100 of B's test queries, mean ± standard deviation over",
        "seeds (n seeds). Command:",
        "",
        "```",
        "python bench/held_out_groups.py   # grids on A, then B at 16/32/64/128 bits, 3 seeds; writes bench/results/held_out_groups.json",
        "```",
        "",
        f"Machine: {_machines({**d, 'rows': rows})}.",
    ]
    for part, names in groups.items():
        lines += ["", f"Half {part} ({len(names)} newsgroups): {', '.join(names)}."]
    if a:
        lines += ["", "### Part A: the choice (each setting the mean ± standard deviation over its seeds; chosen by "
                  "the runs' own validation)", "",
                  "| step | bits | neighbours | hops | subspace | training | seeds | own validation P@100 (kept epoch) | "
                  "validation queries P@100 | chosen |", "|---|---:|---:|---:|---:|---|---:|---:|---:|---|"]
        settings: dict = {}
        steps = ("graph", "code", "denoise")
        for r in a:
            step = r.get("step", "graph")
            subspace = "each run's choice" if step == "denoise" else r.get("subspace", 0)
            settings.setdefault((step, r["bits"], r["neighbours"], r["hops"], subspace,
                                 f"denoising {r['corrupt']}" if r.get("corrupt") else "plain"), []).append(r)
        for key in sorted(settings, key=lambda k: (steps.index(k[0]), k[1:4], str(k[4]), k[5] != "plain", k[5])):
            found = settings[key]
            lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {key[4]} | {key[5]} | {len(found)} | "
                         f"{_spread([r['own_validation'] for r in found])} | "
                         f"{_spread([r['validation_precision@100'] for r in found])} | "
                         f"{'**chosen**' if found[0].get('chosen') else ''} |")
    if b:
        size = b[0]
        sizes = (f" ({size['train_docs']:,} training documents, {size['test_docs']:,} test queries)"
                 if "train_docs" in size and "test_docs" in size else "")
        lines += ["", f"### Part B: the default, unchanged, on the other half{sizes} (and part A's choice, "
                  "`--b-set`, where it was run)", "",
                  "| bits | method | test mAP | test precision@100 |", "|---|---|---|---|"]
        groups_b: dict = {}
        for r in b:
            groups_b.setdefault((r["bits"], r["method"]), []).append(r)
        for key in sorted(groups_b, key=lambda k: (k[0] or 0, not k[1].startswith("semhash"), k[1])):
            found = groups_b[key]
            lines.append(f"| {key[0] or '–'} | {key[1]} | {_spread([r.get('test_map') for r in found])} | "
                         f"{_spread([r.get('test_precision@100') for r in found])} |")
        def measures(method: str) -> dict:
            return {k[0]: {m: [r.get(f"test_{m}") for r in v] for m in ("map", "precision@100")}
                    for k, v in groups_b.items() if k[1] == method and k[0]}

        lines += _subspaces(b, list(dict.fromkeys(r["method"] for r in b)), sorted({r["bits"] for r in b if r["bits"]}))
        for ours in (m for m in dict.fromkeys(r["method"] for r in b) if m.startswith("semhash")):
            verdict = _versus(measures(ours), measures("itq"), [("map", "mAP"), ("precision@100", "P@100")], "ITQ")
            if verdict:
                lines += ["", f"Half B, {ours}: {verdict} (means over the seeds)."]
    return "\n".join(lines) + "\n"


def user_corpus(d: dict) -> str:
    rows = _latest(d["rows"], lambda r: (r["corpus"], r["bits"], r["method"]))
    corpora = list(dict.fromkeys(r["corpus"] for r in rows))
    lines = [
        "## A user's corpus with no flags",
        "",
        "A corpus handed over as a path, `aelab train semhash --data PATH` with no flags (the model's defaults and the",
        "loader's own split: 10% of the documents held out as the test split, 2,000 words), then the test documents",
        "as queries against the training documents, beside ITQ (on TF-IDF) and TF-IDF cosine on the same split. The",
        "default corpus is 20 Newsgroups' training file given as a path, so no preset named after a registered data set",
        "applies. Relevant = same label; mAP over the whole ranking and precision@100 (ties by database order);",
        "codes' usage on the training documents: distinct codes and the mean absolute correlation between bits.",
        "Command:",
        "",
        "```",
        "python bench/user_corpus.py   # ../shared/data/20newsgroups/train.tsv.gz; writes bench/results/user_corpus.json",
        "```",
        "",
        f"Machine: {_machines(d)}.",
    ]
    for corpus in corpora:
        found = [r for r in rows if r["corpus"] == corpus]
        bits = sorted({r["bits"] for r in found})
        name = Path(corpus).name
        flags = (f" --corpus {name}" if name != "train.tsv.gz" else "") + \
            (f" --bits {','.join(map(str, bits))}" if bits != [32] else "")
        lines += ["", f"### {name} ({found[0]['train_docs']:,} training, {found[0]['test_docs']:,} test documents, "
                  f"{found[0].get('vocabulary', '?'):,} words)", "", f"`python bench/user_corpus.py{flags}`", "",
                  "| bits | method | mAP | precision@100 | distinct codes | mean abs. bit correlation | train docs | "
                  "test docs |", "|---|---|---:|---:|---:|---:|---:|---:|"]
        for r in sorted(found, key=lambda r: (r["bits"], not r["method"].startswith("semhash"), r["method"])):
            lines.append(f"| {r['bits']} | {r['method']} | {r['map']:.3f} | {r['precision@100']:.3f} | "
                         f"{_num(r.get('distinct_codes'), ',.0f')} | {_num(r.get('bit_correlation'), '.3f')} | "
                         f"{r['train_docs']:,} | {r['test_docs']:,} |")
    return "\n".join(lines) + "\n"


def hashing_speed(d: dict) -> str:
    rows = _latest([r for r in d["rows"] if not r.get("quick")],
                   lambda r: (r["part"], r["method"], r["phase"], r["bits"], r["docs"]))
    if not rows:
        return ""
    syn = d.get("synthetic", {})
    docs = max(r["docs"] for r in rows)
    rows = [r for r in rows if r["docs"] == docs]
    first = rows[0]
    epochs = next((r["epochs"] for r in rows if r.get("epochs")), None)
    flags = (f" --docs {docs}" if docs != 1_000_000 else "") + (f" --bits {first['bits']}" if first["bits"] != 32 else "") \
        + (f" --epochs {epochs}" if epochs and epochs != 2 else "")
    lines = [
        "## Semantic hashing: speed and size",
        "",
        *textwrap.wrap(
        "Part 1 (`20ng`), the 20 Newsgroups protocol of the VDSH section: ours trained by `aelab.fit(\"semhash\", ...)` "
        "(the model's default config; training documents/s = documents x epochs / the fit's wall time, checkpoints "
        "included) and its encoding (sparse counts -> dense float32 batches -> binary codes); ITQ's fit (TF-IDF idf, "
        "TruncatedSVD(256), the ITQ rotation) and encode (TF-IDF, projection, signs) on the same documents. Part 2 "
        f"(`synthetic`): {docs:,} synthetic documents over the same words, "
        + (f"each a random training document's words drawn again Poisson(its length) times (the topics of a real "
           f"corpus)" if syn.get("resampled") else f"Poisson({syn.get('mean_words', 100):g}) word draws each from a "
           f"Zipf-Mandelbrot law, offset {syn.get('zipf_offset', 2.7)}") + ", made and encoded in chunks of "
        f"{syn.get('chunk', 5000):,} as sparse counts, the codes added to an `aelab.index.Index` in one call, saved, and "
        "searched (100 of the corpus's codes as queries). Peak RSS: the whole process's high-water mark "
        "(`ru_maxrss`) read at the end of each phase, so it only grows. Command:", 115, break_on_hyphens=False),
        "",
        "```",
        f"python bench/hashing_speed.py{flags}   # writes bench/results/hashing_speed.json",
        "```",
        "",
        f"Machine: {_machines({**d, 'rows': rows})}; {first['bits']} bits, {first.get('threads', '?')} torch thread(s).",
        "",
        "| part | method | phase | seconds | items | items/s | ms/query | peak RSS MiB |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['part']} | {r['method']} | {r['phase']} | {r['seconds']:,.2f} | {_num(r.get('items'), ',')} | "
                     f"{_num(r.get('items_per_s'), ',.0f')} | {_num(r.get('ms_per_query'), ',.1f')} | "
                     f"{r['peak_rss_mib']:,.0f} |")

    def find(part: str, method: str, phase: str) -> dict | None:
        return next((r for r in rows if r["part"] == part and r["method"] == method and r["phase"].startswith(phase)),
                    None)

    notes = []
    for part, label in (("20ng", "20 Newsgroups"), ("synthetic", "synthetic")):
        o, i = find(part, "ours", "encode"), find(part, "itq", "encode")
        if o and i and o.get("items_per_s") and i.get("items_per_s"):
            notes.append(f"Encoding, {label}: ITQ {i['items_per_s']:,.0f} documents/s, ours {o['items_per_s']:,.0f}: "
                         f"ITQ's rate is {i['items_per_s'] / o['items_per_s']:.1f}x ours.")
    t, f = find("20ng", "ours", "train"), find("20ng", "itq", "fit")
    if t and f:
        notes.append(f"Fitting on the {t.get('documents', t['items']):,} training documents: ours trains in "
                     f"{t['seconds']:.1f} s ({t['phase']}; {t['items_per_s']:,.0f} documents/s), ITQ fits in "
                     f"{f['seconds']:.1f} s: ours takes {t['seconds'] / f['seconds']:.1f}x ITQ's time.")
    o = find("synthetic", "ours", "encode")
    add, save = find("synthetic", "index (ours)", "add"), find("synthetic", "index (ours)", "save")
    if o and add:
        notes.append(f"{docs:,} synthetic documents: encoded by ours in {_minutes(o['seconds'])}, added to the index "
                     f"in {add['seconds']:.2f} s" + (f", saved in {save['seconds']:.2f} s "
                                                       f"({save.get('bytes_on_disk', 0) / 2**20:.1f} MiB on disk)"
                                                       if save else "")
                     + f"; peak resident memory of the whole run {max(r['peak_rss_mib'] for r in rows):,.0f} MiB.")
    for r in rows:
        s = r.get("index_stats")
        if s:
            notes.append(f"{r['method']}: {s['distinct_codes']:,} distinct {r['bits']}-bit "
                         f"code{'' if s['distinct_codes'] == 1 else 's'} for {s['items']:,} "
                         f"documents, largest bucket {s['buckets']['max']:,}, {s['memory_bytes'] / 2**20:.1f} MiB of "
                         f"arrays; `range_search` within 2 bits found {r.get('hits', 0):,} hits for "
                         f"{r['items']} queries.")
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def restore_12mp(d: dict) -> str:
    rows = [r for r in d["rows"] if not r.get("quick")]
    if not rows:
        return ""
    rows = sorted(_latest(rows, lambda r: r["photo"]), key=lambda r: r["megapixels"])
    lines = [
        "## Restoring a large photograph: time and memory of the whole command",
        "",
        "`aelab denoise RUN IN.png OUT.png --no-progress` in a fresh process, as a user runs it (Python start, imports,",
        "reading, restoring, past 2 megapixels tile by tile with windows overlapping by the receptive field, writing the",
        "PNG), on scikit-image's astronaut resized to each size with Gaussian noise sigma 25/255; DnCNN's default",
        "architecture (depth 10, width 48; its speed does not depend on its weights). Wall time (the fastest of the",
        "repeats) and the command's peak resident memory (ru_maxrss of that process). Command:",
        "",
        "```",
        "python bench/restore_12mp.py   # writes bench/results/restore_12mp.json",
        "```",
        "",
        f"Machine: {_machines({**d, 'rows': rows})}.",
        "",
        "| photo | width x height | seconds | seconds per megapixel | peak RSS MiB |",
        "|---|---|---:|---:|---:|",
    ]
    lines += [f"| {r['photo']} | {r['width']}x{r['height']} | {r['seconds']:.1f} | {r['seconds_per_mp']:.2f} | "
              f"{r['peak_rss_mib']:,} |" for r in rows]
    return "\n".join(lines) + "\n"


def _latest_machine(d: dict) -> dict:
    """The results of the file's last run's machine alone: a rerun elsewhere keeps the other machine's rows in the
    file (save_rows), and a table mixing two machines' timings would compare nothing."""
    return {**d, "rows": [r for r in d["rows"] if r.get("machine", d["machine"]) == d["machine"]]}


def index_speed(d: dict) -> str:
    d = _latest_machine(d)
    lines = [
        "## Binary-code search speed: aelab.index against FAISS (same codes, same results, 1 thread each)",
        "",
        f"Codes: {d.get('codes', '')}. Median / p99 query latency in microseconds; every result checked equal to",
        "the other engine's before timing. Command: `python bench/index_speed.py` (needs `pip install faiss-cpu`).",
        "",
        f"Machine: {_machines(d)}. aelab's primitives ran {d.get('aelab_engine', 'numpy')}: XOR and popcount scans,",
        "table probes and candidate checks in src/aelab/index/_kernels.c, built at install where a C compiler is found",
        "(without one, their numpy twins in kernels.py: slower, same results); each way (scan, hash table, multi-index)",
        "is written once in Python and picked per segment by the rule in src/aelab/index/plan.py; both libraries are",
        "called one query per call.",
        "",
        "| bits | items | operation | aelab | faiss-flat | faiss-hash | faiss-multihash | best FAISS / aelab |",
        "|---|---|---|---|---|---|---|---|",
    ]
    engines = ["aelab", "faiss-flat", "faiss-hash", "faiss-multihash"]
    cases = sorted({(r["bits"], r["items"], r["operation"]) for r in d["rows"] if r["engine"] in engines})
    for bits, items, op in cases:
        got = {r["engine"]: r for r in d["rows"] if (r["bits"], r["items"], r["operation"]) == (bits, items, op)}
        cells = [f"{got[e]['median_us']:.1f} / {got[e]['p99_us']:.1f}" if e in got else "–" for e in engines]
        faiss = [got[e]["median_us"] for e in engines[1:] if e in got]
        ratio = f"{min(faiss) / got['aelab']['median_us']:.2f}x" if faiss and "aelab" in got else "–"
        lines.append(f"| {bits} | {items:,} | {op} | {' | '.join(cells)} | {ratio} |")
    builds = {(r["bits"], r["items"], r["engine"]): r.get("build_s") for r in d["rows"]
              if r.get("build_s") is not None and r["engine"] in engines}  # aelab-WAY: aelab's index
    lines += ["", "Cells: median / p99 µs. Build seconds (10M items): " + ", ".join(
        f"{e} {b}-bit {v:.1f}" for (b, n, e), v in sorted(builds.items()) if n == max(k[1] for k in builds))]
    return "\n".join(lines) + "\n"


def _steps(plan: str) -> str:
    """PostgresIndex.last_plan's steps ("hash, within 0 bits; multi-index, within 1 bits; ...") shortened to the
    radii each way reached: "hash 0; multi-index 1, 3; scan"."""
    out: list[tuple[str, list[str]]] = []
    for step in plan.split("; "):
        way, _, rest = step.partition(", ")
        radius = rest.removeprefix("within ").removesuffix(" bits") if rest.startswith("within") else ""
        if out and out[-1][0] == way:
            out[-1][1].append(radius)
        else:
            out.append((way, [radius] if radius else []))
    return "; ".join(f"{way} {', '.join(r)}".strip() for way, r in out)


def index_speed_postgresql(d: dict) -> str:
    """The PostgreSQL backend beside the in-process index and the best FAISS index, and how it grows with items."""
    d = _latest_machine(d)
    pg = [r for r in d["rows"] if r["engine"].startswith("postgresql")]
    if not pg:
        return ""
    at = {(r["bits"], r["items"], r["operation"], r["engine"]): r for r in d["rows"]}
    server = d.get("postgresql", {})
    lines = [
        "## The index in PostgreSQL (aelab.index.postgresql) beside the in-process index and FAISS",
        "",
        f"The same codes and queries as the section above; PostgreSQL {server.get('version', '?')} started by the "
        f"script with its default settings (shared_buffers {server.get('shared_buffers', '?')}, "
        f"{server.get('max_parallel_workers_per_gather', '?')} parallel workers per query), on the same machine; "
        "a query's time is its whole round trip through psycopg over the local socket. Every answer checked equal "
        "to FAISS's flat index before timing. Past 1M items only the backend's `auto` is timed, on the first 50 "
        "queries. Command:",
        "",
        "```bash",
        "OMP_NUM_THREADS=1 python bench/index_speed.py --sizes 100k,1M,10M --postgresql   # pip install pgserver psycopg",
        "```",
        "",
        f"Machine: {_machines(d)}. Median / p99 µs; in brackets the steps `auto` took for the first "
        "query (a way and the radii it reached, a scan ranking the k nearest).",
        "",
        "| bits | items | operation | postgresql (way) | aelab in-process | best FAISS | build s (postgresql / aelab) | table + indexes MiB |",
        "|---|---:|---|---|---|---|---|---:|",
    ]
    for bits, items, op in sorted({(r["bits"], r["items"], r["operation"]) for r in pg if r["engine"] == "postgresql"}):
        p, a = at[(bits, items, op, "postgresql")], at.get((bits, items, op, "aelab"))
        faiss = [at[(bits, items, op, e)] for e in ("faiss-flat", "faiss-hash", "faiss-multihash")
                 if (bits, items, op, e) in at]
        best = min(faiss, key=lambda r: r["median_us"]) if faiss else None
        cell = lambda r: f"{r['median_us']:,.1f} / {r['p99_us']:,.1f}" if r else "–"  # noqa: E731
        lines.append(f"| {bits} | {items:,} | {op} | {cell(p)} ({_steps(p.get('way', '?'))}) | {cell(a)} | "
                     f"{cell(best) + ' (' + best['engine'] + ')' if best else '–'} | "
                     f"{p['build_s']:.1f} / {a['build_s'] if a else float('nan'):.2f} | {p['memory_bytes'] / 2**20:,.0f} |")
    forced = sorted({(r["bits"], r["items"], r["operation"]) for r in pg if r["engine"] != "postgresql"})
    if forced:
        lines += ["", "Each way forced (median µs; `refused`: past its probe limit), up to 1M items:", "",
                  "| bits | items | operation | auto took | scan | hash | multi-index |", "|---|---:|---|---|---:|---:|---:|"]
        for bits, items, op in forced:
            ways = [at.get((bits, items, op, f"postgresql-{w}")) for w in ("scan", "hash", "multi-index")]
            lines.append(f"| {bits} | {items:,} | {op} | {_steps(at[(bits, items, op, 'postgresql')].get('way', '?'))} | " +
                         " | ".join(f"{w['median_us']:,.0f}" if w else "refused" for w in ways) + " |")
    return "\n".join(lines) + "\n"


def denoise(d: dict) -> str:
    r = d.get("recipe", {})
    model = r.get("model", {})
    code = model.get("latent_dim", model.get("code_dim"))  # results saved before the config key was renamed
    lines = [
        "## Denoising and inpainting (Vincent et al. 2008): our DAE against a median filter, PCA and biharmonic inpainting",
        "",
        "PSNR (dB) and SSIM (11x11 Gaussian window) against the clean test images; test images corrupted once with a",
        "fixed seed, the DAE trained on training images corrupted afresh each batch. PCA: projection onto the top",
        "components of the clean training images, their number picked on held-out training images. Inpainting keeps",
        f"every known pixel. DAE: `ae` with hidden {tuple(r.get('model', {}).get('hidden', ()))}, code "
        f"{code}, {model.get('activation')} units, {r.get('epochs')} epochs "
        "(photos: see `PHOTO_RECIPE` in the script). Command:",
        "",
        "```",
        "python bench/denoise.py --threads 1   # writes bench/results/denoise.json and denoise_examples.png",
        "```",
        "",
        f"Machine: {_machines(d)}.",
    ]
    images = [x for x in d["rows"] if "psnr" in x]
    for data in sorted({x["data"] for x in images}, key=lambda k: k != "mnist"):
        rows = [x for x in images if x["data"] == data]
        lines += ["", f"### {data} ({rows[0]['test_images']} test images)", "",
                  "| corruption | method | PSNR | SSIM |", "|---|---|---|---|"]
        for x in rows:
            shown = x["method"] + (f" ({x['test_images']} images)" if x["test_images"] != rows[0]["test_images"] else "")
            lines.append(f"| {x['corruption']} | {shown} | {x['psnr']:.2f} | {x['ssim']:.3f} |")
    probe = [x for x in d["rows"] if "accuracy" in x]
    if probe:
        lines += ["", f"### Features: logistic regression on the codes ({probe[0]['code_dim']} units, "
                      f"{probe[0]['probe_train']} training images, MNIST test set)", "",
                  "| codes of | test accuracy |", "|---|---|"]
        lines += [f"| {x['method'].replace('linear probe on ', '')} | {x['accuracy']:.4f} |" for x in probe]
    lines += ["", f"![clean / corrupted / restored, each corruption in turn]({pic('denoise_examples.png')})"]
    return "\n".join(lines) + "\n"


def _num(v, fmt: str) -> str:
    return "–" if v is None or v != v else format(v, fmt)


def vqvae(d: dict) -> str:
    mnist = [r for r in d["rows"] if r["data"] == "mnist"]
    photos = [r for r in d["rows"] if r["data"] == "photos"]
    lines = [
        "## VQ-VAE with its gated PixelCNN prior (van den Oord et al. 2017) against the VAE",
        "",
        "Dynamically binarised MNIST; both models trained for the same epochs. bits/dim: VQ-VAE the paper's bound",
        "-log p(x|z_q) - log p(z_q) (one-hot posterior), VAE the importance-weighted bound; reconstruction: squared",
        "error of the grey test images summed over pixels; sample score: Fréchet distance in aelab's MNIST classifier's",
        "features (not the Inception FID; lower is better); codebook: share of the K codes used on the test set and",
        "the perplexity of their histogram. The CPU recipe is narrower than the paper's network (see `RECIPES` in the",
        "script: VQ-VAE hidden 64 instead of 128, a PixelCNN of 32 channels and 8 layers instead of 64 and 12); K = 512",
        "codes of D = 64, EMA codebook, dead codes restarted. Command:",
        "",
        "```",
        "python bench/vqvae.py --threads 2   # writes bench/results/vqvae.json and vqvae_samples.png",
        "```",
        "",
        "Training times are the trainer's clock; the recorded run shared the machine with two other benchmarks (the",
        "VQ-VAE's time includes a stretch of its 2-thread run stalled by that, before it resumed with `--threads 1`).",
        "",
        f"Machine: {_machines(d)}.",
        "",
        "| model | epochs (prior) | test sq_err | bits/dim | how | codebook used | perplexity | sample Fréchet | "
        "train |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in mnist:
        epochs = f"{r['epochs']}" + (f" ({r['prior_epochs']})" if r.get("prior_epochs") else "")
        lines.append(f"| {r['model']} | {epochs} | {r['sq_err']:.2f} | {r['bits_per_dim']:.4f} | {r['bits_per_dim_how'].replace('|', chr(92) + '|')} "
                     f"| {_num(r.get('codebook_usage'), '.3f')} | {_num(r.get('codebook_perplexity'), '.1f')} | "
                     f"{r['sample_frechet']:.2f} | {_minutes(r['train_s'])} |")
    if photos:
        lines += ["", "32x32 RGB photo patches (scikit-image's photographs; train and test patches from different "
                  "photos), the `cifar` preset with the CPU recipe's widths, Gaussian decoder with sigma 0.1:", "",
                  "| epochs (prior) | bits/dim on [0, 1] | 8-bit bits/dim | PSNR | SSIM | codebook used | perplexity | "
                  "train |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in photos:
            lines.append(f"| {r['epochs']} ({r.get('prior_epochs')}) | {r['bits_per_dim']:.3f} | "
                         f"{r['bits_per_dim_8bit']:.3f} | {r['psnr']:.2f} | {_num(r.get('ssim'), '.3f')} | "
                         f"{r['codebook_usage']:.3f} | {r['codebook_perplexity']:.1f} | {_minutes(r['train_s'])} |")
        lines += ["", "8-bit bits/dim reads the density on [0, 1] on 256 levels per channel (+8 bits); the paper's "
                  "CIFAR-10 figures (VAE 4.51, VQ-VAE 4.67) are on that scale, from a larger network "
                  "trained far longer; with a fixed sigma of 0.1 the reconstruction term alone is at least 6.0 bits a dimension on that scale (log2(0.1 sqrt(2 pi)) + 8, at zero error)."]
    lines += ["", "Samples: VQ-VAE (PixelCNN prior) rows above the VAE's.", "",
              f"![VQ-VAE and VAE samples]({pic('vqvae_samples.png')})"]
    return "\n".join(lines) + "\n"


def _kendall(first: list[str], second: list[str]) -> tuple[float, list[str]]:
    """Kendall's tau between two rankings over the names in both, and the pairs ("a/b") whose order differs."""
    common = [m for m in first if m in second]
    pos = {m: second.index(m) for m in common}
    pairs = [(a, b) for i, a in enumerate(common) for b in common[i + 1:]]
    swaps = [f"{a}/{b}" for a, b in pairs if pos[a] > pos[b]]
    return (1 - 2 * len(swaps) / len(pairs) if pairs else 1.0), swaps


def interpolation_lines(d: dict) -> str:
    rows = d["rows"]
    budgets = sorted({r["images"] for r in rows})
    first = rows[0]
    lines = [
        "## Interpolation on the lines data (Berthelot et al. 2019, Table 1)",
        "",
        "Every family with the paper's conv encoder/decoder (depth 16, codes of 16 channels at 2x2), batch 64, Adam at a",
        f"constant {first['lr']:g}, trained on the first {first['train_size']:,} lines of the fixed training set; 16-step",
        f"interpolations between {first['pairs']} seeded pairs of test lines. Mean Distance: cosine distance (on [-1, 1]",
        "images) of each decoded step to the nearest of 10,000 true lines, x 10^-3; Smoothness: the largest angle step",
        "over the whole angle change, minus 1/15 (an undefined pair, same start and end angle, counts as 0 in the mean,",
        "as the official code). Lower is better for both. The paper trains on 2^24 images; here each model sees the",
        "budgets in the table (the budgets show whether the ranking is stable: see below); ± one standard error over",
        "the pairs. Training times are the trainer's clock at the largest budget, on a machine shared with other",
        "benchmarks. The default run measures at 2^16 and 2^17 images; the 2^15 column is from the first run",
        "(`--images 65536`), whose models the default run then trained on. Deviations from the paper: Adam at 1e-3",
        "(its 1e-4 is for 2^24 images); the AE, the denoising AE and ACAI use cross-entropy on a logistic output and",
        "the VAE and VQ-VAE a Bernoulli likelihood (the paper: squared error on a linear output, which stalled on",
        "blank images at this budget); ALAE has its own (StyleALAE) networks. Command:",
        "",
        "```",
        "python bench/interpolation_lines.py --threads 1   # writes bench/results/interpolation_lines.json and .png",
        "```",
        "",
        f"Machine: {_machines(d)}.",
        "",
        "| model | " + " | ".join(f"Mean Distance @ {b:,}" for b in budgets) + " | "
        + " | ".join(f"Smoothness @ {b:,}" for b in budgets) + " | test sq_err | train | note |",
        "|---|" + "---:|" * (2 * len(budgets) + 2) + "---|",
    ]
    models = list(dict.fromkeys(r["model"] for r in rows))
    for m in models:
        by = {r["images"]: r for r in rows if r["model"] == m}
        last = by[max(by)]
        def cell(r, k, fmt):
            se = r.get(k.replace("_e3", "") + ("_se_e3" if k.endswith("_e3") else "_se"))
            return _num(r[k], fmt) + (f" ± {se:{fmt}}" if se is not None else "")
        lines.append(f"| {m} | " + " | ".join(cell(by[b], "mean_distance_e3", ".2f") if b in by else "–" for b in budgets)
                     + " | " + " | ".join(cell(by[b], "smoothness", ".3f") if b in by else "–" for b in budgets)
                     + f" | {_num(last['sq_err'], '.2f')} | {_minutes(last['train_s'])} |"
                     + " " + "; ".join(dict.fromkeys(r["note"] for _, r in sorted(by.items()) if r.get("note"))) + " |")
    for key, order in d.get("ranking", {}).items():
        lines.append("") if key == next(iter(d["ranking"])) else None
        lines.append(f"- ranking by {key.replace('_e3', '')}: {' < '.join(order)}")
    lines += ["", "Does the budget rank stably? Pairs of models whose order changes from one budget to the next (Kendall's "
              "tau over the models measured at both):", ""]
    for metric in ("mean_distance_e3", "smoothness"):
        for a, b in zip(budgets, budgets[1:]):
            ra, rb = d["ranking"].get(f"{metric}@{a}"), d["ranking"].get(f"{metric}@{b}")
            if ra and rb:
                tau, swaps = _kendall(ra, rb)
                lines.append(f"- {metric.replace('_e3', '')}, {a:,} -> {b:,} images: tau {tau:.2f}; "
                             + ("no pair changes order" if not swaps else "changed: " + ", ".join(swaps)))
    paired = d.get("paired_vs_acai") or {}
    if paired:
        lines += ["", "Paired against ACAI: each model's score minus ACAI's on the same test pairs, mean ± standard error "
                  "over the pairs (positive: ACAI is better; a gap of two standard errors or more is unlikely to be "
                  "the draw of pairs):", "", "| model | images | Mean Distance x 10^-3 | Smoothness |", "|---|---:|---:|---:|"]
        for key in sorted(paired, key=lambda k: (int(k.rsplit("@", 1)[1]), k)):
            model, images = key.rsplit("@", 1)
            dist, smooth = paired[key]["distance"], paired[key]["smoothness"]
            lines.append(f"| {model} | {int(images):,} | {dist[0]:+.2f} ± {dist[1]:.2f} | {smooth[0]:+.3f} ± {smooth[1]:.3f} |")
    lines += ["", f"Four interpolations per model, rows in the order {', '.join(d.get('strip_order', models))}:", "",
              f"![interpolation strips]({pic('interpolation_lines.png')})"]
    return "\n".join(x for x in lines if x is not None) + "\n"


def representation(d: dict) -> str:
    lines = [
        "## Representation quality on MNIST (Berthelot et al. 2019, Tables 2 and 3)",
        "",
        "Frozen codes of each model: a logistic regression (one linear layer) trained on the codes of the first",
        "10,000 training images, accuracy on the 10,000 test images; k-means (100 initialisations, whitened codes) on",
        "the test codes, accuracy with clusters matched to classes (Hungarian). Each model trains with its MNIST preset",
        "for the epochs shown (`MODELS` in the script). Command:",
        "",
        "```",
        f"python bench/representation.py --epochs {max((r.get('epochs') or 0) for r in d['rows'])} --threads 1"
        "   # writes bench/results/representation.json",
        "```",
        "",
        f"Machine: {_machines(d)}.",
        "",
        "| model | code dims | epochs | probe accuracy | clustering accuracy | NMI | train |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in d["rows"]:
        lines.append(f"| {r['model']} | {r['code_dim']} | {r.get('epochs', '–')} | {r['probe_accuracy']:.4f} | "
                     f"{_num(r.get('cluster_accuracy'), '.4f')} | {_num(r.get('cluster_nmi'), '.3f')} | "
                     f"{_minutes(r['train_s']) if r.get('train_s') == r.get('train_s') and r.get('train_s') else '–'} |")
    return "\n".join(lines) + "\n"


def alae(d: dict) -> str:
    lines = [
        "## ALAE (Pidhorskyi et al. 2020) beside the AE, VAE and VAE-GAN on MNIST",
        "",
        "One harness for every model: each trains on the 60,000 training images with its own MNIST recipe (`MODELS` in",
        "the script; ALAE: the official `mnist_fc` configuration, latent 50, 6 mapping layers, E and G 1024-1024,",
        "Adam (0, 0.99) at 0.002, R1 weight 10; the StyleALAE: the scaled-down `mnist-style` preset, widths 32-16-8-4",
        "from 4x4 to 32x32, progressive growing at one epoch a level; the AE samples through a 10-component Gaussian",
        "mixture fitted to its codes). Scores on the 10,000 test images: squared error of reconstructions summed over",
        "pixels; sample Fréchet distance in aelab's MNIST classifier's features (10,000 samples; not the Inception",
        "FID; lower is better); a linear probe on the codes (w for ALAE) trained on 10,000 training codes; k-means",
        "cluster accuracy (Hungarian). Training time is the trainer's clock on a machine shared with other",
        "benchmarks. The official ALAE trains 600 epochs; the budgets here are in the table (the 50-epoch row is",
        "the 20-epoch run extended). The MLP ALAE's samples still carry salt noise on the background at 50 epochs",
        "(its linear output must stay below -1 on every background pixel); `alae-tanh` is the same network with a",
        "tanh on G's output (`--set output=tanh`, not the official network), which removes it. Commands:",
        "",
        "```",
        "python bench/alae.py --threads 1                          # every model; alae.json and alae_<model>.png",
        "python bench/alae.py --threads 1 --only alae --epochs 50  # the ALAE run extended to 50 epochs",
        "```",
        "",
        f"Machine: {_machines(d)}.",
        "",
        "| model | code dims | epochs | test sq_err | sample Fréchet | classifier confidence | probe accuracy | "
        "k-means accuracy | params | train |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in d["rows"]:
        lines.append(f"| {r['model']} | {r['code_dim']} | {r['epochs']} | {r['sq_err']:.2f} | {r['sample_frechet']:.2f} | "
                     f"{r['sample_confidence']:.3f} | {r['probe_accuracy']:.4f} | {_num(r.get('cluster_accuracy'), '.4f')} | "
                     f"{r['params'] / 1e6:.2f}M | {_minutes(r['train_s'])} |")
    lines += ["", "Each picture: two rows of samples, 16 test images over their reconstructions, then four 16-step "
              "interpolations between test images.", ""]
    lines += [f"{r['model']} ({r['epochs']} epochs):\n\n![{r['model']}]({r['picture']})\n" for r in d["rows"]
              if r.get("picture")]
    return "\n".join(lines) + "\n"


def throughput(d: dict) -> str:
    """Training speed beside pythae, and the share of the machine's GEMM rate each model reaches."""
    d = _latest_machine(d)
    ours = [r for r in d["rows"] if r["engine"] == "aelab" and not r.get("measure")]
    if not ours:
        return ""
    peer = {(r["model"], r["batch_size"], r.get("images", 60_000)): r for r in d["rows"] if r["engine"] != "aelab"}
    lines = ["## Training throughput beside pythae 0.1.2 (issue 26)", "",
             "One epoch of MNIST (60,000 images, or the first N of them and N/6 test images where the row says so) and the "
             "test set's evaluation, Adam 1e-3, the same threads for both. AE and VAE: pythae's default networks "
             "(784-512-16, ReLU) and aelab's models sized the same; VAE-GAN and VQ-VAE: aelab's own networks (their "
             "default convolutional ones) trained by pythae through its encoder/decoder/discriminator interfaces "
             "(bench/pythae_train.py), so both train the same architecture; the VQ-VAE without its PixelCNN prior "
             "stage (`--prior none`), as pythae's; ACAI and ALAE: aelab alone (pythae has neither). Command: the user's "
             "command in a fresh process, start to exit, best of --repeats; loop: the epoch with its evaluation inside the "
             "process. FLOPs counted by torch's flop counter on one step; GEMM: fp32 torch.mm of 2048 x 2048 "
             f"matrices in the same run ({d.get('gemm_gflops', '?')} GFLOP/s). Command:", "",
             "```bash", "pip install --no-deps pythae==0.1.2 imageio",
             "python bench/throughput.py --threads 1 --models ae,vae --precisions fp32,bf16 --repeats 2",
             "python bench/throughput.py --threads 1 --models ae,vae --batch-size 256 --repeats 1 --no-startup",
             "python bench/throughput.py --threads 1 --models vaegan,vqvae,acai,alae --images 6000 --repeats 2 --no-startup",
             "```", "", f"Machine: {_machines(d)}.", "",
             "| model | aelab precision | images | batch | aelab command s | pythae command s (fp32) | x | aelab loop s | "
             "pythae loop s | x | samples/s | MFLOP/sample | share of fp32 GEMM | batch-1 step ms | test metrics |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in ours:
        p = peer.get((r["model"], r["batch_size"], r.get("images", 60_000)))
        theirs = (f"{p['command_s']:.2f} | {r['vs_pythae_command']:.2f} | {r['loop_s']:.2f} | {p['loop_s']:.2f} | "
                  f"{r['vs_pythae_loop']:.2f}" if p and "vs_pythae_command" in r else f"– | – | {r['loop_s']:.2f} | – | –")
        test = ", ".join(f"{k} {v:.2f}" for k, v in r.get("test", {}).items())
        lines.append(f"| {r['model']} | {r.get('precision', 'fp32')} | {r.get('images', 60_000):,} | {r['batch_size']} | "
                     f"{r['command_s']:.2f} | {theirs} | "
                     f"{r['train_samples_per_s']:,.0f} | {r['flops_per_sample'] / 1e6:.2f} | {r['gemm_share']:.1%} | "
                     f"{r['step_overhead_ms_batch1']:.2f} | {test} |")
    for r in d["rows"]:
        if r.get("measure") == "start-up":
            lines += ["", f"Start-up: `aelab train vae` reaches its first step (its first metrics.jsonl row, --log-every "
                      f"1) {r['first_step_s']:.2f} s after it starts, where a bare `python -c \"import torch\"` takes "
                      f"{r['import_torch_s']:.2f} s: **{r['after_import_torch_s']:.2f} s** after it (medians of "
                      f"{r['repeats']} fresh processes each; the target is within 1 s)."]
    return "\n".join(lines) + "\n"


def profile_epoch(d: dict) -> str:
    """Where each model's training epoch spends its time (torch.profiler, grouped)."""
    d = _latest_machine(d)
    rows = d["rows"]
    if not rows:
        return ""
    groups = ["matrix products and convolutions", "other arithmetic", "optimiser step", "drawing the batch",
              "Python, autograd and the rest"]
    lines = ["## Where a training epoch's time goes (issue 26)", "",
             "torch.profiler over one epoch of MNIST at batch 100 (after a warm-up of 10 steps), each operator's own "
             "time grouped, as shares of the epoch's wall time; what no operator accounts for is Python (the "
             "trainer, the models' code) and autograd's bookkeeping. The MLP models are 784-512-16 (ReLU); the others "
             "their default networks, on fewer images. Command:", "", "```bash",
             "python bench/profile_epoch.py --threads 1", "```", "", f"Machine: {_machines(d)}.", "",
             "| model | images | epoch | " + " | ".join(groups) + " |", "|---|---:|---:|" + "---:|" * len(groups)]
    for r in rows:
        lines.append(f"| {r['model']} | {r['images']:,} | {r['epoch_s']:.2f} s | "
                     + " | ".join(f"{r['shares'].get(g, 0):.0%}" for g in groups) + " |")
    return "\n".join(lines) + "\n"


def compile_channels(d: dict) -> str:
    """torch.compile and channels-last against aelab's eager NCHW training step, per model family."""
    d = _latest_machine(d)
    rows = d["rows"]
    if not rows:
        return ""
    lines = ["## torch.compile and channels-last (issue 26)", "",
             "Median milliseconds of a training step in aelab's trainer at batch 100 on MNIST after a few warm-up steps: "
             "as it ships (eager, NCHW), with its networks in channels-last memory format (convolutional models), and "
             "with each network compiled by torch.compile (inductor); the first steps' seconds (compiling, "
             "for the compiled variant) apart. One fresh process per variant. Command:", "", "```bash",
             "python bench/compile_channels.py --threads 1", "```", "", f"Machine: {_machines(d)}.", "",
             "| model | variant | ms a step | x eager | first steps (s) |", "|---|---|---:|---:|---:|"]
    for r in rows:
        if "step_ms" in r:
            lines.append(f"| {r['model']} | {r['variant']} | {r['step_ms']:.2f} | {r['speedup']:.2f} | "
                         f"{r['first_steps_s']:.1f} |")
        else:
            lines.append(f"| {r['model']} | {r['variant']} | failed: {r['error']} | | |")
    lines += ["", "Both stay off: compiling made every model's step slower (and cannot take ALAE's R1 penalty, a "
              "gradient inside the step), and channels-last moved the convolutional models' steps by less than the "
              "spread between repeated runs on this machine (the other core busy training)."]
    return "\n".join(lines) + "\n"


def stream_scale(d: dict) -> str:
    """Training on data larger than memory: in memory against read from disk, 1x to 100x MNIST."""
    d = _latest_machine(d)
    rows = d["rows"]
    if not rows:
        return ""
    lines = ["## Data larger than memory (issue 26)", "",
             "MNIST's 60,000 training images repeated S times (each copy shifted by up to 2 pixels) as one uint8 .npy "
             "file; each row a fresh process training the MLP VAE (784-512-16, ReLU, batch 100, Adam) on all of it, "
             "held in memory as float32 or read from disk batch by batch (`aelab train --stream`, automatic past half "
             "the machine's memory). Time: the whole process; samples/s after its first 20 steps; peak memory: the "
             f"process's peak resident set. The machine has {d.get('memory_gb', '?')} GiB of memory. A folder of PNG "
             "files (`--image-folder N`) is trained on three times: the first run decodes it once into the cache "
             "(data/folder_cache.py: its time and peak memory include the decoding), the second reads the decoded "
             "file, the third holds the folder in memory (every image decoded as it loads). Command:", "",
             "```bash", "python bench/stream_scale.py --threads 1 --steps 3000 --beyond-ram 30 --image-folder 60000",
             "```", "", f"Machine: {_machines(d)}.", "",
             "| data | rows | file | read | steps | time | samples/s | vs in memory (1x) | peak memory |",
             "|---|---:|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        ratio = f"{r['vs_in_memory_1x']:.2f}" if r.get("vs_in_memory_1x") is not None else "–"
        lines.append(f"| {r['data']} | {r['rows']:,} | {r['file_gb']:.2f} GB | {r['read']} | {r['steps']:,} | "
                     f"{r['command_s']:.1f} s | {r['samples_per_s']:,.0f} | {ratio} | {r['peak_rss_mb']:,.0f} MB |")
    return "\n".join(lines) + "\n"


def distributed_scaling(d: dict) -> str:
    """torchrun on one machine: samples/s and efficiency against one process of one thread."""
    d = _latest_machine(d)
    rows = d["rows"]
    if not rows:
        return ""
    lines = ["## Training on several processes (torchrun, issue 26)", "",
             "One epoch of the MLP VAE (784-512-16, ReLU) on MNIST at a global batch of "
             f"{rows[0]['batch_size']}, each configuration a fresh `aelab train` command; samples/s from the run's "
             "metrics.jsonl (start-up and evaluation left out). Efficiency: samples/s / (processes x threads x "
             "samples/s of one process with one thread). Multi-machine commands: docs/distributed.md. Command:", "",
             "```bash", "python bench/distributed_scaling.py --threads 2", "```", "", f"Machine: {_machines(d)}.", "",
             "| processes | threads each | samples/s | speed-up | efficiency | command |", "|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['processes']} | {r['threads_per_process']} | {r['samples_per_s']:,.0f} | "
                     f"{r['speedup_vs_1x1']:.2f} | {r['efficiency']:.2f} | {r['command_s']:.1f} s |")
    return "\n".join(lines) + "\n"


def serve_start(d: dict) -> str:
    rows = [r for r in d["rows"] if not r.get("quick")]
    if not rows:
        return ""
    lines = ["## The web page's start (`aelab serve`)", "",
             "Seconds from the command's start to its first answer of /api/runs, in a fresh process as a user runs "
             "it (Python start and imports included), over a folder of three runs, with and without an index "
             "(issue 28's goal: under 2 s). Command:", "", "```bash", "python bench/serve_start.py", "```", "",
             f"Machine: {_machines(d)}.", "", "| case | repeats | median | max |", "|---|---:|---:|---:|"]
    lines += [f"| {r['case']} | {r['repeats']} | {r['median_s']:.2f} s | {r['max_s']:.2f} s |" for r in rows]
    return "\n".join(lines) + "\n"


# each section: the results file it reads and the function that writes it; the function's name marks the section
# (the docs' family pages include it by that name)
SECTIONS = [("hinton2006.json", hinton2006), ("vae_mnist.json", vae_mnist), ("vaegan_mnist.json", vaegan_mnist),
            ("semantic_hashing.json", semantic_hashing), ("text_hashing.json", text_hashing),
            ("held_out_groups.json", held_out_groups), ("user_corpus.json", user_corpus),
            ("hashing_speed.json", hashing_speed), ("index_speed.json", index_speed),
            ("index_speed.json", index_speed_postgresql), ("denoise.json", denoise),
            ("restore_12mp.json", restore_12mp), ("vqvae.json", vqvae), ("interpolation_lines.json", interpolation_lines),
            ("representation.json", representation), ("alae.json", alae), ("serve_start.json", serve_start),
            ("throughput.json", throughput), ("profile_epoch.json", profile_epoch),
            ("compile_channels.json", compile_channels),
            ("stream_scale.json", stream_scale),
            ("distributed_scaling.json", distributed_scaling)]


def summary(d: dict) -> str:
    """The table of `aelab bench all`'s last run: each script, its paper, command, machine, wall time and status."""
    lines = ["## Every benchmark at a glance", "",
             f"`aelab bench all{' --quick' if d.get('quick') else ''}` ran each script below in turn "
             f"(started {d['started']}, {_minutes(d['wall_s'])} in all) and wrote this page from the results "
             "folder's files: a section below for each one it holds.", "",
             "| benchmark | paper | command | machine | wall time | status |", "|---|---|---|---|---:|---|"]
    for r in d["rows"]:
        wall = f"{r['wall_s']:.0f} s" if r["wall_s"] < 120 else _minutes(r["wall_s"])
        lines.append(f"| {r['name']} | {r['paper']} | `{r['command']}` | {r['machine']} | {wall} | "
                     f"{r['status']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    global RESULTS
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", type=Path, default=RESULTS, help="the results folder to read (default bench/results)")
    p.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = p.parse_args(argv)
    RESULTS = args.results
    parts = ["# Benchmarks", "",
             f"Generated by `python bench/benchmarks_md.py` from `{RESULTS.resolve().relative_to(ROOT)}/*.json`.", ""]
    if (RESULTS / "bench_all.json").exists():
        parts.append(summary(json.loads((RESULTS / "bench_all.json").read_text())))
    for name, render in SECTIONS:
        path = RESULTS / name
        if path.exists():
            text = render(json.loads(path.read_text()))
            if text:  # marked for the docs' family pages, which include it (pymdownx.snippets; invisible here)
                tag = render.__name__
                parts.append(f"<!-- --8<-- [start:{tag}] -->\n{text}<!-- --8<-- [end:{tag}] -->\n")
    args.out.write_text("\n".join(parts))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
