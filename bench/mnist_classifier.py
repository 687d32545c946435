"""Train the small MNIST classifier whose features define aelab's sample-quality score.

Writes the weights the package ships (src/aelab/assets/mnist_classifier.safetensors) and a JSON
record beside them (checksum, test accuracy, settings), plus bench/results/mnist_classifier.json
with a real-vs-real reference for the Fréchet distance.

    python bench/mnist_classifier.py            # about 7 minutes on 2 CPU cores
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from common import RESULTS, ROOT, bench_parser, machine, parse, save_rows
from aelab.data import load_dataset
from aelab.eval.sample_quality import ASSET_WEIGHTS, MNISTClassifier, classifier_record, sample_quality
from aelab.train.checkpoint import tensors_to_bytes
from aelab.fsio import atomic_write_bytes, atomic_write_json


def accuracy(model: MNISTClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        pred = torch.cat([model(x[i : i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
    return float((pred == y).float().mean())


def main() -> None:
    p = bench_parser(__doc__, epochs=4, batch_size=128, lr=1e-3)
    p.add_argument("--out", default=str(ROOT / "src" / "aelab" / "assets" / ASSET_WEIGHTS))
    args = parse(p)

    train, test = load_dataset("mnist", "train", args.data_dir), load_dataset("mnist", "test", args.data_dir)
    torch.manual_seed(args.seed)
    model = MNISTClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps = args.epochs * ((len(train.x) + args.batch_size - 1) // args.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps)
    t0 = time.time()
    for epoch in range(args.epochs):
        g = torch.Generator().manual_seed(args.seed * 1000 + epoch)
        perm = torch.randperm(len(train.x), generator=g)
        model.train()
        for i in range(0, len(perm), args.batch_size):
            idx = perm[i : i + args.batch_size]
            loss = F.cross_entropy(model(train.x[idx]), train.y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        print(f"epoch {epoch + 1}: test accuracy {accuracy(model, test.x, test.y):.4f} ({time.time() - t0:.0f} s)")
    wall = time.time() - t0
    acc = accuracy(model, test.x, test.y)
    weights = tensors_to_bytes(model.state_dict())
    record = classifier_record(weights, test_accuracy=acc, train_accuracy=accuracy(model, train.x, train.y),
                               epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                               command="python bench/mnist_classifier.py", wall_s=wall, machine=machine(),
                               torch=torch.__version__)
    out = Path(args.out)
    atomic_write_bytes(out, weights)
    atomic_write_json(out.with_suffix(".json"), record)
    # The score's floor: real training images against the test set (same size as a sample set).
    ref = sample_quality(train.x[:10000], test.x, model)
    save_rows(RESULTS / "mnist_classifier.json", [{"method": "mnist-classifier", **record, "frechet_train10k_vs_test": ref["frechet"],
                                                   "confidence_train10k": ref["confidence"]}],
              key=lambda r: (r["method"],), benchmark="mnist_classifier")
    print(json.dumps({k: v for k, v in record.items() if k != "machine"}, indent=1))
    print(f"Fréchet distance, 10k training images vs the test set: {ref['frechet']:.3f} (the score's floor)")


if __name__ == "__main__":
    main()
