"""Science 2006 (Hinton & Salakhutdinov) on MNIST: deep autoencoders vs PCA and logistic PCA.

Trains on the 60k training images and scores the 10k test images with the paper's metric:
squared error summed over the 784 pixels (in [0,1]), averaged over images. Prints a table
beside the paper's numbers and writes bench/results/hinton2006.json (+ the Fig. 3 picture).

    python bench/hinton2006.py                       # everything (about an hour on 2 cores)
    python bench/hinton2006.py --only rbm,pca        # some rows
    python bench/hinton2006.py --quick               # a smoke run on 3000 images
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import RESULTS, RUNS, ROOT, machine, print_table, save_rows  # noqa: E402  (also puts src/ on the path)
from aelab.data import load_dataset  # noqa: E402
from aelab.eval.baselines import LogisticPCA, PCABaseline, squared_error_per_image  # noqa: E402
from aelab.eval.reconstruction import encode_all  # noqa: E402
from aelab.eval.suite import evaluate_suite  # noqa: E402
from aelab.runs import RunFolder  # noqa: E402
import aelab  # noqa: E402

PAPER = {"ae-rbm": 3.00, "logistic-pca": 8.01, "pca": 13.87}


def train_ae(name: str, args, train, test, latent_dim: int, pretrain: bool, activation: str, epochs: int,
             pretrain_epochs: int) -> dict:
    """One deep autoencoder row: (pre-training +) fine-tuning, timed, with its test curve."""
    out = args.runs / name
    t0 = time.time()
    # the preset's 784-1000-500-250 network; the RBMs with the paper's recipe (aelab.recipes.ae.PRETRAIN_TRAIN)
    run = aelab.fit("ae", train, out=out, preset="hinton2006", config={"latent_dim": latent_dim, "activation": activation},
                    train={"epochs": epochs, "batch_size": args.batch_size, "lr": args.lr, "schedule": "cosine",
                           "seed": args.seed, "log_every": 100},
                    pretrain="rbm" if pretrain else None,
                    pretrain_train={"epochs": pretrain_epochs, "batch_size": args.pretrain_batch_size, "log_every": 100},
                    data_dir=str(args.data_dir), test=test, overwrite=True, progress=not args.no_progress)
    model = run.model
    wall = time.time() - t0
    records = run.folder.metrics.records()
    curve = [(r["epoch"], r["sq_err"]) for r in records if r["split"] == "test"]
    pre_time = 0.0
    for stage in run.spec.before_main():
        pre_time += run.folder.stage(stage.name).metrics.seconds()
    finetune_s = run.folder.metrics.seconds()
    final = evaluate_suite(model, test.x)[0]
    start = wall - finetune_s  # seconds from the run's start to the start of fine-tuning
    return {"curve_elapsed_s": [start + r["time"] for r in records if r["split"] == "test"],"method": name, "test_sq_err": final["sq_err"], "test_bce": final["bce"],
            "train_sq_err": evaluate_suite(model, train.x)[0]["sq_err"], "wall_s": wall, "pretrain_s": pre_time,
            "finetune_s": finetune_s, "samples_per_s": len(train.x) * epochs / finetune_s, "epochs": epochs,
            "pretrain_epochs_per_layer": pretrain_epochs if pretrain else 0, "batch_size": args.batch_size,
            "lr": args.lr, "pretrain_batch_size": args.pretrain_batch_size if pretrain else None, "seed": args.seed,
            "architecture": "-".join(map(str, [784, *run.spec.main.model_config["hidden"], latent_dim])), "activation": activation,
            "curve": curve, "run": str(out), "model": model}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--runs", type=Path, default=RUNS / "hinton2006")
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--only", default="pca,logistic-pca,rbm,map2d,scratch",
                   help="rows, in order, from: pca, logistic-pca, rbm, map2d, scratch, scratch-elu")
    p.add_argument("--epochs", type=int, default=55, help="fine-tuning epochs")
    p.add_argument("--pretrain-epochs", type=int, default=10, help="CD-1 epochs per RBM layer")
    p.add_argument("--map-epochs", type=int, default=20)
    p.add_argument("--map-pretrain-epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=200)
    p.add_argument("--pretrain-batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="3000 training images, 2 epochs: a smoke run")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--annotate", action="store_true",
                   help="add the elapsed time of each test evaluation to stored rows whose run folder still exists")
    args = p.parse_args()
    if args.annotate:
        annotate(args.results / "hinton2006.json")
        return

    train = load_dataset("mnist", "train", args.data_dir)
    test = load_dataset("mnist", "test", args.data_dir)
    tag = "hinton2006"
    if args.quick:
        train.x, train.y = train.x[:3000], train.y[:3000]
        args.epochs = args.map_epochs = args.pretrain_epochs = args.map_pretrain_epochs = 2
        tag = "hinton2006-quick"
        args.runs = args.runs.with_name(args.runs.name + "-quick")
    args.results.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    x_tr, x_te = train.x.flatten(1).numpy(), test.x.flatten(1).numpy()

    ae_rows = {"rbm": ("ae-rbm", True, "sigmoid"), "scratch": ("ae-scratch", False, "sigmoid"),
               "scratch-elu": ("ae-scratch-elu", False, "elu")}
    for key in args.only.split(","):
        t0 = time.time()
        if key == "pca":
            pca = PCABaseline(30).fit(x_tr)
            rows.append({"method": "pca", "test_sq_err": squared_error_per_image(x_te, pca.reconstruct(x_te)),
                         "wall_s": time.time() - t0, "architecture": "30 components"})
        elif key == "logistic-pca":
            lpca = LogisticPCA(30, random_state=args.seed).fit(x_tr)
            rows.append({"method": "logistic-pca", "test_sq_err": squared_error_per_image(x_te, lpca.reconstruct(x_te)),
                         "wall_s": time.time() - t0, "architecture": "30 components"})
        elif key in ae_rows:
            name, pre, act = ae_rows[key]
            row = train_ae(name, args, train, test, 30, pre, act, args.epochs, args.pretrain_epochs)
            row.pop("model")
            rows.append(row)
        elif key == "map2d":
            rows.append(fig3(args, tag, train, test, x_tr, x_te))
        else:
            raise SystemExit(f"unknown row {key!r}")
        _save(args, tag, rows)
    _save(args, tag, rows)
    print(f"\nScience 2006 on MNIST (test squared error per image; {machine()})")
    print_table(rows, [("method", "method", "<16"), ("arch", lambda r: r.get("architecture", ""), "<24"),
                       ("ours", "test_sq_err", ">7.2f"), ("paper", lambda r: PAPER.get(r["method"]) or "", ">7"),
                       ("wall s", "wall_s", ">8.0f"), ("samples/s", lambda r: r.get("samples_per_s", float("nan")), ">10.0f")])


def annotate(path: Path) -> None:
    """Fill `curve_elapsed_s` (as train_ae records it) for rows written before it was recorded."""
    d = json.loads(path.read_text())
    for r in d["rows"]:
        records = RunFolder(r.get("run", "")).metrics.records()
        if "curve" in r and "curve_elapsed_s" not in r and records:
            start = r["wall_s"] - r["finetune_s"]
            r["curve_elapsed_s"] = [start + x["time"] for x in records if x["split"] == "test"]
    path.write_text(json.dumps(d, indent=2) + "\n")


def fig3(args, tag: str, train, test, x_tr, x_te) -> dict:
    """Fig. 3: 2-D codes of the 784-1000-500-250-2 autoencoder beside the first two PCs."""
    from aelab.viz.plots import side_by_side_code_maps_png

    row = train_ae("ae-rbm-2d", args, train, test, 2, True, "sigmoid", args.map_epochs, args.map_pretrain_epochs)
    model = row.pop("model")
    codes = encode_all(model, test.x).numpy()
    pcs = PCABaseline(2).fit(x_tr).transform(x_te)
    png = side_by_side_code_maps_png([("PCA: first two components", pcs, test.y.numpy()),
                                      ("784-1000-500-250-2 autoencoder (RBM pre-trained)", codes, test.y.numpy())])
    (args.results / f"{tag}_fig3.png").write_bytes(png)
    row["figure"] = f"bench/results/{tag}_fig3.png"
    return row


def _key(row: dict) -> tuple:
    """Rows of one method with other training budgets are kept side by side."""
    return row["method"], row.get("epochs"), row.get("pretrain_epochs_per_layer")


def _save(args, tag: str, rows: list[dict]) -> None:
    """Write this invocation's rows, keeping earlier rows of other methods or budgets."""
    save_rows(args.results / f"{tag}.json", rows, _key, benchmark="hinton2006", paper=PAPER)


if __name__ == "__main__":
    main()
