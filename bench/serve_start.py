"""How fast `aelab serve` starts (issue 28: under 2 s): from the command's start to its first answer of /api/runs,
in a fresh process as a user runs it, with and without an index to search. The runs folder holds a VAE, a
denoiser and a hashing run with its index on the digits (trained once into bench/runs/serve_start/).

    python bench/serve_start.py             # writes bench/results/serve_start.json
    python bench/serve_start.py --quick     # one repeat
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

from common import RESULTS, RUNS, machine, print_table, save_rows, train_once


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_answer(runs, index=None) -> float:
    """Seconds from starting `aelab serve` to its first answer of /api/runs."""
    port = free_port()
    command = [sys.executable, "-m", "aelab", "serve", str(runs), "--port", str(port),
               *(["--index", str(index)] if index else [])]
    t0 = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - t0 < 60:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/runs", timeout=1).read()
                return time.perf_counter() - t0
            except OSError:
                time.sleep(0.01)
        raise RuntimeError("aelab serve did not answer within 60 s")
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="one repeat")
    args = p.parse_args()
    runs = RUNS / "serve_start"
    for name, model, train in (("vae", "vae", {"epochs": 2}), ("dae", "ae", {"epochs": 2, "corrupt": "masking:0.3"}),
                               ("sh", "semhash", {"epochs": 2})):
        train_once(runs / name, "digits", progress=False, model=model, preset="tiny", train=train)
    index = runs / "sh" / "index"
    if not index.exists():
        subprocess.check_call([sys.executable, "-m", "aelab", "index", "build", str(runs / "sh")],
                              stdout=subprocess.DEVNULL)
    repeats = 1 if args.quick else args.repeats
    rows = []
    for label, with_index in (("runs only", None), ("with --index", index)):
        times = [first_answer(runs, with_index) for _ in range(repeats)]
        rows.append({"case": label, "repeats": repeats, "median_s": round(statistics.median(times), 3),
                     "max_s": round(max(times), 3), "quick": args.quick})
    print(f"aelab serve, command start to the first /api/runs answer ({machine()})")
    print_table(rows, [("case", "case", "<14"), ("repeats", "repeats", ">7"), ("median s", "median_s", ">9"),
                       ("max s", "max_s", ">7")])
    save_rows(RESULTS / "serve_start.json", rows, key=lambda r: (r["case"], r["quick"]), benchmark="serve_start")


if __name__ == "__main__":
    main()
