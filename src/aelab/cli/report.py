"""`aelab report`: (re)write report.html for a run."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_data_args, run_data, write_run_report

HELP = "(re)write report.html for a run"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `aelab report`."""
    p.add_argument("run", type=Path)
    add_data_args(p, default=None)


def run(args: argparse.Namespace) -> int:
    model, data, _ = run_data(args, "test")
    print(f"report: {write_run_report(args.run, model, data)}")
    return 0
