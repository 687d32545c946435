"""`aelab report`: (re)write report.html for a run."""

from __future__ import annotations

import argparse

from .common import add_data_args, data_options, load_run_data, path_arg, run_data, write_run_report

HELP = "(re)write report.html for a run"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `aelab report`."""
    p.add_argument("run", type=path_arg)
    add_data_args(p, default=None)


def run(args: argparse.Namespace) -> int:
    from ..models.capabilities import BinaryCoder

    model, data, spec = run_data(args, "test")
    database = None
    if isinstance(model, BinaryCoder):  # the report's retrieval section searches the training items
        database = load_run_data(spec, "train", args.data, args.data_dir, data_options(args))
    print(f"report: {write_run_report(args.run, model, data, database)}")
    return 0
