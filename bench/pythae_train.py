"""pythae 0.1.2's side of bench/throughput.py: one epoch of a model on MNIST and its evaluation on the test set,
the way pythae's README trains (TrainingPipeline), timed as a whole process by the caller.

    python bench/pythae_train.py --model vae --data-dir ../shared/data --batch-size 100 --out /tmp/pythae

Prints one JSON line: the seconds of the epoch (pythae's on_epoch_begin to on_epoch_end: its training steps and
its evaluation), the steps taken and the samples seen. Needs `pip install pythae==0.1.2 imageio`.

AE and VAE use pythae's default networks (784-512-latent, ReLU). VAE-GAN and VQ-VAE use aelab's own networks for
the model's --aelab-config (JSON), wrapped in pythae's encoder/decoder/discriminator interfaces, so that the two
libraries train the same architecture by construction: what differs is each library's training loop and losses
(pythae's VAE-GAN: its coupled optimisers with the feature layer of the discriminator; its VQ-VAE: the codebook loss
with commitment 0.25 over 512 codes, as aelab's).
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


def with_aelab_networks(name: str, config: dict):
    """pythae's `name` model around the networks of aelab's model of that name and config."""
    from aelab.models.base import build_model
    from pythae.models import VAEGAN, VQVAE, VAEGANConfig, VQVAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseDiscriminator, BaseEncoder

    ours = build_model(name, config)

    class Encoder(BaseEncoder):
        def __init__(self) -> None:
            super().__init__()
            self.net = ours.encoder

        def forward(self, x):
            out = self.net(x)
            if name == "vqvae":
                return ModelOutput(embedding=out)
            mu, logvar = out.chunk(2, dim=-1)
            return ModelOutput(embedding=mu, log_covariance=logvar)

    class Decoder(BaseDecoder):
        def __init__(self) -> None:
            super().__init__()
            self.net = ours.decoder

        def forward(self, z):
            return ModelOutput(reconstruction=torch.sigmoid(self.net(z)).view(-1, *ours.input_shape))

    if name == "vqvae":
        cfg = VQVAEConfig(input_dim=tuple(ours.input_shape), latent_dim=ours.config.latent_dim,
                          num_embeddings=ours.config.num_codes, commitment_loss_factor=ours.config.beta)
        return VQVAE(cfg, encoder=Encoder(), decoder=Decoder())

    class Discriminator(BaseDiscriminator):
        """Layer 1: the features aelab's VAE-GAN matches (Dis_l); layer 2: the probability of being real."""

        def __init__(self) -> None:
            super().__init__()
            self.net, self.depth = ours.discriminator, 2

        def forward(self, x, output_layer_levels=None):
            features = self.net.features(x)
            out = ModelOutput(embedding=torch.sigmoid(self.net.logit(features)).unsqueeze(1))
            if output_layer_levels:
                out["embedding_layer_1"] = features
            return out

    cfg = VAEGANConfig(input_dim=tuple(ours.input_shape), latent_dim=ours.config.latent_dim, reconstruction_layer=1)
    return VAEGAN(cfg, encoder=Encoder(), decoder=Decoder(), discriminator=Discriminator())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=["ae", "vae", "vaegan", "vqvae"], required=True)
    p.add_argument("--aelab-config", default="{}", help="vaegan/vqvae: aelab's model config (JSON) whose networks "
                   "pythae trains")
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--latent-dim", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--images", type=int, default=0, help="the first N training and N/6 test images (0: all)")
    args = p.parse_args()

    from pythae.models import AE, VAE, AEConfig, VAEConfig
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback

    mnist = args.data_dir / "mnist"
    x_train = idx_images(mnist / "train-images-idx3-ubyte.gz")
    x_test = idx_images(mnist / "t10k-images-idx3-ubyte.gz")
    if args.images:
        x_train, x_test = x_train[: args.images], x_test[: max(1, args.images // 6)]
    if args.model == "vae":  # pythae's default networks: 784-512-latent (ReLU), sigmoid output
        model = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=args.latent_dim, reconstruction_loss="bce"))
    elif args.model == "ae":
        model = AE(AEConfig(input_dim=(1, 28, 28), latent_dim=args.latent_dim))
    else:
        model = with_aelab_networks(args.model, json.loads(args.aelab_config))

    class Clock(TrainingCallback):
        def on_epoch_begin(self, training_config, **kwargs):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, training_config, **kwargs):
            self.seconds = time.perf_counter() - self.t0

    clock = Clock()
    common = dict(output_dir=str(args.out), num_epochs=1, per_device_train_batch_size=args.batch_size,
                  per_device_eval_batch_size=args.batch_size, steps_saving=None, no_cuda=True)
    if args.model == "vaegan":  # three optimisers, each network its own (as aelab's Algorithm 1)
        from pythae.trainers import CoupledOptimizerAdversarialTrainerConfig

        config = CoupledOptimizerAdversarialTrainerConfig(**common, encoder_learning_rate=args.lr,
                                                          decoder_learning_rate=args.lr,
                                                          discriminator_learning_rate=args.lr)
    else:
        config = BaseTrainerConfig(**common, learning_rate=args.lr, optimizer_cls="Adam")
    TrainingPipeline(training_config=config, model=model)(train_data=x_train, eval_data=x_test, callbacks=[clock])
    steps = -(-len(x_train) // args.batch_size)
    print(json.dumps({"epoch_s": clock.seconds, "steps": steps, "samples": len(x_train),
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
