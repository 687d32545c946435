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
from pathlib import Path

import numpy as np

from common import RESULTS, ROOT, bench_parser, chosen_models, finished_run, logged_seconds, preset_config, parse, save_rows
from aelab.data import load_dataset
from aelab.eval.representation import cluster_accuracy, linear_probe
from aelab.eval.suite import EvalOptions, evaluate_suite
from aelab.models import model_class
from aelab.train.run import load, read_spec, train_run
from aelab.train.stages import plan_run
from aelab.train.trainer import TrainConfig

# name: (registered model, preset, config overrides, train options). A new family joins with one line.
MODELS: dict[str, tuple[str, str | None, dict, dict]] = {
    # ELU units (as bench/denoise.py): the paper's logistic units learn little in a few epochs without RBM pre-training
    "ae": ("ae", "hinton2006", {"hidden": (1000, 500), "code_dim": 32, "activation": "elu"}, {"lr": 1e-3}),
    "dae": ("ae", "hinton2006", {"hidden": (1000, 500), "code_dim": 32, "activation": "elu"},
            {"lr": 1e-3, "corrupt": "masking:0.25"}),
    "vae": ("vae", "iwae-mnist", {"latent_dim": 32}, {"lr": 1e-3}),
    "vaegan": ("vaegan", None, {"dis_hidden": 128}, {"lr": 3e-4, "batch_size": 64}),  # its defaults: conv 32-64, 32 latents
    "vqvae": ("vqvae", "mnist", {"hidden": 64, "prior_channels": 32, "prior_layers": 8, "prior_kernel": 5},
              {"lr": 2e-4, "batch_size": 128}),
    "acai": ("acai", "mnist", {"loss": "bce"}, {"lr": 1e-3, "batch_size": 64}),
    "alae": ("alae", "mnist", {}, {"lr": 0.002, "batch_size": 128, "betas": (0.0, 0.99)}),  # codes: w
}
PRIOR = {"epochs": 1, "lr": 1e-3, "batch_size": 128}  # the VQ-VAE's prior: not scored here


def _train(name: str, args, train) -> tuple[object, float]:
    model, preset, overrides, options = MODELS[name]
    out = args.runs / f"{name}-e{args.epochs}-{hashlib.sha256(repr(MODELS[name]).encode()).hexdigest()[:8]}"
    cfg = preset_config(model, preset, **overrides)
    opts = {"batch_size": 100, **options}
    done = finished_run(out)
    if not done:
        resume = (out / "config.json").exists()
        spec = read_spec(out) if resume else plan_run(
            model, cfg, "mnist", args.data_dir, train=TrainConfig(epochs=args.epochs, seed=args.seed, **opts),
            prior_train=TrainConfig(**PRIOR, seed=args.seed) if model_class(model).default_prior else None)
        train_run(spec, out, train.x, train.y, None, resume=resume, overwrite=not resume,
                  progress=not args.no_progress)
    m = load(out)
    m.eval()
    return m, logged_seconds(out)


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
    p = bench_parser(__doc__, epochs=5, batch_size=0, lr=0.0)
    p.add_argument("--only", default=",".join(MODELS))
    p.add_argument("--runs", type=Path, default=ROOT / "bench" / "runs" / "representation")
    p.add_argument("--quick", action="store_true", help="a smoke run: 3,000 training images, 1 epoch")
    args = parse(p)
    names = chosen_models(p, args.only, MODELS)
    train = load_dataset("mnist", "train", args.data_dir)
    test = load_dataset("mnist", "test", args.data_dir)
    if args.quick:
        train.x, train.y, test.x, test.y, args.epochs = train.x[:3000], train.y[:3000], test.x[:1000], test.y[:1000], 1
        args.runs = args.runs.with_name(args.runs.name + "-quick")
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
