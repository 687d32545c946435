"""Speed and memory of restoring one large photograph on this machine's CPU (issue 25, point 5): `aelab denoise RUN
IN OUT` as a user runs it, on a 12-megapixel colour photo (4000 x 3000), beside the same command on 3 and 0.75
megapixels, so that the time per megapixel and the bounded memory show.

The photos: scikit-image's astronaut (512 x 512, colour) resized by Pillow (bicubic) to each size, plus Gaussian
noise of sigma 25/255 (seeded), clipped and saved as PNG. The model: DnCNN with its default architecture (depth 10,
width 48, the `photos` preset) trained for a few steps on 40x40 patches of the 0.75 MP photo; its speed does not
depend on what its weights learned, so the training budget is kept to what makes a run folder (bench/runs/
restore_12mp, reused when finished). Each command runs in a fresh process (the whole command: Python start, imports,
reading, restoring tile by tile past 2 megapixels, writing the PNG); its wall time and its peak resident memory
(ru_maxrss of that child alone) are recorded, `--repeats` times, the fastest kept. Writes
bench/results/restore_12mp.json.

    python bench/restore_12mp.py             # 0.75, 3 and 12 megapixels
    python bench/restore_12mp.py --quick     # 0.75 and 3 megapixels, one repeat
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import RUNS, RESULTS, ROOT, bench_parser, machine, parse, print_table, save_rows, train_once

SIZES = {"0.75 MP": (1000, 750), "3 MP": (2000, 1500), "12 MP": (4000, 3000)}  # (width, height)
SIGMA = 25 / 255
OUT = RESULTS / "restore_12mp.json"

# One child per command, so that ru_maxrss of RUSAGE_CHILDREN is that command's alone.
_MEASURE = """
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"rc": done.returncode, "seconds": seconds, "peak_rss_mib": peak, "stderr": done.stderr[-2000:]}))
"""


def noisy_photo(size: tuple[int, int], path: Path, seed: int = 0) -> None:
    """The astronaut at `size` (width, height), Gaussian noise sigma 25/255 added, as a PNG."""
    from PIL import Image
    from skimage import data

    clean = Image.fromarray(data.astronaut()).resize(size, Image.Resampling.BICUBIC)
    a = np.asarray(clean, np.float32) / 255
    a = a + SIGMA * np.random.default_rng(seed).standard_normal(a.shape).astype(np.float32)
    Image.fromarray((np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8)).save(path)


def measure(argv: list[str]) -> dict:
    done = subprocess.run([sys.executable, "-c", _MEASURE, *argv], capture_output=True, text=True, check=True)
    row = json.loads(done.stdout.strip().splitlines()[-1])
    if row["rc"] != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {row['stderr']}")
    return row


def main() -> None:
    p = bench_parser(__doc__, epochs=1, batch_size=0, lr=0.0)
    p.add_argument("--repeats", type=int, default=2, help="runs of each command; the fastest is kept")
    p.add_argument("--runs", type=Path, default=RUNS / "restore_12mp")
    p.add_argument("--quick", action="store_true", help="0.75 and 3 megapixels, one repeat")
    args = parse(p)
    sizes = dict(list(SIZES.items())[:2]) if args.quick else SIZES
    repeats = 1 if args.quick else args.repeats
    t_all = time.time()
    with tempfile.TemporaryDirectory(prefix="restore_12mp_") as tmp:
        folder = Path(tmp)
        (folder / "train").mkdir()
        for name, size in sizes.items():
            noisy_photo(size, folder / f"{name.split()[0]}.png")
        noisy_photo(SIZES["0.75 MP"], folder / "train" / "photo.png", seed=1)
        run = args.runs / "dncnn"
        train_once(run, f"patches:{folder / 'train'}", progress=False, model="dncnn", preset="photos",
                   train={"epochs": args.epochs, "batch_size": 16}, data_options={"patch": 40, "patch_count": 64})
        rows = []
        for name, (w, h) in sizes.items():
            src, dst = folder / f"{name.split()[0]}.png", folder / f"out-{name.split()[0]}.png"
            best = None
            for _ in range(repeats):
                dst.unlink(missing_ok=True)
                got = measure([sys.executable, "-m", "aelab", "denoise", str(run), str(src), str(dst),
                               "--no-progress"])
                best = got if best is None or got["seconds"] < best["seconds"] else best
            mp = w * h / 1e6
            rows.append({"photo": name, "width": w, "height": h, "megapixels": mp, "seconds": round(best["seconds"], 2),
                         "seconds_per_mp": round(best["seconds"] / mp, 3), "peak_rss_mib": round(best["peak_rss_mib"]),
                         "repeats": repeats, "quick": args.quick})
            print(f"{name}: {best['seconds']:.1f} s, peak {best['peak_rss_mib']:.0f} MiB", flush=True)
    save_rows(OUT, rows, key=lambda r: (r["photo"], r["quick"]), benchmark="restore_12mp",
              command="python -m aelab denoise RUN IN.png OUT.png --no-progress", model="dncnn, preset photos")
    print_table(rows, [("photo", "photo", "<8"), ("width x height", lambda r: f"{r['width']}x{r['height']}", ">14"),
                       ("seconds", "seconds", ">8.1f"), ("s / MP", "seconds_per_mp", ">7.2f"),
                       ("peak RSS MiB", "peak_rss_mib", ">12")])
    print(f"machine: {machine()}; {time.time() - t_all:.0f} s; results in {OUT}")


if __name__ == "__main__":
    main()
