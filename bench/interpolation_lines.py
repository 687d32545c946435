"""The ACAI paper's lines benchmark (Berthelot et al. 2019, Table 1): interpolation quality of every model family
on 32x32 images of a line from the centre, all with the paper's conv family (depth 16, codes of 16 channels at 2x2;
ALAE with its own StyleALAE networks and a w of 64) and the same budget of training images (2^17 by default).

Each model trains on the fixed seeded lines training set, batch 64, Adam with a constant rate; at half the
budget and at the full budget it interpolates 16 steps between 256 seeded pairs of test lines (decode((1 - a)
z1 + a z2)), and the metrics of the paper's lib/eval.py score the decodings: Mean Distance (cosine distance to
the nearest of 10,000 true lines, x 10^-3) and Smoothness (largest normalised angle step minus 1/15). Lower is
better for both. The ranking at half the budget beside the full one shows whether the budget ranks stably, and
each model's per-pair difference from ACAI (same pairs) says whether a gap is more than the draw of pairs.
Writes bench/results/interpolation_lines.json, interpolation_lines_<model>.png (4 strips of the model's last
budget) and interpolation_lines.png (every model's strips, one above the other).

    python bench/interpolation_lines.py --threads 1            # every model, the default budget
    python bench/interpolation_lines.py --only ae,acai --quick  # a smoke run: 1,024 images
"""

from __future__ import annotations

import io
import json
import math
import time
from pathlib import Path

import torch
from PIL import Image

from common import RUNS, RESULTS, ROOT, bench_parser, chosen_models, named_data, parse, save_rows, train_once
import aelab
from aelab import recipes
from aelab.data import load_dataset
from aelab.eval.lines import interpolate_pairs, lines_interpolation
from aelab.eval.suite import evaluate_suite
from aelab.recipes import lines
from aelab.runs import RunFolder
from aelab.viz.images import png_bytes

# name: (registered model, preset, config overrides, train options on top of the benchmark's recipe,
# aelab.recipes.lines.BENCH_TRAIN). A new family joins with one line.
MODELS: dict[str, tuple[str, str, dict, dict]] = {
    "ae": ("ae", "lines", {}, {}),
    "acai": ("acai", "lines", {"loss": "bce"}, {}),
    "dae": ("ae", "lines", {}, {"corrupt": lines.DAE_CORRUPTION}),  # the paper's denoising baseline
    "vae": ("vae", "lines", {}, {}),
    "vaegan": ("vaegan", "lines", {}, {}),
    "vqvae": ("vqvae", "lines", {}, {}),
    # its own networks (a StyleALAE: AdaIN generator, statistics encoder), not the conv family; Adam betas (0, 0.99)
    "alae": ("alae", "lines", {}, {"betas": recipes.alae.RECIPE["betas"]}),
}


def _train(name: str, args, data, epochs: int) -> tuple[object, float]:
    """Train (or extend to) `epochs` epochs; returns the model and its training seconds by the trainer's clock."""
    model, preset, overrides, options = MODELS[name]
    out = args.runs / f"{name}-lr{args.lr:g}-n{args.train_size}-s{args.seed}"
    train = recipes.TrainConfig(**{**lines.BENCH_TRAIN, "epochs": epochs, "lr": args.lr, "batch_size": args.batch_size,
                                   "seed": args.seed, **options})
    progress = not args.no_progress
    run = train_once(out, data, progress, model=model, preset=preset, config=overrides, train=train,
                     prior_train=lines.BENCH_PRIOR_TRAIN)
    if run.read_spec().main.train.epochs < epochs:  # trained to half the budget: the rest (a constant rate)
        aelab.fit(data=data, out=out, resume=True, epochs=epochs, overwrite=True, progress=progress)
    return aelab.load(out), run.seconds()


def _per_pair(details: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Each pair's mean distance and its smoothness (undefined counts 0, as in the official mean)."""
    dist = torch.tensor(details["distances"], dtype=torch.float64).mean(1)
    return dist, torch.tensor(details["smoothness_scores"], dtype=torch.float64).nan_to_num(0.0)


def _standard_errors(details: dict) -> dict:
    """Standard errors over the pairs of both means."""
    dist, smooth = _per_pair(details)
    n = len(dist)
    out = {"mean_distance_se_e3": 1e3 * float(dist.std() / n**0.5), "smoothness_se": float(smooth.std() / n**0.5)}
    if float(torch.tensor(details["distances"], dtype=torch.float64).std()) < 1e-5:  # trained models: ~1e-3
        out["note"] = "collapsed: every code decodes to the same (near-blank) image"
    return out


def _rank(rows: list[dict], key: str) -> list[str]:
    return [r["model"] for r in sorted(rows, key=lambda r: (math.isnan(r[key]), r[key]))]


def main() -> None:
    p = bench_parser(__doc__, epochs=0, batch_size=lines.BENCH_TRAIN["batch_size"], lr=lines.BENCH_TRAIN["lr"])
    p.add_argument("--images", type=int, default=131072, help="training images seen by each model in all")
    p.add_argument("--train-size", type=int, default=16384, help="distinct training lines (a prefix of the set)")
    p.add_argument("--pairs", type=int, default=256, help="test pairs interpolated at each evaluation")
    p.add_argument("--only", default=",".join(MODELS))
    p.add_argument("--runs", type=Path, default=RUNS / "interpolation_lines")
    p.add_argument("--quick", action="store_true", help="a smoke run: 1,024 images, 2 models")
    args = parse(p)
    names = chosen_models(p, args.only, MODELS)
    if args.quick:
        args.images, args.train_size, args.pairs = 1024, 512, 32
        args.runs = args.runs.with_name(args.runs.name + "-quick")
    steps_per_epoch = args.train_size // args.batch_size
    epochs = max(2, round(args.images / (steps_per_epoch * args.batch_size)))
    if epochs % 2:
        epochs += 1
    train = named_data(load_dataset("lines", "train").x[: args.train_size], "lines")
    test_x = load_dataset("lines", "test").x
    print(f"budget: {epochs} epochs of {args.train_size} lines = {epochs * steps_per_epoch * args.batch_size} images "
          f"(half at {epochs // 2} epochs); lr {args.lr}, batch {args.batch_size}", flush=True)

    rows = []
    for name in names:
        run = RunFolder(args.runs / f"{name}-lr{args.lr:g}-n{args.train_size}-s{args.seed}")
        m = None
        for stage_epochs in (epochs // 2, epochs):
            if run.is_run() and run.read_spec().main.train.epochs > stage_epochs:
                print(f"{name}: trained past {stage_epochs} epochs already; its row stays as measured", flush=True)
                continue
            m, secs = _train(name, args, train, stage_epochs)  # the trainer's clock, all stages
            t0 = time.time()
            scores, details = lines_interpolation(m, test_x, pairs=args.pairs, steps=16, seed=args.seed)
            rec = evaluate_suite(m, test_x[:1000])[0]
            images = stage_epochs * steps_per_epoch * args.batch_size
            row = {"model": name, "family": MODELS[name][0], "images": images, "epochs": stage_epochs,
                   "mean_distance_e3": 1e3 * scores["mean_distance"], "smoothness": scores["smoothness"],
                   **_standard_errors(details),
                   "sq_err": rec.get("sq_err"), "train_s": secs, "eval_s": time.time() - t0, "lr": args.lr,
                   "batch_size": args.batch_size, "pairs": args.pairs, "train_size": args.train_size}
            rows.append(row)
            _save_pairs(args, f"{name}@{images}", details)
            print(f"{name:7s} {images:7d} images  mean distance {row['mean_distance_e3']:7.2f} e-3  "
                  f"smoothness {row['smoothness']:.3f}  sq_err {row['sq_err']:.2f}  ({secs:.0f} s)", flush=True)
        if m is None:  # every budget measured before: the strips of the model as it stands
            m = aelab.load(run.path)
        gen = torch.Generator().manual_seed(args.seed + 7)
        idx = torch.randperm(len(test_x), generator=gen)[:8]
        strips = interpolate_pairs(m, test_x[idx[:4]], test_x[idx[4:]], steps=16).flatten(0, 1)
        _strip_path(args, name).write_bytes(png_bytes(strips, nrow=16, scale=2))
        _save(args, rows)  # after each model: a long run keeps what it measured


def _tag(args) -> str:
    return "interpolation_lines_quick" if args.quick else "interpolation_lines"


def _strip_path(args, name: str) -> Path:
    return RESULTS / f"interpolation_lines_{name}{'_quick' if args.quick else ''}.png"


def _stack_pngs(paths: list[Path]) -> bytes:
    """The images at `paths` one above the other (same widths), as PNG bytes."""
    images = [Image.open(p).convert("L") for p in paths]
    out = Image.new("L", (max(i.width for i in images), sum(i.height for i in images)), 255)
    y = 0
    for i in images:
        out.paste(i, (0, y))
        y += i.height
    buf = io.BytesIO()
    out.save(buf, format="PNG")
    return buf.getvalue()


def _pairs_path(args) -> Path:
    return RESULTS / f"interpolation_lines_pairs{'_quick' if args.quick else ''}.json"


def _save_pairs(args, key: str, details: dict) -> None:
    """Each pair's scores (`_per_pair`) under `key`, for paired comparisons."""
    path = _pairs_path(args)
    old = json.loads(path.read_text()) if path.exists() else {}
    dist, smooth = _per_pair(details)
    old[key] = {"distance": [round(float(v), 9) for v in dist], "smoothness": [round(float(v), 9) for v in smooth]}
    path.write_text(json.dumps(old) + "\n")


def _paired(args, reference: str = "acai") -> dict:
    """Every model's per-pair difference from `reference` at each budget both were measured at: mean and standard
    error over the (same) test pairs, so that a gap smaller than either model's own spread can still be told."""
    path = _pairs_path(args)
    pairs = json.loads(path.read_text()) if path.exists() else {}
    out = {}
    for key, scores in pairs.items():
        model, images = key.rsplit("@", 1)
        ref = pairs.get(f"{reference}@{images}")
        if model == reference or ref is None or len(ref["distance"]) != len(scores["distance"]):
            continue
        entry = {}
        for metric, scale in (("distance", 1e3), ("smoothness", 1.0)):
            diff = scale * (torch.tensor(scores[metric], dtype=torch.float64) - torch.tensor(ref[metric], dtype=torch.float64))
            entry[metric] = [float(diff.mean()), float(diff.std() / len(diff) ** 0.5)]
        out[key] = entry
    return out


def _save(args, rows: list[dict]) -> None:
    tag = _tag(args)
    path = RESULTS / f"{tag}.json"
    key = lambda r: (r["model"], r["images"], r["lr"])  # noqa: E731
    fresh = {key(r) for r in rows}
    kept = [r for r in json.loads(path.read_text())["rows"] if key(r) not in fresh] if path.exists() else []
    every = kept + rows  # the ranking covers rows measured earlier too (a half budget is not measured twice)
    budgets = sorted({r["images"] for r in every})
    ranking = {f"{k}@{b}": _rank([r for r in every if r["images"] == b], k)
               for k in ("mean_distance_e3", "smoothness") for b in budgets}
    for k, v in ranking.items():
        print(f"ranking by {k}: {' < '.join(v)}")
    done = [m for m in dict.fromkeys(r["model"] for r in every) if _strip_path(args, m).exists()]
    (RESULTS / f"{tag}.png").write_bytes(_stack_pngs([_strip_path(args, m) for m in done]))
    save_rows(path, rows, key=key,
              benchmark="interpolation_lines", models=list(dict.fromkeys(r["model"] for r in every)), strip_order=done, ranking=ranking,
              paired_vs_acai=_paired(args),
              reference="Berthelot et al. 2019, Table 1 (trained on 2^24 images; values not retrieved)")
    print(f"wrote {RESULTS / tag}.json")


if __name__ == "__main__":
    main()
