"""Denoising and inpainting: our denoising autoencoder against a median filter, PCA and biharmonic inpainting.

MNIST (test images corrupted once with a fixed seed, the model trained on the training images corrupted afresh
each batch, Vincent et al. 2008): masking 0.25 / 0.5, Gaussian sigma 0.3 / 0.5 (clipped to [0, 1]),
salt-and-pepper 0.2 and a 10x10 occlusion. For each: PSNR and SSIM (11x11 Gaussian window) against the clean
images of the corrupted input, a 3x3 median filter, PCA projection (the top components of the clean training
images; their number picked on held-out training images for each corruption), and our DAE (the occlusion also
as inpainting: known pixels kept, 1 and 3 passes, against scikit-image's biharmonic inpainting when installed).
Natural images: 32x32 RGB patches of scikit-image's bundled photographs (train on patches of some, test on
patches of the others). Features (Vincent et al.'s point): logistic-regression accuracy on the codes of a DAE
and of a plain AE of the same size. Writes bench/results/denoise.json and bench/results/denoise_examples.png.

    python bench/denoise.py --threads 1           # MNIST, photos and the linear probe (about 1.5 hours on 1 core)
    python bench/denoise.py --parts mnist --corruptions masking:0.5
    python bench/denoise.py --quick               # a smoke run
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from common import RUNS, RESULTS, ROOT, bench_parser, named_data, parse, save_rows
import aelab
from aelab.corruption import Corruption, SeededDraws, inpaint
from aelab.data import load_dataset
from aelab.eval.image_quality import psnr, ssim
from aelab.runs import RunFolder

CORRUPTIONS = ["masking:0.25", "masking:0.5", "gaussian:0.3", "gaussian:0.5", "saltpepper:0.2", "occlude:10"]
# The denoiser measured here: a deep autoencoder with a wide code (a denoiser needs room for detail, unlike
# the 30-unit code of the dimensionality-reduction paper), ELU units, cross-entropy to the clean image.
RECIPE = {"model": {"hidden": (1000, 500), "latent_dim": 128, "activation": "elu"}, "epochs": 20, "lr": 1e-3}
PHOTO_RECIPE = {"model": {"hidden": (1024,), "latent_dim": 512, "activation": "elu", "loss": "mse"},
                "epochs": 20, "lr": 1e-3}
PCA_COMPONENTS = (16, 32, 64, 128, 256)
TEST_SEED = 1234


def median3(x: torch.Tensor) -> torch.Tensor:
    """3x3 median filter per channel (reflecting edges), the classical salt-and-pepper remedy."""
    from scipy.ndimage import median_filter

    return torch.from_numpy(median_filter(x.numpy(), size=(1, 1, 3, 3), mode="reflect"))


class PCAProjection:
    """Projection onto the top principal components of clean training images (a linear denoiser)."""

    def __init__(self, clean: torch.Tensor, max_components: int) -> None:
        flat = clean.flatten(1).double()
        self.mean = flat.mean(0)
        _, _, v = torch.linalg.svd(flat - self.mean, full_matrices=False)
        self.v = v[:max_components]

    def __call__(self, x: torch.Tensor, k: int) -> torch.Tensor:
        flat = x.flatten(1).double() - self.mean
        out = (flat @ self.v[:k].T) @ self.v[:k] + self.mean
        return out.clamp(0, 1).float().view(x.shape)


def scores(restored: torch.Tensor, clean: torch.Tensor) -> dict:
    return {"psnr": float(psnr(restored, clean).mean()), "ssim": float(ssim(restored, clean).mean())}


def biharmonic(x: torch.Tensor, holes: torch.Tensor) -> torch.Tensor | None:
    try:
        from skimage.restoration import inpaint_biharmonic
    except ImportError:
        return None
    out = np.empty(x.shape, np.float32)
    xs, hs = x.numpy(), holes.numpy()
    for i in range(len(x)):
        out[i] = inpaint_biharmonic(xs[i], hs[i, 0], channel_axis=0)
    return torch.from_numpy(out).clamp(0, 1)


def train_model(name: str, corrupt: str, train_x, recipe: dict, args, data: str = "mnist") -> object:
    out = args.runs / name
    train = {"epochs": args.epochs or recipe["epochs"], "lr": args.lr or recipe["lr"], "batch_size": args.batch_size,
             "seed": args.seed, "corrupt": corrupt}
    done = RunFolder(out).all_finished()
    t0 = time.time()
    if not done:
        aelab.fit("ae", named_data(train_x, data), out=out, preset="none", config=recipe["model"], train=train,
                  data_dir=args.data_dir if data == "mnist" else None, overwrite=True, progress=not args.no_progress)
    return aelab.load(out), (time.time() - t0 if not done else float("nan"))


def reconstruct(model, x: torch.Tensor) -> torch.Tensor:
    from aelab.batching import map_batches

    with torch.no_grad():
        return map_batches(model, x, lambda b: model(b).reshape(b.shape), 1000, None)


def run_images(part: str, train_x, test_x, corruptions: list[str], recipe: dict, args) -> tuple[list[dict], dict]:
    """Rows for every corruption and method on one data set, and example images for the figure."""
    rows, examples = [], {}
    held = train_x[-2000:]  # for choosing PCA's components; the models train on everything else too
    pca = PCAProjection(train_x[:-2000], max(PCA_COMPONENTS))
    for spec in corruptions:
        corruption = Corruption(spec)
        c = corruption(test_x, SeededDraws(TEST_SEED, len(test_x)))
        ch = corruption(held, SeededDraws(TEST_SEED + 1, len(held))).x
        k = max(PCA_COMPONENTS, key=lambda k: float(psnr(pca(ch, k), held).mean()))
        base = {"data": part, "corruption": spec, "test_images": len(test_x)}
        rows.append({**base, "method": "corrupted input", **scores(c.x, test_x)})
        rows.append({**base, "method": "median 3x3", **scores(median3(c.x), test_x)})
        rows.append({**base, "method": f"PCA ({k} components)", **scores(pca(c.x, k), test_x)})
        model, secs = train_model(f"{part}-{spec.replace(':', '-')}", spec, train_x, recipe, args, part)
        out = reconstruct(model, c.x)
        rows.append({**base, "method": "DAE (ours)", "train_s": secs, **scores(out, test_x)})
        shown = [test_x[:8], c.x[:8], out[:8]]
        if c.holes is not None:
            for passes in (1, 3):
                filled = inpaint(lambda b: reconstruct(model, b), c.x, c.holes, passes)
                rows.append({**base, "method": f"DAE inpainting, {passes} pass{'es' if passes > 1 else ''} (ours)",
                             **scores(filled, test_x)})
            shown[-1] = filled[:8]
            n_bh = min(len(test_x), args.biharmonic_images)
            bh = biharmonic(c.x[:n_bh], c.holes[:n_bh])
            if bh is not None:
                rows.append({**base, "method": "biharmonic inpainting (scikit-image)", "test_images": n_bh,
                             **scores(bh, test_x[:n_bh])})
                ours = inpaint(lambda b: reconstruct(model, b), c.x[:n_bh], c.holes[:n_bh], 3)
                rows.append({**base, "method": "DAE inpainting, 3 passes (ours), same images", "test_images": n_bh,
                             **scores(ours, test_x[:n_bh])})
        examples[spec] = shown
        for r in rows[-6:]:
            if r["corruption"] == spec:
                print(f"{part:8s} {spec:16s} {r['method']:44s} PSNR {r['psnr']:6.2f}  SSIM {r['ssim']:.3f}", flush=True)
    return rows, examples


def photo_patches(patch: int, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, list[str], list[str]]:
    """Random 32x32 RGB patches from scikit-image's bundled photographs: train and test from different photos."""
    import skimage.data as sd

    # the photographs scikit-image ships (grey ones repeated to 3 channels; "cat" is chelsea again, left out)
    names = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "retina",
             "camera", "coins", "brick", "grass", "gravel", "moon", "clock"]
    photos = []
    for n in names:
        try:
            a = np.asarray(getattr(sd, n)(), np.float32)
        except Exception:  # a photo this scikit-image version lacks, or one it would download
            continue
        if a.ndim == 2:
            a = np.repeat(a[:, :, None], 3, axis=2)
        a = a[:, :, :3] / (255.0 if a.max() > 1 else 1.0)
        photos.append((n, a.transpose(2, 0, 1)))
    rng = np.random.default_rng(seed)
    test_names = [n for n, _ in photos[::4]]  # every fourth photo is only seen at test time

    def crops(selected, total):
        areas = np.array([a.shape[1] * a.shape[2] for _, a in selected], float)
        pick = rng.choice(len(selected), size=total, p=areas / areas.sum())
        out = np.empty((total, 3, patch, patch), np.float32)
        for i, j in enumerate(pick):
            a = selected[j][1]
            y, x = rng.integers(0, a.shape[1] - patch + 1), rng.integers(0, a.shape[2] - patch + 1)
            out[i] = a[:, y : y + patch, x : x + patch]
        return torch.from_numpy(out)

    train = [p for p in photos if p[0] not in test_names]
    test = [p for p in photos if p[0] in test_names]
    return crops(train, count), crops(test, max(1000, count // 10)), [n for n, _ in train], test_names


def linear_probe(train, test, args) -> list[dict]:
    """Logistic regression on the codes of a DAE and a plain AE of the same size (Vincent et al. 2008, Sec. 5)."""
    from aelab.eval.representation import linear_probe as probe

    rows = []
    n = min(len(train.x), args.probe_train)
    for name, corrupt in (("plain AE", ""), ("DAE masking 0.25", "masking:0.25"), ("DAE masking 0.5", "masking:0.5")):
        run = "mnist-" + (corrupt.replace(":", "-") if corrupt else "plain")
        model, secs = train_model(run, corrupt, train.x, RECIPE, args)
        with torch.no_grad():
            ztr = model.encode(train.x[:n]).numpy()
            zte = model.encode(test.x).numpy()
        acc = probe(ztr, train.y[:n].numpy(), zte, test.y.numpy())["accuracy"]
        rows.append({"data": "mnist", "corruption": corrupt or "none", "method": f"linear probe on {name} codes",
                     "code_dim": RECIPE["model"]["latent_dim"], "probe_train": n, "accuracy": acc})
        print(f"linear probe {name:18s} accuracy {acc:.4f}", flush=True)
    return rows


def figure(examples: dict, path: Path) -> None:
    """For each corruption, rows of clean / corrupted / restored digits, each row labelled on its left."""
    from PIL import Image, ImageDraw

    from aelab.viz.images import png_bytes

    rows, labels = [], []
    for spec, shown in examples.items():
        for name, t in zip(("clean", spec, "restored" if "occlude" not in spec else "inpainted"), shown):
            rows.append(t)
            labels.append(name)
    if not rows:
        return
    import io

    grid = Image.open(io.BytesIO(png_bytes(torch.cat(rows), nrow=8, scale=2)))
    margin = 130
    canvas = Image.new("RGB", (grid.width + margin, grid.height), "white")
    canvas.paste(grid.convert("RGB"), (margin, 0))
    draw = ImageDraw.Draw(canvas)
    step = grid.height / len(labels)
    for i, text in enumerate(labels):
        draw.text((6, int(i * step + step / 2 - 6)), text, fill="black")
    canvas.save(path)


def main() -> None:
    p = bench_parser(__doc__, epochs=0, batch_size=100, lr=0.0)
    p.add_argument("--parts", default="mnist,photos,probe")
    p.add_argument("--corruptions", default=",".join(CORRUPTIONS))
    p.add_argument("--test-images", type=int, default=10000)
    p.add_argument("--biharmonic-images", type=int, default=1000, help="biharmonic inpainting is slow: test on these")
    p.add_argument("--probe-train", type=int, default=10000, help="training codes for the logistic regression")
    p.add_argument("--patches", type=int, default=20000, help="32x32 training patches of the photos")
    p.add_argument("--runs", type=Path, default=RUNS / "denoise")
    p.add_argument("--quick", action="store_true", help="3000 images, 2 epochs, 500 test images")
    p.add_argument("--figure-only", action="store_true", help="redraw the example figure from the trained runs")
    args = parse(p)
    if args.figure_only:
        test = load_dataset("mnist", "test", args.data_dir)
        examples = {}
        for spec in [c for c in args.corruptions.split(",") if c]:
            model = aelab.load(args.runs / f"mnist-{spec.replace(':', '-')}")
            x = test.x[: args.test_images]
            c = Corruption(spec)(x, SeededDraws(TEST_SEED, len(x)))  # the benchmark's own draw of the test set
            bad, holes = c.x[:8], None if c.holes is None else c.holes[:8]
            out = reconstruct(model, bad) if holes is None else inpaint(lambda b: reconstruct(model, b), bad, holes, 3)
            examples[spec] = [x[:8], bad, out]
        figure(examples, RESULTS / "denoise_examples.png")
        print(f"wrote {RESULTS / 'denoise_examples.png'}")
        return
    if args.quick:
        args.epochs, args.test_images, args.patches, args.probe_train = args.epochs or 2, 500, 3000, 2000
        args.biharmonic_images = min(args.biharmonic_images, 50)
        args.runs = args.runs.parent / (args.runs.name + "-quick")
    started = time.time()
    parts = args.parts.split(",")
    corruptions = [c for c in args.corruptions.split(",") if c]
    rows, examples = [], {}
    if "mnist" in parts or "probe" in parts:
        train = load_dataset("mnist", "train", args.data_dir)
        test = load_dataset("mnist", "test", args.data_dir)
        if args.quick:
            train.x, train.y = train.x[:3000], train.y[:3000]
        test.x, test.y = test.x[: args.test_images], test.y[: args.test_images]
    if "mnist" in parts:
        r, examples = run_images("mnist", train.x, test.x, corruptions, RECIPE, args)
        rows += r
    if "photos" in parts:
        try:
            ptrain, ptest, seen, unseen = photo_patches(32, args.patches, args.seed)
        except ImportError:
            print("photos: skipped (pip install scikit-image for its bundled photographs)")
        else:
            print(f"photos: {len(ptrain)} training patches from {', '.join(seen)}; {len(ptest)} test patches from "
                  f"{', '.join(unseen)}", flush=True)
            r, _ = run_images("photos", ptrain, ptest, ["gaussian:0.1", "masking:0.25", "occlude:8"], PHOTO_RECIPE,
                              args)
            rows += r
    if "probe" in parts:
        rows += linear_probe(train, test, args)
    if examples:
        figure(examples, RESULTS / ("denoise_examples_quick.png" if args.quick else "denoise_examples.png"))
    out = RESULTS / ("denoise_quick.json" if args.quick else "denoise.json")
    save_rows(out, rows, key=lambda r: (r["data"], r["corruption"], r["method"]), benchmark="denoise",
              recipe=RECIPE, photo_recipe=PHOTO_RECIPE, seconds=round(time.time() - started, 1),
              quick=bool(args.quick))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
