"""pythae 0.1.2's side of bench/throughput.py: one epoch of a model on MNIST and its evaluation on the test set,
the way pythae's README trains (TrainingPipeline), timed as a whole process by the caller.

    python bench/pythae_train.py --model vae --data-dir ../shared/data --batch-size 100 --out /tmp/pythae

Prints one JSON line: the seconds of the epoch (pythae's on_epoch_begin to on_epoch_end: its training steps and
its evaluation), the steps taken and the samples seen. Needs `pip install pythae==0.1.2 imageio`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

import numpy as np
import torch


def idx_images(path: Path) -> np.ndarray:
    """An IDX image file (.gz) as float32 (n, 1, 28, 28) in [0, 1]."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    n, rows, cols = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
    return (np.frombuffer(raw, np.uint8, n * rows * cols, 16).reshape(n, 1, rows, cols) / 255.0).astype(np.float32)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=["ae", "vae"], required=True)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--latent-dim", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()

    from pythae.models import AE, VAE, AEConfig, VAEConfig
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback

    mnist = args.data_dir / "mnist"
    x_train = idx_images(mnist / "train-images-idx3-ubyte.gz")
    x_test = idx_images(mnist / "t10k-images-idx3-ubyte.gz")
    if args.model == "vae":  # pythae's default networks: 784-512-latent (ReLU), sigmoid output
        model = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=args.latent_dim, reconstruction_loss="bce"))
    else:
        model = AE(AEConfig(input_dim=(1, 28, 28), latent_dim=args.latent_dim))

    class Clock(TrainingCallback):
        def on_epoch_begin(self, training_config, **kwargs):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, training_config, **kwargs):
            self.seconds = time.perf_counter() - self.t0

    clock = Clock()
    config = BaseTrainerConfig(output_dir=str(args.out), num_epochs=1, learning_rate=args.lr,
                               per_device_train_batch_size=args.batch_size,
                               per_device_eval_batch_size=args.batch_size, optimizer_cls="Adam",
                               steps_saving=None, no_cuda=True)
    TrainingPipeline(training_config=config, model=model)(train_data=x_train, eval_data=x_test, callbacks=[clock])
    steps = -(-len(x_train) // args.batch_size)
    print(json.dumps({"epoch_s": clock.seconds, "steps": steps, "samples": len(x_train),
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
