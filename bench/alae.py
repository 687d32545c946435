"""ALAE (Pidhorskyi et al. 2020) on MNIST beside the plain AE, the VAE and the VAE-GAN, all through one harness.

Every model trains on the 60,000 MNIST training images with its own MNIST recipe (below) and is scored by the
evaluation suite on the 10,000 test images: squared error of reconstructions, the sample-quality score (Fréchet
distance in aelab's MNIST-classifier features between 10,000 samples and the test images, NOT the Inception FID),
a linear probe on the codes (w for ALAE; trained on the first 10,000 training images' codes) and k-means cluster
accuracy. Training time is the trainer's own clock (kept across resumes). Writes bench/results/alae.json and, per
model, bench/results/alae_<name>.png: two rows of samples, 16 test images over their reconstructions, and four
interpolations of 16 steps between test images (decode((1 - a) enc(x1) + a enc(x2))).

    python bench/alae.py --threads 1                        # every model at its budget (about 2 hours of one core)
    python bench/alae.py --only alae --epochs 2 --quick     # a smoke run on 3,000 images

The MLP ALAE is the official configs/mnist_fc.yaml (latent 50, 6 mapping layers, E and G 1024-1024, lr 0.002,
Adam betas (0, 0.99), batch 128) at --epochs (the official run is 600 epochs). The StyleALAE is the scaled-down
one of the `mnist-style` preset with progressive growing compressed to one epoch per level (4, 8, 16, 32 pixels;
each new level faded in over half an epoch), STYLE_EPOCHS in all: a GPU's budget of the paper is out of reach.
"""

from __future__ import annotations

import hashlib
import time

import torch

from common import RESULTS, ROOT, machine, mnist_splits, parse_models, print_table, save_rows, train_once
import aelab
from aelab import recipes
from aelab.eval.interpolation import interpolate_pairs
from aelab.eval.reconstruction import reconstruct_all
from aelab.eval.sample_quality import load_classifier
from aelab.eval.suite import EvalOptions, evaluate_suite
from aelab.viz.images import png_bytes

STYLE_EPOCHS = 6
# name: (registered model, preset, config overrides, train options on top of the preset's recipe; without "epochs":
# --epochs). One line a family; every preset's recipe is in aelab.recipes.
MODELS: dict[str, tuple[str, str, dict, dict]] = {
    "alae": ("alae", "mnist", {}, {}),  # lr 0.002, batch 128, Adam betas (0, 0.99)
    # the same with a tanh output on G (not the official network): a clean background early
    "alae-tanh": ("alae", "mnist", {"output": "tanh"}, {}),
    "alae-style": ("alae", "mnist-style", {"grow_epochs": 1.0}, {"epochs": STYLE_EPOCHS}),
    # the same recipes as bench/representation.py (ELU AE, Burda's VAE at 32 latents) and bench/vaegan_mnist.py
    # the AE samples through a 10-component Gaussian mixture fitted to its codes (`aelab train ae --prior gmm`)
    "ae": ("ae", "mnist-elu", {}, {"prior": "gmm"}),
    "vae": ("vae", "iwae-mnist-32", {}, {}),
    "vaegan": ("vaegan", "mnist-16-32", {}, {}),  # 8 epochs, ~4 min an epoch
}


def _train(name: str, args, train) -> tuple[object, float, int]:
    """Train `name` (or finish a killed run); returns the model, the trainer's seconds and the epochs."""
    model, preset, overrides, options = MODELS[name]
    opts = {"epochs": args.epochs, "schedule": "constant", "seed": args.seed, **recipes.preset(model, preset)[1],
            **options}
    prior = opts.pop("prior", None)
    if args.quick:
        opts["epochs"] = min(opts["epochs"], args.epochs)
    recipe = repr((model, preset, overrides, {k: v for k, v in opts.items() if k != "epochs"}, prior, len(train.x)))
    out = args.runs / f"{name}-{hashlib.sha256(recipe.encode()).hexdigest()[:8]}"  # one run a recipe, any epochs
    progress = not args.no_progress
    run = train_once(out, train, progress, model=model, preset=preset, config=overrides, train=recipes.TrainConfig(**opts),
                     prior=prior, data_dir=args.data_dir)
    trained = run.read_spec().main.train.epochs
    if trained > opts["epochs"]:
        raise SystemExit(f"{out} is trained to {trained} epochs, past the {opts['epochs']} asked for")
    if trained < opts["epochs"]:  # a longer budget extends the run in place (a constant rate: no schedule restarts)
        aelab.fit(data=train, out=out, resume=True, epochs=opts["epochs"], overwrite=True, progress=progress)
    return aelab.load(out), run.seconds(), opts["epochs"]


def _picture(m, test_x: torch.Tensor, seed: int) -> bytes:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        samples = m.sample(32, generator=gen)
        recon = reconstruct_all(m, test_x[:16])
    idx = torch.randperm(len(test_x), generator=torch.Generator().manual_seed(seed + 7))[:8]
    strips = interpolate_pairs(m, test_x[idx[:4]], test_x[idx[4:]], steps=16).flatten(0, 1)
    grid = torch.cat([samples.reshape(-1, *test_x.shape[1:]), test_x[:16], recon.reshape(-1, *test_x.shape[1:]),
                      strips])
    return png_bytes(grid, nrow=16, scale=2)


def main() -> None:
    args, names = parse_models(__doc__, MODELS, 20, "alae", "a smoke run: 3,000 training and 1,000 test images")
    train, test = mnist_splits(args.data_dir, args.quick)
    tag = "alae"
    if args.quick:
        args.runs, tag = args.runs.with_name(args.runs.name + "-quick"), "alae_quick"
    load_classifier()  # the suite's sample score needs it: fail in one line before any training if it is missing
    rows = []
    for name in names:
        m, secs, epochs = _train(name, args, train)
        t0 = time.time()
        options = EvalOptions(sample_quality=True, sample_count=len(test.x), seed=args.seed, labels=test.y,
                              database=(train.x, train.y))
        metrics, _ = evaluate_suite(m, test.x, options)
        picture = RESULTS / (f"alae_{name}_quick.png" if args.quick else f"alae_{name}.png")
        picture.write_bytes(_picture(m, test.x, args.seed))
        model, preset, overrides, options_ = MODELS[name]
        row = {"model": name, "family": model, "preset": preset, "overrides": overrides, "epochs": epochs,
               "train_options": {**recipes.preset(model, preset)[1], **options_}, "sq_err": metrics.get("sq_err"),
               "sample_frechet": metrics.get("sample_frechet"), "sample_confidence": metrics.get("sample_confidence"),
               "probe_accuracy": metrics.get("probe_accuracy"), "cluster_accuracy": metrics.get("cluster_accuracy"),
               "code_dim": int(m.encode(test.x[:2]).flatten(1).shape[1]),
               "params": sum(t.numel() for t in m.parameters()), "train_s": secs, "eval_s": time.time() - t0,
               "picture": str(picture.relative_to(ROOT)), "seed": args.seed,
               "command": f"python bench/alae.py --only {name} --epochs {args.epochs}"}
        rows.append(row)
        print(f"{name:10s} sq_err {row['sq_err']:6.2f}  Fréchet {row['sample_frechet']:7.2f}  probe "
              f"{row['probe_accuracy']:.4f}  clusters {row['cluster_accuracy']:.4f}  train {secs / 60:5.1f} min",
              flush=True)
        save_rows(RESULTS / f"{tag}.json", rows, key=lambda r: (r["model"], r["epochs"]), benchmark="alae",
                  reference="Pidhorskyi et al. 2020 (MNIST: Table 5, MLP ALAE; Fréchet here is not their FID)")
    print(f"\nALAE beside the AE, VAE and VAE-GAN on MNIST ({machine()})")
    print_table(rows, [("model", "model", "<10"), ("epochs", "epochs", ">6"), ("sq_err", "sq_err", ">7.2f"),
                       ("Fréchet", "sample_frechet", ">8.2f"), ("probe", "probe_accuracy", ">6.4f"),
                       ("k-means", "cluster_accuracy", ">7.4f"), ("min", lambda r: r["train_s"] / 60, ">6.1f")])


if __name__ == "__main__":
    main()
