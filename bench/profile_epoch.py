"""Where a training epoch's time goes, for each model family: torch.profiler over an epoch of MNIST, its operators
grouped into matrix products and convolutions (forward and backward), the optimiser's step, drawing the batch
(gather, binarise, noise), the rest of the arithmetic (element-wise operations, losses), and what no operator
accounts for (Python: the trainer, the models' code, autograd's bookkeeping).

The same networks as bench/throughput.py (the MLP models 784-512-16 ReLU; the others their defaults), batch 100,
IMAGES[model] (or --images) training images, one epoch without evaluation, after a warm-up epoch of 10 steps in the same process.

    python bench/profile_epoch.py --threads 2
    python bench/profile_epoch.py --quick           # 500 images, the VAE: a smoke run
"""

from __future__ import annotations

import argparse
import time

import torch

from common import DEFAULT_DATA_DIR, RESULTS, RUNS, machine, save_rows

import aelab
from aelab.train.callbacks import Callback, StopAt

OUT = RESULTS / "profile_epoch.json"
MLP = {"hidden": [512], "latent_dim": 16, "activation": "relu"}
PRIOR = {"vqvae": "none"}  # the VQ-VAE's own training, without its PixelCNN prior stage
MODELS = {"ae": MLP, "vae": MLP, "vaegan": MLP, "vqvae": {}, "acai": {}, "alae": {}}
# training images profiled: the conv models' epochs take minutes a thousand images on a CPU (their default networks)
IMAGES = {"ae": 10_000, "vae": 10_000, "vaegan": 2_000, "vqvae": 1_000, "acai": 1_000, "alae": 2_000}
PRODUCTS = ("mm", "addmm", "bmm", "baddbmm", "matmul", "linear", "convolution", "conv", "mkldnn")
DRAWS = ("index", "bernoulli", "uniform_", "normal_", "randperm", "lt", "randn", "rand")


def group(name: str) -> str:
    op = name.removeprefix("aten::")
    if any(op == p or op.startswith(p) or op.startswith(f"_{p}") for p in PRODUCTS):
        return "matrix products and convolutions"
    if "adam" in op or "sgd" in op:
        return "optimiser step"
    if op in DRAWS:
        return "drawing the batch"
    return "other arithmetic"


class Profiled(Callback):
    """torch.profiler from the trainer's start to the end of its epoch, and the epoch's wall seconds."""

    def __init__(self) -> None:
        from torch.profiler import ProfilerActivity, profile as torch_profile

        self.prof = torch_profile(activities=[ProfilerActivity.CPU])

    def on_start(self, trainer, resumed: bool) -> None:
        self.prof.start()
        self.t0 = time.perf_counter()

    def on_epoch_end(self, trainer) -> None:
        self.wall = time.perf_counter() - self.t0
        self.prof.stop()


def profile(model: str, x: torch.Tensor, out) -> dict:
    train = {"epochs": 1, "batch_size": 100, "lr": 1e-3, "log_every": 10**9, "checkpoint_every": 10**9}
    aelab.fit(model, x, test=None, out=out / "warm", config=MODELS[model], train=train, overwrite=True, progress=False,
              prior=PRIOR.get(model), callbacks={"model": [StopAt(10)]})
    timer = Profiled()
    aelab.fit(model, x, test=None, out=out / "epoch", config=MODELS[model], train=train, overwrite=True,
              progress=False, prior=PRIOR.get(model), callbacks={"model": [timer]})
    prof = timer.prof
    shares: dict[str, float] = {}
    for e in prof.key_averages():
        if e.key.startswith("aten::") and e.self_cpu_time_total > 0:
            shares[group(e.key)] = shares.get(group(e.key), 0.0) + e.self_cpu_time_total / 1e6
    ops = sum(shares.values())
    threads = torch.get_num_threads()
    # operator time is summed over the calling thread only (intra-op threads are not separate events), so it
    # compares with the epoch's wall time; Python and autograd's bookkeeping are what is left
    shares = {k: v / timer.wall for k, v in shares.items()}
    shares["Python, autograd and the rest"] = max(0.0, 1 - ops / timer.wall)
    return {"model": model, "epoch_s": round(timer.wall, 3), "images": len(x), "threads": threads,
            "shares": {k: round(v, 3) for k, v in sorted(shares.items(), key=lambda kv: -kv[1])}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--images", type=int, default=0, help="training images for every model (0: IMAGES's)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from aelab.data import load_dataset

    models = ["vae"] if args.quick else args.models.split(",")
    x = load_dataset("mnist", "train", args.data_dir).x
    rows = []
    for model in models:
        n = 500 if args.quick else args.images or IMAGES[model]
        rows.append(profile(model, x[:n], RUNS / "profile_epoch" / model))
        print(model, rows[-1]["epoch_s"], "s", rows[-1]["shares"], flush=True)
    save_rows(OUT if not args.quick else RESULTS / "profile_epoch_quick.json", rows,
              key=lambda r: (r["model"], r["images"], r["threads"]), benchmark="profile_epoch", batch_size=100)
    groups = sorted({g for r in rows for g in r["shares"]})
    print(f"\nWhere an epoch's time goes ({machine()}), batch 100")
    print(f"{'model':>8} {'images':>7} {'epoch s':>8} " + " ".join(f"{g[:18]:>18}" for g in groups))
    for r in rows:
        print(f"{r['model']:>8} {r['images']:>7} {r['epoch_s']:>8.2f} "
              + " ".join(f"{r['shares'].get(g, 0):>18.1%}" for g in groups))


if __name__ == "__main__":
    main()
