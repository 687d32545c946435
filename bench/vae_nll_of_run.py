"""The test NLL of a saved VAE run, as bench/vae_mnist.py estimates it: k importance samples (Burda et al. 2016,
Eq. 8) over the 10,000 MNIST test images binarised by the fixed draw (seed 0), sampling seed 2.

For a run whose bench process ended before its own evaluation (the 1300-epoch run of 2026-12-07 was killed by the
OS, out of memory, after training):

    python bench/vae_nll_of_run.py bench/runs/vae_mnist/vae-200-200-z50-b100-e1300-w0-v5000 --threads 2
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from common import DEFAULT_DATA_DIR

import aelab
from aelab.data import binarize, load_dataset
from aelab.eval.likelihood import iwae_nll


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--k", type=int, default=5000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = aelab.load(args.run).eval()
    x_test = binarize(load_dataset("mnist", "test", args.data_dir).x, seed=0)
    t = time.time()
    with torch.no_grad():
        nll = iwae_nll(model, x_test, k=args.k, seed=2)
    print(f"test NLL k={args.k}, {len(x_test):,} images: {nll.mean():.2f} ± {nll.std() / len(nll) ** 0.5:.2f} nats "
          f"({time.time() - t:.0f} s, peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")


if __name__ == "__main__":
    main()
