"""`aelab bench all`: every benchmark of a source checkout, then BENCHMARKS.md regenerated from their results."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from ..errors import UsageError
from .common import path_arg

HELP = "run every benchmark (bench/ of a source checkout) and regenerate BENCHMARKS.md; --quick: smoke runs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `aelab bench`."""
    p.add_argument("what", choices=("all",), help="all: every benchmark script (bench/run_all.py)")
    p.add_argument("--quick", action="store_true",
                   help="each script's smoke run (minutes), into bench/quick/ and BENCHMARKS-quick.md")
    p.add_argument("--only", default="", metavar="NAMES", help="comma-separated benchmarks (bench/run_all.py's names)")
    p.add_argument("--bench-dir", type=path_arg, default=None,
                   help="the checkout's bench/ folder (default: beside the installed package, else ./bench)")


def bench_dir(given: Path | None) -> Path:
    """The bench/ folder holding run_all.py: the one given, the checkout the package is installed from, or ./bench."""
    candidates = [given] if given is not None else [Path(__file__).resolve().parents[3] / "bench", Path.cwd() / "bench"]
    for folder in candidates:
        if (folder / "run_all.py").is_file():
            return folder
    raise UsageError(f"no bench/run_all.py in {' or '.join(str(c) for c in candidates)}: the benchmarks are scripts "
                     "of a source checkout (git clone, then pip install -e .); give its bench/ folder with --bench-dir")


def run(args: argparse.Namespace) -> int:
    script = bench_dir(args.bench_dir) / "run_all.py"
    command = [sys.executable, str(script), *(["--quick"] if args.quick else []),
               *(["--only", args.only] if args.only else [])]
    return subprocess.call(command)
