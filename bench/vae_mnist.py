"""VAE log-likelihood on dynamically binarised MNIST (Burda et al. 2016's one-stochastic-layer VAE).

Encoder and decoder 200-200 tanh, 50 latents, Bernoulli decoder, trained on a fresh Bernoulli draw
of each batch; the test set is one fixed draw (seed 0). Reports the test NLL estimated with k=5000
importance samples beside the published 86.76 nats (IWAE paper, 3280 epochs) and pythae's 89.78,
the curve of NLL against epochs, active units and the sample-quality score. Writes
bench/results/vae_mnist.json and bench/results/vae_mnist_samples.png.

    python bench/vae_mnist.py                        # 150 epochs: ~40 min training + ~40 min for the k=5000 NLL (1 thread)
    python bench/vae_mnist.py --quick                 # a smoke run
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from common import RUNS, RESULTS, ROOT, bench_parser, machine, parse, save_rows
import aelab
from aelab.data import binarize, load_dataset
from aelab.eval.likelihood import iwae_nll
from aelab.eval.suite import EvalOptions, evaluate_suite
from aelab.eval.sample_quality import sample_quality
from aelab.train.callbacks import Callback
from aelab.viz.images import png_bytes

PUBLISHED = {"IWAE paper (Burda et al. 2016), VAE k=1, 3280 epochs": 86.76, "pythae (MLP 400, z=40, 500 epochs)": 89.78}
TARGET = 87.5


class Curve(Callback):
    """After each epoch's evaluation (-ELBO on the held-out draw the trainer scores): a point of the curve, with the
    importance-weighted NLL of the first `curve_images` of those images every `curve_every` epochs and at the last.
    Its points are saved with each checkpoint, so a resumed run keeps its curve."""

    key = "curve"

    def __init__(self, x_held: torch.Tensor, args, t0: float) -> None:
        self.x, self.args, self.t0, self.points = x_held, args, t0, []

    def state(self) -> tuple[dict, dict]:
        return {}, {"points": self.points}

    def load_state(self, tensors: dict, meta: dict) -> None:
        self.points = list(meta.get("points", []))
        self.t0 = time.time() - (self.points[-1]["wall_s"] if self.points else 0.0)

    def on_eval(self, trainer, metrics: dict) -> None:
        args, epoch = self.args, trainer.step // trainer.steps_per_epoch
        point = {"epoch": epoch, "nelbo": metrics["nelbo"], "wall_s": time.time() - self.t0}
        if epoch % args.curve_every == 0 or epoch == args.epochs:  # a multiple of --eval-every to be reached
            model = trainer.model.eval()
            with torch.no_grad():
                nll = iwae_nll(model, self.x[: args.curve_images], k=args.k, seed=1)
            model.train()
            point[f"nll_k{args.k}_first{args.curve_images}"] = float(nll.mean())
            print(f"epoch {epoch}: -ELBO {metrics['nelbo']:.2f}, NLL(k={args.k}, first {args.curve_images}) "
                  f"{nll.mean():.2f}  [{point['wall_s']:.0f} s]", flush=True)
        self.points.append(point)


def method_name(args) -> str:
    return f"vae-{'-'.join(map(str, args.hidden))}-z{args.latent}"


def main() -> None:
    p = bench_parser(__doc__, epochs=150, batch_size=100, lr=1e-3)
    p.add_argument("--hidden", type=lambda s: tuple(int(h) for h in s.split(",")), default=(200, 200),
                   help="hidden widths of the encoder (the decoder mirrors them), comma-separated")
    p.add_argument("--latent", type=int, default=50)
    p.add_argument("--kl-warmup", type=float, default=0.0, help="epochs over which the KL weight ramps from 0 to 1")
    p.add_argument("--validation", type=int, default=5000,
                   help="training images held out (a fixed draw of a seeded choice) to choose settings on; the curve "
                        "and the trainer's per-epoch -ELBO use them, never the test set; 0: train on all 60,000")
    p.add_argument("--k", type=int, default=5000, help="importance samples for the final NLLs")
    p.add_argument("--eval-every", type=int, default=1,
                   help="epochs between the trainer's held-out -ELBO evaluations and checkpoints (each costs a pass "
                        "over the held-out images and a write of the run)")
    p.add_argument("--curve-every", type=int, default=25, help="epochs between NLL points on the curve")
    p.add_argument("--curve-images", type=int, default=1000, help="held-out images per curve point (k=--k)")
    p.add_argument("--runs", type=Path, default=None, help="the run folder (default: bench/runs/vae_mnist/METHOD-...)")
    p.add_argument("--resume", action="store_true", help="continue the run in --runs from its last checkpoint")
    p.add_argument("--quick", action="store_true", help="3000 images, 2 epochs, k=50: a smoke run")
    args = parse(p)
    if args.curve_every % max(args.eval_every, 1):
        p.error("--curve-every must be a multiple of --eval-every (the curve reads the trainer's evaluations)")

    train = load_dataset("mnist", "train", args.data_dir)
    test = load_dataset("mnist", "test", args.data_dir)
    x_test = binarize(test.x, seed=0)
    x_train = train.x
    tag = "vae_mnist"
    if args.quick:
        x_train, x_test = x_train[:3000], x_test[:500]
        args.epochs, args.k, args.curve_every, args.curve_images = 2, 50, 1, 100
        args.validation = min(args.validation, 500)
        tag += "-quick"
    x_val = None
    if args.validation:
        order = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(12345))
        x_val = binarize(x_train[order[-args.validation:]], seed=1)
        x_train = x_train[order[: -args.validation]]
    held = x_test if x_val is None else x_val
    method = method_name(args)
    runs = args.runs or RUNS / tag / (f"{method}-b{args.batch_size}-e{args.epochs}-w{args.kl_warmup:g}"
                                      f"-v{args.validation}")

    steps_per_epoch = -(-len(x_train) // args.batch_size)
    every = args.eval_every * steps_per_epoch if args.eval_every > 1 else 0
    t0 = time.time()
    curve = Curve(held, args, t0)  # the trainer scores the held-out draw each epoch (-ELBO); the curve adds the NLL
    model = aelab.fit("vae", x_train, out=runs, preset="iwae-mnist",
                      config={"hidden": args.hidden, "latent_dim": args.latent, "kl_warmup": args.kl_warmup},
                      train={"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "schedule": "cosine",
                             "binarize": True, "seed": args.seed, "log_every": 200,
                             "eval_every": every, "checkpoint_every": every},
                      data_dir=args.data_dir, test=held, callbacks={"model": [curve]}, overwrite=not args.resume,
                      resume=args.resume, progress=not args.no_progress).model
    train_s = time.time() - t0
    # Curve points cost extra evaluation time; report training time without them too.
    t1 = time.time()
    nll = iwae_nll(model, x_test, k=args.k, seed=2, progress=not args.no_progress)  # per example, for its error bar
    nll_s = time.time() - t1
    val_nll = None if x_val is None else iwae_nll(model, x_val, k=args.k, seed=2)
    final, details = evaluate_suite(model, x_test, EvalOptions(seed=3))  # -ELBO terms, active units, KL per dim
    diag = {**final, **details, "latent_dim": len(details["kl_per_dim"])}
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        samples = torch.cat([model.sample(1000, generator=gen) for _ in range(10)])
    quality = sample_quality(samples, test.x)
    means = model.sample(64, generator=torch.Generator().manual_seed(1))
    samples_png = RESULTS / f"{tag}_samples.png"  # the last run's; each row names its own run folder
    samples_png.write_bytes(png_bytes(means, nrow=8, scale=2))

    row = {
        "method": method, "nll": float(nll.mean()), "nll_k": args.k,
        "nll_sem": float(nll.std() / len(nll) ** 0.5), "validation": args.validation, "kl_warmup": args.kl_warmup,
        "val_nll": None if val_nll is None else float(val_nll.mean()),
        "train_images": len(x_train), "nelbo": final["nelbo"], "kl": final["kl"],
        "active_units": diag["active_units"], "latent_dim": diag["latent_dim"],
        "kl_per_dim": diag["kl_per_dim"], "sample_frechet": quality["frechet"],
        "sample_confidence": quality["confidence"], "epochs": args.epochs, "batch_size": args.batch_size,
        "lr": args.lr, "schedule": "cosine", "train_wall_s": train_s, "nll_wall_s": nll_s,
        "threads": torch.get_num_threads(), "seed": args.seed, "curve": curve.points, "target": TARGET,
        "samples_png": f"bench/results/{tag}_samples.png", "run": str(runs.relative_to(ROOT)) if runs.is_relative_to(ROOT) else str(runs),
        "command": "python bench/vae_mnist.py " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in
                                                        [("epochs", args.epochs), ("batch_size", args.batch_size),
                                                         ("lr", f"{args.lr:g}"),
                                                         ("hidden", ",".join(map(str, args.hidden))),
                                                         ("latent", args.latent), ("kl_warmup", f"{args.kl_warmup:g}"),
                                                         ("validation", args.validation)]
                                                        + ([("eval_every", args.eval_every)] if args.eval_every > 1 else [])),
    }
    save_rows(RESULTS / f"{tag}.json", [row], key=lambda r: (r["method"], r["epochs"], r["batch_size"], r.get("kl_warmup", 0.0),
                                                       r.get("validation", 0)),
              benchmark="vae_mnist", published=PUBLISHED)
    print(f"\nVAE on dynamically binarised MNIST ({machine()}, {torch.get_num_threads()} threads)")
    print(f"  test NLL (k={args.k}, {len(x_test)} images): {row['nll']:.2f} ± {row['nll_sem']:.2f} nats   target <= {TARGET}")
    if val_nll is not None:
        print(f"  validation NLL (k={args.k}, {len(x_val)} held-out training images): {row['val_nll']:.2f}")
    for name, v in PUBLISHED.items():
        print(f"  published: {name}: {v}")
    print(f"  test -ELBO {final['nelbo']:.2f}, KL {final['kl']:.2f}, active units {diag['active_units']}/{diag['latent_dim']}")
    print(f"  {args.epochs} epochs in {train_s / 60:.1f} min (with curve evaluations); NLL estimate {nll_s / 60:.1f} min")
    print(f"  sample Fréchet distance (aelab MNIST classifier features, not Inception FID): {quality['frechet']:.2f}")
    print(json.dumps([{k: round(v, 2) if isinstance(v, float) else v for k, v in c.items()} for c in curve.points
                      if len(c) > 3]))


if __name__ == "__main__":
    main()
