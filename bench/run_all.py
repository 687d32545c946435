"""Every benchmark in one go, then the page regenerated from what they wrote (`aelab bench all` runs this).

    python bench/run_all.py            # the recorded numbers: each script as BENCHMARKS.md's commands run it, then
                                       # BENCHMARKS.md (days on 2 CPU cores: restore_photos alone is about 28 hours)
    python bench/run_all.py --quick    # each script's smoke run (minutes), into bench/quick/ (results, run folders)
                                       # and BENCHMARKS-quick.md: the recorded results are never touched
    python bench/run_all.py --only vqvae,alae

Scripts run one after another in fresh processes, each one's output in RESULTS/logs/NAME.log; one that fails is
reported and the others still run (the exit status says whether all passed). RESULTS/bench_all.json records each
one's command, machine, wall time and status, and the page's first table shows them. Left out: vae_nll_of_run.py (a saved run's NLL, by hand), mnist_classifier.py
(it trains the classifier shipped inside the package for the sample Fréchet distance; a tool, not a benchmark).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUICK = ROOT / "bench" / "quick"


@dataclass(frozen=True)
class Job:
    """One script run: its name, the paper it stands beside, and its arguments (the recorded run's)."""

    name: str
    script: str
    paper: str
    args: tuple[str, ...] = ()
    quick_args: tuple[str, ...] = ("--quick",)  # the smoke run its docstring gives (a model or two where it has many)


JOBS = (
    Job("hinton2006", "hinton2006.py", "Hinton & Salakhutdinov, Science 2006"),
    Job("vae_mnist", "vae_mnist.py", "Kingma & Welling 2014; Burda et al. 2016",
        ("--threads", "1", "--epochs", "1800", "--batch-size", "200", "--lr", "2e-3", "--eval-every", "10",
         "--curve-every", "300", "--curve-images", "500")),
    Job("vaegan_mnist", "vaegan_mnist.py", "Larsen et al. 2016", ("--epochs", "8", "--gamma", "1.0", "--channels", "16,32")),
    Job("semantic_hashing-20ng", "semantic_hashing.py", "Salakhutdinov & Hinton 2009",
        ("--datasets", "20newsgroups", "--bits", "16,32,64,128", "--seeds", "3", "--threads", "2"),
        ("--quick", "--datasets", "20newsgroups")),
    Job("semantic_hashing-mnist", "semantic_hashing.py", "Salakhutdinov & Hinton 2009",
        ("--datasets", "mnist", "--bits", "16,32,64,128", "--seeds", "3", "--queries", "2000", "--epochs", "3",
         "--threads", "2"), ("--quick", "--datasets", "mnist")),
    Job("text_hashing", "text_hashing.py", "VDSH protocol: Chaidaroon & Fang 2017, AMMI 2020, SNUH 2021"),
    Job("held_out_groups", "held_out_groups.py", "(aelab: a default on newsgroups it was not chosen on)"),
    Job("user_corpus", "user_corpus.py", "(aelab: a user's corpus with no flags)", ("--bits", "32,64")),
    Job("hashing_speed", "hashing_speed.py", "(aelab: hashing speed and size)", ("--threads", "2")),
    Job("index_speed", "index_speed.py", "Norouzi et al. 2012 (multi-index hashing) beside FAISS and PostgreSQL",
        ("--sizes", "100k,1M,10M", "--postgresql"), ("--quick", "--postgresql")),
    Job("denoise", "denoise.py", "Vincent et al. 2008", ("--threads", "1")),
    Job("restore_photos", "restore_photos.py", "Zhang et al. 2017 (DnCNN) beside BM3D and the classical methods",
        ("--threads", "1")),
    Job("restore_12mp", "restore_12mp.py", "(aelab: a 12-megapixel photo)"),
    Job("vqvae", "vqvae.py", "van den Oord et al. 2017", ("--threads", "2")),
    Job("interpolation_lines", "interpolation_lines.py", "Berthelot et al. 2019, Table 1", ("--threads", "1"),
        ("--quick", "--only", "ae,acai")),
    Job("representation", "representation.py", "Berthelot et al. 2019, Tables 2 and 3", ("--epochs", "1", "--threads", "1"),
        ("--quick", "--only", "ae,acai")),
    Job("serve_start", "serve_start.py", "(aelab: the web page's start)"),
    Job("throughput", "throughput.py", "(aelab: training speed beside pythae 0.1.2)",
        ("--threads", "1", "--models", "ae,vae", "--precisions", "fp32,bf16", "--repeats", "2"),
        ("--quick", "--threads", "2")),
    Job("throughput_conv", "throughput.py", "(aelab: the convolutional models' training speed beside pythae 0.1.2)",
        ("--threads", "1", "--models", "vaegan,vqvae,acai,alae", "--images", "6000", "--repeats", "2", "--no-startup"),
        ("--threads", "1", "--models", "vqvae", "--images", "300", "--repeats", "1", "--no-startup")),
    Job("profile_epoch", "profile_epoch.py", "(aelab: where an epoch's time goes)", ("--threads", "1")),
    Job("compile_channels", "compile_channels.py", "(aelab: torch.compile and channels-last against eager)",
        ("--threads", "1")),
    Job("distributed_scaling", "distributed_scaling.py", "(aelab: torchrun on one machine)", ("--threads", "2")),
    Job("stream_scale", "stream_scale.py", "(aelab: data larger than memory)",
        ("--threads", "1", "--steps", "3000", "--beyond-ram", "30", "--image-folder", "60000")),
    Job("alae", "alae.py", "Pidhorskyi et al. 2020", ("--threads", "1"), ("--quick", "--only", "alae", "--epochs", "2")),
)


def machine() -> str:
    """The CPU and its cores (each script's rows name their own torch threads or GPU)."""
    from common import cpu_model

    return f"{cpu_model()}, {os.cpu_count()} cores"


def run(jobs: list[Job], quick: bool) -> int:
    results = QUICK / "results" if quick else ROOT / "bench" / "results"
    env = dict(os.environ)
    if quick:
        env.update(AELAB_BENCH_RESULTS=str(results), AELAB_BENCH_RUNS=str(QUICK / "runs"))
    (results / "logs").mkdir(parents=True, exist_ok=True)
    started, t_all, rows = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"), time.time(), []
    for job in jobs:
        args = job.quick_args if quick else job.args
        command = " ".join(["python", f"bench/{job.script}", *args])
        log = results / "logs" / f"{job.name}.log"
        print(f"{job.name}: {command} (output in {log.relative_to(ROOT)})", flush=True)
        t0 = time.time()
        with open(log, "w") as out:
            # into a file: no progress bars (they show on a terminal only)
            code = subprocess.call([sys.executable, str(ROOT / "bench" / job.script), *args], cwd=ROOT, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
        wall = time.time() - t0
        status = "ok" if code == 0 else f"FAILED (exit {code}; see {log.relative_to(ROOT)})"
        print(f"  {status}, {wall:.0f} s", flush=True)
        if code != 0:
            print("  " + "\n  ".join(log.read_text(errors="replace").splitlines()[-5:]), flush=True)
        rows.append({"name": job.name, "paper": job.paper, "command": command, "machine": machine(),
                     "wall_s": round(wall, 1), "status": status})
    path = results / "bench_all.json"
    ran = {r["name"] for r in rows}  # an --only run keeps the other scripts' last rows, in JOBS' order
    kept = [r for r in json.loads(path.read_text())["rows"] if r["name"] not in ran] if path.exists() else []
    order = {j.name: k for k, j in enumerate(JOBS)}
    record = {"quick": quick, "started": started, "wall_s": round(time.time() - t_all, 1),
              "rows": sorted(kept + rows, key=lambda r: order.get(r["name"], len(order)))}
    path.write_text(json.dumps(record, indent=2) + "\n")
    page = ROOT / ("BENCHMARKS-quick.md" if quick else "BENCHMARKS.md")
    subprocess.check_call([sys.executable, str(ROOT / "bench" / "benchmarks_md.py"), "--results", str(results),
                           "--out", str(page)], cwd=ROOT, env=env)
    failed = [r["name"] for r in rows if r["status"] != "ok"]
    width = max(len(r["name"]) for r in rows)
    print("\n" + "\n".join(f"{r['name']:<{width}}  {r['wall_s']:>8.0f} s  {r['status']}" for r in rows))
    print(f"{len(rows) - len(failed)} of {len(rows)} passed in {time.time() - t_all:.0f} s; {page.name} written")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="each script's smoke run, into bench/quick/")
    p.add_argument("--only", default="", help=f"comma-separated names of: {', '.join(j.name for j in JOBS)}")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in {j.name for j in JOBS}]
    if unknown:
        p.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(j.name for j in JOBS)}")
    return run([j for j in JOBS if not names or j.name in names], args.quick)


if __name__ == "__main__":
    sys.exit(main())
