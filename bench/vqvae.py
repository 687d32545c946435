"""VQ-VAE with its gated PixelCNN prior against a VAE, in one harness: MNIST, and 32x32 RGB photo patches.

MNIST, dynamically binarised (a fresh Bernoulli draw of each batch; the test set one fixed draw), both models
trained for the same number of epochs: reconstruction error (squared, summed over the 784 pixels, of the
clean grey test images), the negative log-likelihood bound in bits/dim (VQ-VAE: -log p(x|z_q) - log p(z_q), the
paper's bound with a one-hot posterior; VAE: the importance-weighted bound with k samples), codebook usage and
perplexity, the sample-quality score (Fréchet distance in aelab's MNIST-classifier features) and a sample grid
of each, and wall time. Photos: 32x32 RGB patches of scikit-image's photographs (train and test from different
photos), VQ-VAE with a Gaussian decoder (sigma 0.1 on [0, 1] data): bits/dim of that continuous density.
Writes bench/results/vqvae.json and vqvae_samples.png.

    python bench/vqvae.py --threads 2            # MNIST and photos, the CPU recipe
    python bench/vqvae.py --recipe paper         # the paper-sized networks (a GPU's job)
    python bench/vqvae.py --parts mnist --epochs 10
    python bench/vqvae.py --quick                # a smoke run
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path

import torch

from common import RUNS, RESULTS, ROOT, bench_parser, parse, save_rows, train_once
import aelab
from aelab import recipes
from aelab.api import plan
from aelab.data import binarize, load_dataset
from aelab.eval.likelihood import iwae_nll
from aelab.eval.sample_quality import sample_quality
from aelab.eval.suite import evaluate_suite
from aelab.viz.images import png_bytes

# The recipes ("cpu": the paper's networks at a CPU's size; "paper") and the PixelCNN's training: aelab.recipes.vqvae
RECIPES = recipes.vqvae.RECIPES


def _train(name: str, model: str, cfg: dict, epochs: int, lr: float, train_x, args, binarized: bool,
           prior: dict | None = None, data: str = "mnist") -> tuple[object, float]:
    out = args.runs / name
    train = recipes.TrainConfig(epochs=epochs, lr=lr, batch_size=args.batch_size, binarize=binarized, seed=args.seed)
    spec = plan(model, data, tuple(train_x.shape[1:]), preset="none", config=cfg, train=train, prior_train=prior,
                data_dir=args.data_dir if data == "mnist" else None)
    run = train_once(out, train_x, not args.no_progress, model=spec)  # a run killed in any stage resumes there
    return aelab.load(out), run.seconds()


def _samples(model, n: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return torch.cat([model.sample(min(500, n - i), generator=gen) for i in range(0, n, 500)])


def run_mnist(args) -> tuple[list[dict], list[torch.Tensor]]:
    train = load_dataset("mnist", "train", args.data_dir)
    test = load_dataset("mnist", "test", args.data_dir)
    x_bin = binarize(test.x, seed=0)
    if args.quick:
        train.x, test.x, x_bin = train.x[:3000], test.x[:500], x_bin[:500]
    rows, grids = [], []
    epochs = args.epochs
    vq_cfg = {**recipes.preset("vqvae", "mnist")[0], **args.overrides}
    vae_cfg = {**recipes.preset("vae", "iwae-mnist")[0], "input_shape": [1, 28, 28]}
    for name, model, cfg, lr, prior in (("vqvae", "vqvae", vq_cfg, 2e-4 * args.lr_scale, args.prior),
                                        ("vae", "vae", vae_cfg, 1e-3 * args.lr_scale, None)):
        tag = f"mnist-{name}-e{epochs}" + (f"-{args.tag}" if name == "vqvae" else "")
        m, secs = _train(tag, model, cfg, epochs, lr, train.x, args, True, prior)
        t0 = time.time()
        metrics, _ = evaluate_suite(m, x_bin)
        if name == "vae":
            nll = float(iwae_nll(m, x_bin[: args.nll_images], k=args.k, seed=1).mean())
            bpd, how = nll / (784 * math.log(2)), f"IWAE bound, k={args.k}, first {min(args.nll_images, len(x_bin))}"
        else:
            bpd, how = metrics["bits_per_dim"], "-log p(x|z_q) - log p(z_q)"
        with torch.no_grad():
            sq = float((m(test.x[:2000]) - test.x[:2000]).pow(2).flatten(1).sum(1).mean())
        samples = _samples(m, args.samples, seed=2)
        quality = sample_quality(samples, test.x)
        grids.append(samples[:32])
        rows.append({"data": "mnist", "model": name, "config": cfg if name == "vqvae" else "iwae-mnist",
                     "epochs": epochs, "prior_epochs": args.prior["epochs"] if name == "vqvae" else None,
                     "recipe": args.recipe, "sq_err": sq, "bits_per_dim": bpd,
                     "bits_per_dim_how": how, "codebook_usage": metrics.get("codebook_usage"),
                     "codebook_perplexity": metrics.get("codebook_perplexity"),
                     "sample_frechet": quality["frechet"], "sample_confidence": quality["confidence"],
                     "train_s": secs, "eval_s": time.time() - t0, "test_images": len(x_bin)})
        print(f"mnist {name:6s} sq_err {sq:7.2f}  bits/dim {bpd:.4f}  Fréchet {quality['frechet']:.2f}  "
              f"codebook {metrics.get('codebook_perplexity', float('nan')):.1f}  train {secs:.0f} s", flush=True)
    return rows, grids


def run_photos(args) -> list[dict]:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from denoise import photo_patches

    train_x, test_x, seen, unseen = photo_patches(32, args.patches, args.seed)
    epochs = args.epochs
    cfg = {**recipes.preset("vqvae", "cifar")[0], **args.overrides}
    m, secs = _train(f"photos-vqvae-e{epochs}-{args.tag}", "vqvae", cfg, epochs, 2e-4 * args.lr_scale, train_x, args, False,
                     args.prior, data="photos")
    metrics, _ = evaluate_suite(m, test_x)
    print(f"photos vqvae bits/dim {metrics['bits_per_dim']:.3f} (8-bit: {metrics['bits_per_dim'] + 8:.3f})  PSNR {metrics['psnr']:.2f}", flush=True)
    return [{"data": "photos", "model": "vqvae", "config": cfg, "epochs": epochs, "prior_epochs": args.prior["epochs"],
             "recipe": args.recipe, "bits_per_dim": metrics["bits_per_dim"],
             "bits_per_dim_how": "Gaussian p(x|z_q), sigma 0.1, - log p(z_q); a density on [0, 1]",
             # a density on [0, 1] read on 256 levels per channel (bins of 1/256): the 8-bit convention of the papers
             "bits_per_dim_8bit": metrics["bits_per_dim"] + 8.0, "psnr": metrics["psnr"],
             "ssim": metrics.get("ssim"), "codebook_usage": metrics["codebook_usage"],
             "codebook_perplexity": metrics["codebook_perplexity"], "train_s": secs, "test_images": len(test_x),
             "train_photos": seen, "test_photos": unseen}]


def main() -> None:
    p = bench_parser(__doc__, epochs=0, batch_size=128, lr=0.0)
    p.add_argument("--parts", default="mnist,photos")
    p.add_argument("--lr-scale", type=float, default=1.0, help="multiplies both models' learning rates")
    p.add_argument("--k", type=int, default=1000, help="importance samples for the VAE's bound")
    p.add_argument("--nll-images", type=int, default=2000, help="test images for the VAE's importance-weighted bound")
    p.add_argument("--samples", type=int, default=5000, help="samples for the Fréchet score")
    p.add_argument("--patches", type=int, default=20000)
    p.add_argument("--runs", type=Path, default=RUNS / "vqvae")
    p.add_argument("--recipe", choices=sorted(RECIPES), default="cpu")
    p.add_argument("--set", default="", help='VQ-VAE config overrides as JSON on top of the recipe\'s, e.g. \'{"hidden": 128}\'')
    p.add_argument("--prior-epochs", type=int, default=None, help="default: the recipe's")
    p.add_argument("--quick", action="store_true")
    args = parse(p)
    recipe = RECIPES[args.recipe]
    args.overrides = {**recipe["set"], **json.loads(args.set or "{}")}
    # a run folder per configuration, stable across processes, so a rerun reuses finished runs
    args.tag = hashlib.sha256(json.dumps(args.overrides, sort_keys=True).encode()).hexdigest()[:8]
    args.epochs = args.epochs or recipe["epochs"]
    args.prior = {"epochs": recipe["prior_epochs"], **recipes.vqvae.PRIOR_TRAIN}
    if args.quick:
        args.epochs, args.k, args.nll_images, args.samples, args.patches = args.epochs or 1, 20, 100, 200, 2000
        args.prior["epochs"] = 1
        args.runs = args.runs.parent / (args.runs.name + "-quick")
    if args.prior_epochs:
        args.prior["epochs"] = args.prior_epochs
    started = time.time()
    rows = []
    if "mnist" in args.parts:
        r, grids = run_mnist(args)
        rows += r
        tag = "vqvae_samples_quick.png" if args.quick else "vqvae_samples.png"
        (RESULTS / tag).write_bytes(png_bytes(torch.cat(grids), nrow=16, scale=2))  # VQ-VAE rows above the VAE's
    if "photos" in args.parts:
        rows += run_photos(args)
    out = RESULTS / ("vqvae_quick.json" if args.quick else "vqvae.json")
    save_rows(out, rows, key=lambda r: (r["data"], r["model"], r.get("recipe"), r["epochs"]), benchmark="vqvae", prior=args.prior,
              recipe=args.recipe,
              seconds=round(time.time() - started, 1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
