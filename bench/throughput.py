"""Training throughput on MNIST: aelab against pythae 0.1.2, and each model's achieved FLOP/s against the GEMM rate.

For each model, one epoch of MNIST's 60,000 training images and an evaluation of the 10,000 test images, Adam at
1e-3, the given batch size, the same thread count for everyone (OMP_NUM_THREADS / torch threads):

- whole command: seconds of the command a user types, from the process's start to its exit (Python start,
  imports, data loading, the epoch, the evaluation, writing the run): `aelab train MODEL ...` against
  bench/pythae_train.py (pythae's TrainingPipeline, its README's way), in fresh processes, best of --repeats;
- loop: seconds of the epoch with its evaluation inside the process (aelab: from the trainer's start to its
  epoch's end; pythae: its on_epoch_begin to on_epoch_end), and training samples/s over the steps alone;
- FLOPs: a training step's floating-point operations per sample, counted by torch.utils.flop_counter on one step
  of the same model (matrix products and convolutions, forward and backward), and the achieved rate
  (FLOPs per sample x samples/s) as a share of the fp32 GEMM rate measured in this run (torch.mm of two
  2048 x 2048 matrices, best of 10);
- overhead: the median seconds of a step at batch 1 (what a step costs beyond its arithmetic).

pythae has an AE and a VAE with the default networks used here (784-512-latent, ReLU), and trains aelab's own
networks of the VAE-GAN and VQ-VAE through its encoder/decoder/discriminator interfaces (bench/pythae_train.py);
models it lacks (ACAI, ALAE) are measured alone. --images N times the first N training images (and N/6 test
images) for the slow convolutional models.

    python bench/throughput.py --threads 2 --models ae,vae --precisions fp32,bf16   # against pythae; bf16 beside
    python bench/throughput.py --threads 2                 # ae and vae against pythae, vaegan, vqvae, acai, alae
    python bench/throughput.py --threads 1 --models vaegan,vqvae,acai,alae --images 6000 --repeats 2 --no-startup
    python bench/throughput.py --quick                     # 2,000 images, one model: a smoke run
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from common import DEFAULT_DATA_DIR, RESULTS, ROOT, bench_parser, machine, save_rows

import aelab
from aelab.train.callbacks import Callback

OUT = RESULTS / "throughput.json"
# the architecture pythae's default networks have (784-512-latent, ReLU); aelab's models sized the same
SHARED = {"hidden": [512], "latent_dim": 16, "activation": "relu"}
MODELS = {
    "ae": {"config": SHARED, "pythae": "ae"},
    "vae": {"config": SHARED, "pythae": "vae"},
    "vaegan": {"config": SHARED, "pythae": "vaegan"},  # pythae trains aelab's own networks (bench/pythae_train.py)
    "vqvae": {"config": {}, "pythae": "vqvae", "prior": "none"},  # the VQ-VAE alone, as pythae's (no PixelCNN stage)
    "acai": {"config": {}, "pythae": None},
    "alae": {"config": {}, "pythae": None},
}


class Clock(Callback):
    """The epoch's seconds (start to the end of its evaluation) and the training steps' seconds after the first."""

    def __init__(self) -> None:
        self.t0 = self.first = self.last = self.end = 0.0
        self.steps = 0

    def on_start(self, trainer, resumed: bool) -> None:
        self.t0 = time.perf_counter()

    def on_step(self, trainer, terms) -> None:
        now = time.perf_counter()
        if self.steps == 0:
            self.first = now
        self.last, self.steps = now, self.steps + 1

    def on_epoch_end(self, trainer) -> None:
        self.end = time.perf_counter()


def counting_flops():
    """A dispatch mode adding up torch.utils.flop_counter's count of every operator it knows (products,
    convolutions, attention). FlopCounterMode itself hooks every module for its per-module table, and those hooks
    refuse a gradient taken inside the step (ALAE's R1 penalty: autograd.grad with create_graph)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class Counting(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            count = flop_registry.get(func._overloadpacket)
            if count is not None:
                self.total += count(*args, **kwargs, out_val=out)
            return out

    return Counting()


class FlopCount(Callback):
    """Counts the floating-point operations of the trainer's first training step (every update of it)."""

    def __init__(self) -> None:
        self.flops, self.batch = 0, 0

    def on_start(self, trainer, resumed: bool) -> None:
        step = trainer.train_batch

        def counted(batch):
            trainer.train_batch = step  # once
            with counting_flops() as counter:
                out = step(batch)
            self.flops, self.batch = counter.total, batch.x.shape[0]
            return out

        trainer.train_batch = counted


def gemm_rate(threads: int, size: int = 2048, repeats: int = 10) -> float:
    """fp32 FLOP/s of torch.mm on two size x size matrices, best of `repeats`."""
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best


def ours_in_process(model: str, config: dict, data, test, batch_size: int, lr: float, out: Path,
                    precision: str = "fp32", prior: str | None = None) -> dict:
    """The loop's seconds and samples/s, a step's FLOPs per sample, and the test metrics after the epoch."""
    clock, flops = Clock(), FlopCount()
    train = {"epochs": 1, "batch_size": batch_size, "lr": lr, "precision": precision}
    run = aelab.fit(model, data, test=test, out=out / "loop", preset="none", config=config, train=train,
                    prior=prior, progress=False, callbacks={"model": [clock]})
    aelab.fit(model, data[: 4 * batch_size], test=None, out=out / "flops", preset="none", config=config,
              train=train, prior=prior, progress=False, callbacks={"model": [flops]})
    steps_s = clock.last - clock.first
    return {"loop_s": clock.end - clock.t0, "steps_per_s": (clock.steps - 1) / steps_s if steps_s > 0 else None,
            "train_samples_per_s": (clock.steps - 1) * batch_size / steps_s if steps_s > 0 else None,
            "flops_per_sample": flops.flops / max(flops.batch, 1),
            "test": {k: round(v, 4) for k, v in run.metrics.items() if k in ("nelbo", "bce", "sq_err")}}


def step_overhead(model: str, config: dict, data, out: Path, steps: int = 200, prior: str | None = None) -> float:
    """The median seconds of a training step at batch 1."""
    times: list[float] = []

    class Steps(Callback):
        def on_step(self, trainer, terms) -> None:
            times.append(time.perf_counter())

    aelab.fit(model, data[:steps], test=None, out=out / "batch1", preset="none", config=config,
              train={"epochs": 1, "batch_size": 1}, prior=prior, progress=False, callbacks={"model": [Steps()]})
    gaps = torch.tensor(times).diff()[10:]  # past the first steps' warm-up
    return float(gaps.median())


def whole_command(argv: list[str], env: dict, repeats: int) -> tuple[float, str]:
    """Best wall seconds of a command in a fresh process, and its last line of output."""
    best, last = float("inf"), ""
    for _ in range(repeats):
        t = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t
        if done.returncode:
            raise SystemExit(f"{' '.join(argv[:4])} ... failed:\n{done.stderr[-2000:]}")
        best = min(best, wall)
        last = (done.stdout.strip().splitlines() or [""])[-1]
    return best, last


def startup(data_args: list[str], env: dict, out: Path, repeats: int) -> dict:
    """Seconds from starting `aelab train vae` to its first step (its first metrics.jsonl row, written right after
    the step with --log-every 1) and of a bare `python -c "import torch"`, each the median of `repeats` fresh
    processes run alternately."""
    import statistics

    first, bare = [], []
    from aelab.runs import RunFolder

    metrics = RunFolder(out).metrics.path
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch"], env=env, check=True)
        bare.append(time.perf_counter() - t)
        metrics.unlink(missing_ok=True)
        t = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "aelab", "train", "vae", *data_args, "--preset", "none",
                                 "--epochs", "1", "--batch-size", "100", "--log-every", "1", "--no-progress",
                                 "--no-report", "--overwrite", "--out", str(out)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        while not (metrics.exists() and metrics.stat().st_size) and proc.poll() is None:
            time.sleep(0.002)
        first.append(time.perf_counter() - t)
        proc.kill()
        _, err = proc.communicate()
        if not metrics.exists():
            raise SystemExit(f"aelab train ended before its first step: {err.decode()[-2000:]}")
    return {"import_torch_s": round(statistics.median(bare), 3), "first_step_s": round(statistics.median(first), 3),
            "after_import_torch_s": round(statistics.median(first) - statistics.median(bare), 3), "repeats": repeats}


def main() -> None:
    p = bench_parser(__doc__, epochs=1, batch_size=100, lr=1e-3)
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--repeats", type=int, default=3, help="fresh processes per whole command (best is kept)")
    p.add_argument("--quick", action="store_true", help="one model (vae), 2,000 training images, no pythae")
    p.add_argument("--no-startup", action="store_true", help="leave out the start-up measure")
    p.add_argument("--images", type=int, default=0, help="time the first N training images and N/6 test images "
                   "(0: all 60,000 and 10,000)")
    p.add_argument("--precisions", default="fp32", help="aelab's --precision values to time (pythae runs fp32): "
                   "bf16 shows what a CPU with bf16 arithmetic (AVX512-BF16, AMX) gives")
    args = p.parse_args()
    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    gemm = gemm_rate(threads)
    print(f"machine: {machine()}; fp32 GEMM {gemm / 1e9:.1f} GFLOP/s (2048^3 torch.mm, {threads} threads)", flush=True)
    from aelab.data import load_dataset

    train_set = load_dataset("mnist", "train", data_dir=args.data_dir)
    test_set = load_dataset("mnist", "test", data_dir=args.data_dir)
    x, x_test = train_set.x, test_set.x
    models = ["vae"] if args.quick else [m for m in args.models.split(",") if m]  # --models "": start-up alone
    if args.quick:
        x, x_test = x[:2000], x_test[:500]
    elif args.images:
        x, x_test = x[: args.images], x_test[: max(1, args.images // 6)]
    try:
        import pythae  # noqa: F401
        has_pythae = not args.quick
    except ImportError:
        has_pythae = False
        print("pythae is not installed (pip install pythae==0.1.2 imageio): aelab alone", flush=True)
    rows: list[dict] = []
    results = OUT.with_name("throughput_quick.json") if args.quick else OUT

    def save(rows: list[dict]) -> None:  # after each model too: a later model's failure keeps the earlier rows
        save_rows(results, rows, key=lambda r: (r["model"], r["engine"], r["batch_size"], r["threads"],
                                            r.get("measure", ""), r.get("precision", "fp32"), r.get("images", 60_000)),
                  benchmark="throughput", gemm_gflops=round(gemm / 1e9, 1))

    pythae_rows: dict[str, dict] = {}  # pythae's one fp32 row per model, timed once for every aelab precision
    with tempfile.TemporaryDirectory() as tmp:
        data_args = ["--data", "mnist"] + (["--data-dir", args.data_dir] if args.data_dir else [])
        if args.quick:  # the command reads the same few images, from a .npy file (its test split: a tenth of them)
            import numpy as np

            np.save(Path(tmp) / "few.npy", x.numpy())
            data_args = ["--data", str(Path(tmp) / "few.npy")]
        elif args.images:  # the same images; the command holds out a seeded share of the same size as its test split
            import numpy as np

            np.save(Path(tmp) / "some.npy", torch.cat([x, x_test]).numpy())
            data_args = ["--data", str(Path(tmp) / "some.npy"), "--val-fraction", f"{len(x_test) / (len(x) + len(x_test)):.6f}"]
        for name, precision in [(m, pr) for m in models for pr in args.precisions.split(",")]:
            spec = MODELS[name]
            out = Path(tmp) / f"{name}-{precision}"
            ours = ours_in_process(name, spec["config"], x, x_test, args.batch_size, args.lr, out, precision,
                                   spec.get("prior"))
            overhead = step_overhead(name, spec["config"], x, out, prior=spec.get("prior"))
            sets = [f"--set={k}={json.dumps(v)}" for k, v in spec["config"].items()]
            argv = [sys.executable, "-m", "aelab", "train", name, *data_args, "--preset", "none",
                    "--epochs", "1", "--batch-size", str(args.batch_size), "--lr", str(args.lr), *sets,
                    *(["--prior", spec["prior"]] if spec.get("prior") else []),
                    "--precision", precision, "--no-progress", "--no-report", "--overwrite", "--out",
                    str(out / "command")]
            command_s, _ = whole_command(argv, env, 1 if args.quick else args.repeats)
            achieved = ours["flops_per_sample"] * (ours["train_samples_per_s"] or 0)
            row = {"model": name, "engine": "aelab", "precision": precision, "batch_size": args.batch_size,
                   "threads": threads, "images": len(x), "command_s": round(command_s, 2),
                   "loop_s": round(ours["loop_s"], 2), "train_samples_per_s": round(ours["train_samples_per_s"] or 0, 1),
                   "flops_per_sample": int(ours["flops_per_sample"]), "achieved_gflops": round(achieved / 1e9, 2),
                   "gemm_share": round(achieved / gemm, 3), "step_overhead_ms_batch1": round(overhead * 1e3, 3),
                   "gemm_gflops": round(gemm / 1e9, 1), "config": spec["config"], "test": ours["test"]}
            rows.append(row)
            print(f"{name:7s} aelab {precision} command {command_s:6.2f} s  loop {ours['loop_s']:6.2f} s  "
                  f"{row['train_samples_per_s']:9.0f} samples/s  {row['flops_per_sample'] / 1e6:7.2f} MFLOP/sample  "
                  f"{row['gemm_share']:.1%} of GEMM  batch-1 step {row['step_overhead_ms_batch1']:.2f} ms  "
                  f"test {ours['test']}", flush=True)
            theirs = pythae_rows.get(name)
            if theirs is None and has_pythae and spec["pythae"]:
                script = [sys.executable, str(ROOT / "bench" / "pythae_train.py"), "--model", spec["pythae"],
                          "--data-dir", args.data_dir or "", "--batch-size", str(args.batch_size),
                          "--latent-dim", str(SHARED["latent_dim"]), "--lr", str(args.lr), "--out", str(out / "pythae"),
                          "--aelab-config", json.dumps(spec["config"]), "--images", str(args.images)]
                theirs_s, line = whole_command(script, env, args.repeats)
                epoch_s = json.loads(line)["epoch_s"]
                theirs = pythae_rows[name] = {"model": name, "engine": "pythae 0.1.2", "precision": "fp32",
                                              "batch_size": args.batch_size, "threads": threads, "images": len(x),
                                              "command_s": round(theirs_s, 2), "loop_s": round(epoch_s, 2)}
                rows.append(theirs)
                print(f"{name:7s} pythae command {theirs_s:6.2f} s  loop {epoch_s:6.2f} s", flush=True)
            if theirs is not None:
                row["vs_pythae_command"] = round(theirs["command_s"] / command_s, 2)
                row["vs_pythae_loop"] = round(theirs["loop_s"] / ours["loop_s"], 2)
                print(f"{name:7s} aelab {precision} against pythae fp32: {row['vs_pythae_command']:.2f}x (command), "
                      f"{row['vs_pythae_loop']:.2f}x (loop)", flush=True)
            save(rows)
        start = None if args.no_startup else startup(data_args, env, Path(tmp) / "startup", 3 if args.quick else 7)
    if start is not None:
        rows.append({"model": "vae", "engine": "aelab", "measure": "start-up", "batch_size": 100, "threads": threads,
                     **start})
        print(f"start-up: `python -c 'import torch'` {start['import_torch_s']:.2f} s; `aelab train vae` reaches its "
              f"first step at {start['first_step_s']:.2f} s, {start['after_import_torch_s']:.2f} s after it "
              f"(target: within 1 s)", flush=True)
    save(rows)
    print(f"wrote {results}")


if __name__ == "__main__":
    main()
