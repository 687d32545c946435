"""Does torch.compile or the channels-last memory format speed up aelab's training on this machine? Each model
family's training step timed in aelab's trainer as it ships (eager, NCHW), with its networks in channels-last
memory format (the convolutional models), and with each network wrapped by torch.compile (inductor; in torch 2.13
the in-place `nn.Module.compile` captured no graph), the first steps (compiling, for that variant) apart.

The same networks as bench/profile_epoch.py (MLP models 784-512-16 ReLU; the others their defaults), batch 100,
MNIST. Milliseconds a step are the median over STEPS[model]'s timed steps after its warm-up steps, whose seconds
are reported as first_steps_s. One process per variant, so that each starts cold.

    python bench/compile_channels.py --threads 1
    python bench/compile_channels.py --quick        # the AE, a few steps: a smoke run
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from common import DEFAULT_DATA_DIR, RESULTS, RUNS, machine, save_rows
from profile_epoch import MODELS, PRIOR

OUT = RESULTS / "compile_channels.json"
CONV = {"vaegan", "vqvae", "acai", "alae"}  # models with convolutional networks (vaegan: its default conv arch)
STEPS = {"ae": (20, 200), "vae": (20, 200), "vaegan": (5, 20), "vqvae": (3, 10), "acai": (3, 10), "alae": (3, 10)}


def one_variant(model: str, variant: str, warmup: int, steps: int, data_dir: str, out: Path) -> dict:
    """Train `warmup + steps` steps of `model` as `variant`; the seconds of each step."""
    import aelab
    from aelab.data import load_dataset
    from aelab.train.callbacks import Callback, StopAt

    class Timed(Callback):
        def __init__(self) -> None:
            self.times: list[float] = []

        def on_start(self, trainer, resumed: bool) -> None:
            if variant == "channels_last":
                trainer.model.to(memory_format=torch.channels_last)
            elif variant == "compile":  # each network wrapped (nn.Module.compile left this torch's modules eager)
                for name, net in list(trainer.model.named_children()):
                    setattr(trainer.model, name, torch.compile(net))
            self.t = time.perf_counter()

        def on_step(self, trainer, terms) -> None:
            now = time.perf_counter()
            self.times.append(now - self.t)
            self.t = now

    x = load_dataset("mnist", "train", data_dir).x[: 100 * (warmup + steps)]
    timer = Timed()
    train = {"epochs": 1, "batch_size": 100, "lr": 1e-3, "log_every": 10**9, "checkpoint_every": 10**9}
    aelab.fit(model, x, test=None, out=out, config=MODELS[model], train=train, overwrite=True, progress=False,
              prior=PRIOR.get(model), callbacks={"model": [timer, StopAt(warmup + steps)]})
    t = timer.times
    return {"step_s": statistics.median(t[warmup:]), "first_steps_s": sum(t[:warmup]), "steps": len(t) - warmup}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--one", help=argparse.SUPPRESS)  # MODEL:VARIANT, run in a child process
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.one:
        model, variant = args.one.split(":")
        warmup, steps = (2, 5) if args.quick else STEPS[model]
        print(json.dumps(one_variant(model, variant, warmup, steps, args.data_dir,
                                     RUNS / "compile_channels" / f"{model}-{variant}")))
        return
    models = ["ae"] if args.quick else args.models.split(",")
    rows = []
    for model in models:
        variants = ["eager"] + (["channels_last"] if model in CONV else []) + ["compile"]
        base = None
        for variant in variants:
            argv = [sys.executable, __file__, "--one", f"{model}:{variant}", "--threads", str(args.threads),
                    "--data-dir", str(args.data_dir)] + (["--quick"] if args.quick else [])
            done = subprocess.run(argv, capture_output=True, text=True)
            if done.returncode:
                tail = done.stderr.strip().splitlines()[-1:] or ["(no message)"]
                row = {"model": model, "variant": variant, "threads": args.threads, "error": tail[0][:300]}
            else:
                r = json.loads(done.stdout.strip().splitlines()[-1])
                base = r["step_s"] if variant == "eager" else base
                row = {"model": model, "variant": variant, "threads": args.threads, "step_ms": round(r["step_s"] * 1e3, 2),
                       "speedup": round(base / r["step_s"], 3) if base else None,
                       "first_steps_s": round(r["first_steps_s"], 2), "steps": r["steps"]}
            rows.append(row)
            print(json.dumps(row), flush=True)
    save_rows(RESULTS / "compile_channels_quick.json" if args.quick else OUT, rows,
              key=lambda r: (r["model"], r["variant"], r["threads"]), benchmark="compile_channels", batch_size=100,
              torch=torch.__version__)
    print(f"\ntorch.compile and channels-last against eager ({machine()}), batch 100: ms a step (x eager)")
    for r in rows:
        cell = f"{r['step_ms']:8.2f} ms ({r['speedup']:.2f}x)" if "step_ms" in r else f"failed: {r['error']}"
        print(f"{r['model']:>7} {r['variant']:>14} {cell}  first steps {r.get('first_steps_s', 0):.1f} s")


if __name__ == "__main__":
    main()
