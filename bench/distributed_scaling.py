"""Training on several processes of one machine (torchrun): samples/s on 1 and 2 processes and the scaling efficiency.

The MLP VAE (784-512-16, ReLU) on MNIST, one epoch at a global batch of --batch-size, each configuration a fresh
`aelab train` command: one process with 1 thread, one process with all --threads, and torchrun with --threads
processes of 1 thread each (OMP_NUM_THREADS=1). Samples/s come from the run's metrics.jsonl (the trainer's clock
between its first and last logged step), so start-up and the final evaluation are not in them; the command's wall
time is reported beside. Efficiency = samples/s on P processes / (P x samples/s of one process with 1 thread).

    python bench/distributed_scaling.py --threads 2
    python bench/distributed_scaling.py --quick            # 6,000 images: a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from common import DEFAULT_DATA_DIR, RESULTS, RUNS, machine, save_rows

OUT = RESULTS / "distributed_scaling.json"


def samples_per_s(run: Path, batch: int) -> float:
    """Training samples/s between the first and the last logged training step of the run's metrics.jsonl."""
    from aelab.runs import RunFolder

    train = [r for r in RunFolder(run).metrics.records() if r.get("split") == "train"]
    first, last = train[0], train[-1]
    return (last["step"] - first["step"]) * batch / (last["time"] - first["time"])


def launch(procs: int, threads: int, data: str, batch: int, out: Path, data_dir: str | None) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "GLOO_SOCKET_IFNAME": "lo"}
    args = ["train", "vae", "--data", data, "--set", "hidden=512", "--set", "latent_dim=16", "--set", "activation=relu",
            "--epochs", "1", "--batch-size", str(batch), "--lr", "1e-3", "--schedule", "constant", "--log-every", "20",
            "--out", str(out), "--overwrite", "--no-progress", "--no-report"]
    if data_dir:
        args += ["--data-dir", data_dir]
    head = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(procs)] \
        if procs > 1 else [sys.executable]
    t = time.perf_counter()
    done = subprocess.run([*head, "-m", "aelab", *args], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{procs} process(es) failed: {done.stderr[-2000:]}")
    return {"processes": procs, "threads_per_process": threads, "command_s": round(time.perf_counter() - t, 2),
            "samples_per_s": round(samples_per_s(out, batch), 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    p.add_argument("--threads", type=int, default=2, help="the machine's cores to use: processes of 1 thread")
    p.add_argument("--batch-size", type=int, default=200, help="the global batch")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    folder = RUNS / "distributed_scaling"
    folder.mkdir(parents=True, exist_ok=True)
    data = "mnist"
    if args.quick:  # the first 6,000 training images as a .npy file
        from aelab.data import load_dataset

        x = load_dataset("mnist", "train", args.data_dir).x[:6000, 0].numpy()
        data = str(folder / "mnist6000.npy")
        np.save(data, (x * 255).round().astype(np.uint8))
    configs = [(1, 1), (1, args.threads), (args.threads, 1)]
    rows = []
    for procs, threads in configs:
        r = launch(procs, threads, data, args.batch_size, folder / f"p{procs}t{threads}", args.data_dir)
        rows.append({**r, "batch_size": args.batch_size, "data": data if args.quick else "mnist (60,000)"})
        print(rows[-1], flush=True)
    base = rows[0]["samples_per_s"]
    for r in rows:
        r["speedup_vs_1x1"] = round(r["samples_per_s"] / base, 3)
        r["efficiency"] = round(r["samples_per_s"] / (base * r["processes"] * r["threads_per_process"]), 3)
    save_rows(OUT if not args.quick else RESULTS / "distributed_scaling_quick.json", rows,
              key=lambda r: (r["processes"], r["threads_per_process"], r["batch_size"], r["data"]),
              benchmark="distributed_scaling", model="vae 784-512-16 relu")
    print(f"\nSeveral processes on one machine ({machine()}), global batch {args.batch_size}")
    print(f"{'processes':>10} {'threads each':>13} {'samples/s':>10} {'speed-up':>9} {'efficiency':>11} {'command s':>10}")
    for r in rows:
        print(f"{r['processes']:>10} {r['threads_per_process']:>13} {r['samples_per_s']:>10.0f} "
              f"{r['speedup_vs_1x1']:>9.2f} {r['efficiency']:>11.2f} {r['command_s']:>10}")


if __name__ == "__main__":
    main()
