"""VAE vs VAE-GAN (Larsen et al. 2016) on MNIST: samples, reconstructions and the sample-quality score.

Both models share the encoder and decoder (stride-2 conv 16-32, ReLU, 32 latents); the VAE uses a
Bernoulli pixel likelihood, the VAE-GAN a Gaussian on its discriminator's last conv features plus
the GAN loss (Algorithm 1). Scores: pixel squared error of test reconstructions, and the Fréchet
distance between the features of aelab's MNIST classifier on 10,000 samples and on the 10,000 test
images (NOT the Inception FID; its floor, real training images vs test, is in
bench/results/mnist_classifier.json). Writes bench/results/vaegan_mnist.json and, per model, a
picture: two rows of samples, then 16 test images above their reconstructions.

    python bench/vaegan_mnist.py                       # about 45 minutes on 2 CPU cores
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from common import RUNS, RESULTS, ROOT, bench_parser, machine, parse, print_table, save_rows
import aelab
from aelab import recipes
from aelab.data import load_dataset
from aelab.eval.reconstruction import reconstruct_all
from aelab.eval.suite import evaluate_suite
from aelab.eval.sample_quality import load_classifier, sample_quality
from aelab.viz.images import png_bytes

PRESET = "mnist-16-32"  # of both families: the VAE with the VAE-GAN's encoder and decoder (aelab.recipes)


def main() -> None:
    config, recipe = recipes.preset("vaegan", PRESET)
    p = bench_parser(__doc__, epochs=recipe["epochs"], batch_size=recipe["batch_size"], lr=recipe["lr"])
    p.add_argument("--gamma", type=float, default=1.0, help="VAE-GAN: weight of the feature reconstruction")
    p.add_argument("--beta", type=float, default=1.0, help="VAE-GAN: weight of the KL prior term")
    p.add_argument("--channels", default=",".join(map(str, config["channels"])),
                   help="conv channels of encoder, decoder and discriminator")
    p.add_argument("--latent-dim", type=int, default=config["latent_dim"])
    p.add_argument("--dis-hidden", type=int, default=config["dis_hidden"])
    p.add_argument("--only", default="vae,vaegan")
    p.add_argument("--runs", type=Path, default=RUNS / "vaegan_mnist")
    p.add_argument("--quick", action="store_true", help="2000 images, 1 epoch: a smoke run")
    args = parse(p)

    train = load_dataset("mnist", "train", args.data_dir)
    test = load_dataset("mnist", "test", args.data_dir)
    tag = "vaegan_mnist"
    if args.quick:
        train.x, test.x, args.epochs, tag = train.x[:2000], test.x[:1000], 1, tag + "-quick"
        args.runs = args.runs.with_name(args.runs.name + "-quick")
    clf = load_classifier()
    channels = [int(c) for c in args.channels.split(",")]
    shared = {"channels": channels, "latent_dim": args.latent_dim}  # the flags on top of the presets
    overrides = {"vae": shared, "vaegan": {**shared, "dis_channels": channels, "dis_hidden": args.dis_hidden,
                                           "gamma": args.gamma, "beta": args.beta}}
    rows = []
    for name in args.only.split(","):
        t0 = time.time()
        model = aelab.fit(name, train, out=args.runs / name, preset=PRESET, config=overrides[name],
                          train={"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                                 "seed": args.seed, "log_every": 100},
                          data_dir=args.data_dir, test=test.x[:2000], overwrite=True,
                          progress=not args.no_progress).model
        wall = time.time() - t0
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            samples = torch.cat([model.sample(1000, generator=gen) for _ in range(len(test.x) // 1000 or 1)])
        q = sample_quality(samples, test.x, clf)
        recon = evaluate_suite(model, test.x)[0]
        picture = RESULTS / f"{tag}_{name}_{args.epochs}ep_g{args.gamma:g}_b{args.beta:g}.png"
        grid = torch.cat([samples[:32], test.x[:16], reconstruct_all(model, test.x[:16])])
        picture.write_bytes(png_bytes(grid, nrow=16, scale=2))
        rows.append({"method": name, "sample_frechet": q["frechet"], "sample_confidence": q["confidence"],
                     "test_sq_err": recon["sq_err"], "epochs": args.epochs, "batch_size": args.batch_size,
                     "lr": args.lr, "gamma": args.gamma if name == "vaegan" else None,
                     "beta": args.beta if name == "vaegan" else 1.0, "train_wall_s": wall,
                     "params": sum(p.numel() for p in model.parameters()), "seed": args.seed,
                     "threads": torch.get_num_threads(),
                     "channels": channels, "picture": str(picture.relative_to(ROOT)),
                     "command": f"python bench/vaegan_mnist.py --only {name} --epochs {args.epochs} --gamma {args.gamma} --beta {args.beta} "
                                f"--channels {args.channels}"})
        print(f"{name}: Fréchet {q['frechet']:.2f}, confidence {q['confidence']:.3f}, "
              f"test sq_err {recon['sq_err']:.2f}, {wall / 60:.1f} min", flush=True)
    save_rows(RESULTS / f"{tag}.json", rows, key=lambda r: (r["method"], r["epochs"], r.get("gamma"), r.get("beta", 1.0)),
              benchmark="vaegan_mnist")
    print(f"\nVAE vs VAE-GAN on MNIST ({machine()}); Fréchet distance in aelab MNIST-classifier features, not FID")
    print_table(rows, [("model", "method", "<8"), ("Fréchet", "sample_frechet", ">8.2f"),
                       ("conf.", "sample_confidence", ">6.3f"), ("sq_err", "test_sq_err", ">7.2f"),
                       ("min", lambda r: r["train_wall_s"] / 60, ">5.1f")])


if __name__ == "__main__":
    main()
