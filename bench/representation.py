"""Representation quality of every model family on MNIST (Berthelot et al. 2019, Tables 2 and 3): a single linear
classifier on frozen codes, and k-means clustering accuracy with clusters matched to classes (Hungarian).

Each model trains on the 60,000 MNIST training images for the same number of epochs with its own MNIST preset (the
size the library ships for MNIST), then the suite's representation metric scores its codes: the probe trains on
the codes of the first 10,000 training images and is tested on the 10,000 test images' codes; k-means (100
initialisations on whitened codes) clusters the test codes. PCA on the same pixels is the baseline. Writes
bench/results/representation.json.

    python bench/representation.py --threads 2                # every model, 5 epochs each
    python bench/representation.py --only ae,acai --epochs 2
"""

from __future__ import annotations

import hashlib
import time

import numpy as np

from common import RESULTS, mnist_splits, parse_models, save_rows, train_once
import aelab
from aelab import recipes
from aelab.eval.representation import cluster_accuracy, linear_probe
from aelab.eval.suite import EvalOptions, evaluate_suite

# name: (registered model, preset, config overrides, train options on top of the preset's recipe). A new family joins
# with one line; every preset's recipe is in aelab.recipes.
MODELS: dict[str, tuple[str, str | None, dict, dict]] = {
    # ELU units (as bench/denoise.py): the paper's logistic units learn little in a few epochs without RBM pre-training
    "ae": ("ae", "mnist-elu", {}, {}),
    "dae": ("ae", "mnist-elu", {}, {"corrupt": "masking:0.25"}),
    "vae": ("vae", "iwae-mnist-32", {}, {}),
    "vaegan": ("vaegan", None, {"dis_hidden": 128}, {"lr": 3e-4, "batch_size": 64}),  # its defaults: conv 32-64, 32 latents
    "vqvae": ("vqvae", "mnist", recipes.vqvae.CPU, {"batch_size": 128}),
    "acai": ("acai", "mnist", {"loss": "bce"}, {"lr": 1e-3}),
    "alae": ("alae", "mnist", {}, {"schedule": "cosine"}),  # codes: w; the cosine schedule of every other row
}
PRIOR = {**recipes.vqvae.PRIOR_TRAIN, "epochs": 1}  # the VQ-VAE's prior: not scored here


def _train(name: str, args, train) -> tuple[object, float]:
    model, preset, overrides, options = MODELS[name]
    out = args.runs / f"{name}-e{args.epochs}-{hashlib.sha256(repr(MODELS[name]).encode()).hexdigest()[:8]}"
    opts = {"batch_size": 100, **(recipes.preset(model, preset)[1] if preset else {}), **options}
    run = train_once(out, train, not args.no_progress, model=model, preset=preset or "none", config=overrides,
                     train=recipes.TrainConfig(**{**opts, "epochs": args.epochs, "seed": args.seed}),
                     prior_train=PRIOR, data_dir=args.data_dir)
    return aelab.load(out), run.seconds()


def _pca_row(train, test, dims: int, n_probe: int, seed: int) -> dict:
    xtr, xte = train.x.flatten(1).numpy(), test.x.flatten(1).numpy()
    mean = xtr.mean(0)
    _, _, vt = np.linalg.svd(xtr[:20000] - mean, full_matrices=False)
    ztr, zte = (xtr[:n_probe] - mean) @ vt[:dims].T, (xte - mean) @ vt[:dims].T
    probe = linear_probe(ztr, train.y[:n_probe].numpy(), zte, test.y.numpy(), seed=seed)
    clusters = cluster_accuracy(zte, test.y.numpy(), seed=seed)
    return {"model": f"pca-{dims}", "probe_accuracy": probe["accuracy"], "cluster_accuracy": clusters["accuracy"],
            "cluster_nmi": clusters["nmi"], "code_dim": dims}


def main() -> None:
    args, names = parse_models(__doc__, MODELS, 5, "representation", "a smoke run: 3,000 training images, 1 epoch")
    train, test = mnist_splits(args.data_dir, args.quick)
    if args.quick:
        args.epochs, args.runs = 1, args.runs.with_name(args.runs.name + "-quick")
    rows = [_pca_row(train, test, 32, 10000, args.seed)]
    print(f"{'pca-32':8s} probe {rows[0]['probe_accuracy']:.4f}  clusters {rows[0]['cluster_accuracy']:.4f}", flush=True)
    for name in names:
        m, secs = _train(name, args, train)
        t0 = time.time()
        options = EvalOptions(labels=test.y, database=(train.x, train.y))
        metrics, details = evaluate_suite(m, test.x, options)
        code_dim = int(m.encode(test.x[:2]).flatten(1).shape[1])
        rows.append({"model": name, "family": MODELS[name][0], "preset": MODELS[name][1], "epochs": args.epochs,
                     "code_dim": code_dim, "probe_accuracy": metrics["probe_accuracy"],
                     "cluster_accuracy": metrics.get("cluster_accuracy"), "cluster_nmi": metrics.get("cluster_nmi"),
                     "sq_err": metrics.get("sq_err"), "probe_train": details["probe_train"], "train_s": secs,
                     "eval_s": time.time() - t0})
        print(f"{name:8s} probe {metrics['probe_accuracy']:.4f}  clusters {metrics.get('cluster_accuracy', float('nan')):.4f}"
              f"  ({code_dim} dims, train {secs:.0f} s)", flush=True)
    tag = "representation_quick" if args.quick else "representation"
    save_rows(RESULTS / f"{tag}.json", rows, key=lambda r: (r["model"], r.get("epochs")), benchmark="representation",
              reference="Berthelot et al. 2019, Tables 2 and 3 (values not retrieved)")
    print(f"wrote {RESULTS / tag}.json")


if __name__ == "__main__":
    main()
