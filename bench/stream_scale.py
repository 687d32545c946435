"""Training on data larger than memory: time, samples/s and peak memory at 1x, 10x and 100x MNIST, in memory and
read from disk batch by batch (`aelab train --stream`, data/stream.py).

The data: MNIST's 60,000 training images repeated S times, each copy shifted by up to 2 pixels, as one uint8 .npy
file (47 MB per 1x) written block by block. Each row of the table is a fresh process training the MLP VAE
(784-512-16, ReLU, batch 100, Adam 1e-3, no evaluation) on the whole file for one epoch, or for --steps steps: the
wall time of the process, the training samples/s after the first 20 steps, and the process's peak resident memory
(ru_maxrss). In memory is left out where the split as float32 would not fit in half of this machine's memory
(where aelab streams anyway). --beyond-ram GB adds a file of that size, larger than memory, evicted from the page
cache before it is timed (posix_fadvise), so that its batches come from the disk: --steps of it. --image-folder N
adds a folder of N of those images as PNG files (labelled subfolders), trained on with --stream three times: the
first run decodes the folder once into the cache (data/folder_cache.py; its time and peak memory are the
decoding's), the second reads the decoded file, and one in memory (every image decoded into memory) beside them.

    python bench/stream_scale.py --threads 2                          # 1x, 10x, 100x, one epoch each
    python bench/stream_scale.py --threads 2 --beyond-ram 32 --steps 3000
    python bench/stream_scale.py --threads 2 --scales 1 --image-folder 60000 --steps 3000
    python bench/stream_scale.py --quick                              # 1x, 300 steps: a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from common import DEFAULT_DATA_DIR, RESULTS, RUNS, machine, save_rows

OUT = RESULTS / "stream_scale.json"
MODEL = {"hidden": [512], "latent_dim": 16, "activation": "relu"}
BLOCK = 60_000  # rows written at a time


def make_file(path: Path, copies: int, data_dir: str | None, rows: int | None = None) -> Path:
    """MNIST's training images `copies` times (or `rows` rows), each copy shifted by up to 2 pixels, as uint8."""
    if path.exists():
        return path
    from aelab.data import load_dataset

    base = (load_dataset("mnist", "train", data_dir).x[:, 0].numpy() * 255).round().astype(np.uint8)
    n = rows or copies * len(base)
    tmp = path.with_suffix(".part.npy")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, 28, 28))
    g = np.random.default_rng(0)
    for a in range(0, n, BLOCK):
        b = min(n, a + BLOCK)
        dy, dx = g.integers(-2, 3, size=2)
        out[a:b] = np.roll(base[: b - a], (int(dy), int(dx)), axis=(1, 2))
    out.flush()
    del out
    os.replace(tmp, path)
    return path


def make_png_folder(folder: Path, n: int, data_dir: str | None) -> Path:
    """MNIST's first n training images (shifted copies past 60,000) as PNG files in a subfolder per digit."""
    if (folder / "complete").exists():
        return folder
    from PIL import Image

    from aelab.data import load_dataset

    train = load_dataset("mnist", "train", data_dir)
    base = (train.x[:, 0].numpy() * 255).round().astype(np.uint8)
    labels = train.y.numpy()
    for d in range(10):
        (folder / str(d)).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        j = i % len(base)
        shift = (i // len(base)) % 5 - 2
        Image.fromarray(np.roll(base[j], shift, axis=1)).save(folder / str(labels[j]) / f"{i:07d}.png")
    (folder / "complete").write_text("")
    return folder


def evict(path: Path) -> None:
    """Drop the file's pages from the OS's page cache, so that reads go to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def worker(path: str, stream: bool, steps: int, threads: int) -> None:
    """One training run in this process; prints its numbers as one JSON line."""
    import torch

    torch.set_num_threads(threads)
    import aelab
    from aelab.train.callbacks import Callback, StopAt

    class Clock(Callback):
        def __init__(self) -> None:
            self.n, self.t = 0, 0.0

        def on_step(self, trainer, terms) -> None:
            self.n += 1
            if self.n == 20:
                self.t = time.perf_counter()
            self.last = time.perf_counter()

    clock = Clock()
    callbacks = [clock] + ([StopAt(steps)] if steps else [])
    t0 = time.perf_counter()
    run = aelab.fit("vae", path, out=RUNS / "stream_scale" / "run", config=MODEL,
                    train={"epochs": 1, "batch_size": 100, "lr": 1e-3, "checkpoint_every": 10**9, "log_every": 1000},
                    data_options={"val_fraction": 0.0, "stream": stream}, test=None, overwrite=True, progress=False,
                    callbacks={"model": callbacks})
    from aelab.data.stream import is_streamed

    print(json.dumps({
        "streamed": is_streamed(run.train.x), "steps": clock.n,
        "samples_per_s": (clock.n - 20) * 100 / max(1e-9, clock.last - clock.t),
        "in_process_s": time.perf_counter() - t0,
        "peak_rss_mb": peak_rss_mb(),
    }))


def peak_rss_mb() -> float:
    """This process's peak resident memory since it started: VmHWM, of its own address space. Not ru_maxrss, which
    Linux carries over exec from the forked copy of the parent (the bench process, with MNIST loaded, would set
    every worker's peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(path: Path, stream: bool, steps: int, threads: int) -> dict:
    t = time.perf_counter()
    env = {**os.environ, "AELAB_CACHE": str(path.parent / "cache")}  # a folder's decoded file beside the data
    out = subprocess.run([sys.executable, __file__, "--worker", str(path), "--stream" if stream else "--memory",
                          "--steps", str(steps), "--threads", str(threads)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"worker failed on {path.name}: {out.stderr[-2000:]}")
    row = json.loads(out.stdout.strip().splitlines()[-1])
    return {**row, "command_s": round(time.perf_counter() - t, 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    p.add_argument("--scales", default="1,10,100", help="copies of MNIST's 60,000 training images")
    p.add_argument("--steps", type=int, default=0, help="steps per run (0: one epoch)")
    p.add_argument("--beyond-ram", type=float, default=0.0, metavar="GB", help="also a file this large, streamed")
    p.add_argument("--image-folder", type=int, default=0, metavar="N",
                   help="also a folder of N MNIST images as PNG files, decoded once and streamed")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--folder", type=Path, default=RUNS / "stream_scale", help="where the generated files go")
    p.add_argument("--quick", action="store_true", help="1x, 300 steps: a smoke run")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--stream", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args.worker, args.stream, args.steps, args.threads)
    if args.quick:
        args.scales, args.steps, args.beyond_ram = "1", 300, 0.0
    args.folder.mkdir(parents=True, exist_ok=True)
    from aelab.data.dataset import physical_memory

    memory = physical_memory() or 0
    rows = []
    for scale in [int(s) for s in args.scales.split(",") if s.strip()]:
        path = make_file(args.folder / f"mnist_x{scale}.npy", scale, args.data_dir)
        fits = 4 * scale * 60_000 * 784 <= 0.5 * memory
        for stream in ([False, True] if fits else [True]):
            r = measure(path, stream, args.steps, args.threads)
            rows.append({"data": f"{scale}x MNIST", "rows": scale * 60_000, "file_gb": round(path.stat().st_size / 1e9, 2),
                         "read": "from disk (--stream)" if r["streamed"] else "in memory", **r})
            print(rows[-1], flush=True)
    if args.beyond_ram:
        n = int(args.beyond_ram * 1e9 // 784)
        path = make_file(args.folder / f"mnist_{args.beyond_ram:g}gb.npy", 0, args.data_dir, rows=n)
        evict(path)
        r = measure(path, True, args.steps or 3000, args.threads)
        rows.append({"data": f"{args.beyond_ram:g} GB (larger than memory)", "rows": n,
                     "file_gb": round(path.stat().st_size / 1e9, 2), "read": "from disk, page cache dropped", **r})
        print(rows[-1], flush=True)
    if args.image_folder:
        import shutil

        folder = make_png_folder(args.folder / f"mnist_png_{args.image_folder}", args.image_folder, args.data_dir)
        shutil.rmtree(args.folder / "cache", ignore_errors=True)  # the first run decodes
        files = sorted(folder.rglob("*.png"))
        size = sum(f.stat().st_size for f in files) / 1e9
        for read, stream in (("from disk (--stream), decoding the folder first", True),
                             ("from disk (--stream), decoded before", True), ("in memory (decoded as it loads)", False)):
            r = measure(folder, stream, args.steps, args.threads)
            rows.append({"data": f"folder of {args.image_folder:,} PNGs", "rows": args.image_folder,
                         "file_gb": round(size, 3), "read": read, **r})
            print(rows[-1], flush=True)
    base = next((b for b in rows if b["read"] == "in memory"), None)
    for r in rows:
        r["vs_in_memory_1x"] = round(r["samples_per_s"] / base["samples_per_s"], 3) if base else None
        r["steps_per_run"] = args.steps or "epoch"
    save_rows(OUT if not args.quick else RESULTS / "stream_scale_quick.json", rows,
              key=lambda r: (r["data"], r["read"], r["steps_per_run"]), benchmark="stream_scale",
              memory_gb=round(memory / 2**30, 1), threads=args.threads, model=MODEL)
    print(f"\nData larger than memory ({machine()}, memory {memory / 2**30:.1f} GiB, {args.threads} threads)")
    print(f"{'data':>32} {'read':>28} {'rows':>10} {'file GB':>8} {'time s':>8} {'samples/s':>10} {'peak MB':>8}")
    for r in rows:
        print(f"{r['data']:>32} {r['read']:>28} {r['rows']:>10} {r['file_gb']:>8} {r['command_s']:>8} "
              f"{r['samples_per_s']:>10.0f} {r['peak_rss_mb']:>8.0f}")


if __name__ == "__main__":
    main()
