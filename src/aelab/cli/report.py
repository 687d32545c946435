"""`aelab report`: (re)write report.html for a run, or one page comparing several runs."""

from __future__ import annotations

import argparse

from ..errors import UsageError
from .common import add_data_args, data_options, load_run_data, path_arg, run_data, write_run_report

HELP = "(re)write report.html for a run; with several runs, one page comparing them (-o)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `aelab report`."""
    p.add_argument("runs", type=path_arg, nargs="+", metavar="RUN")
    p.add_argument("-o", "--output", type=path_arg, default=None,
                   help="the comparison page of several runs (default compare.html here)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing comparison page")
    add_data_args(p, default=None)


def run(args: argparse.Namespace) -> int:
    from ..models.capabilities import BinaryCoder

    if len(args.runs) > 1:
        return _compare(args)
    if args.output is not None or args.overwrite:
        raise UsageError("-o and --overwrite are for a comparison of several runs; one run's report goes into its own folder")
    args.run = args.runs[0]
    model, data, spec = run_data(args, "test")
    database = None
    if isinstance(model, BinaryCoder):  # the report's retrieval section searches the training items
        database = load_run_data(spec, "train", args.data, args.data_dir, data_options(args))
    print(f"report: {write_run_report(args.run, model, data, database)}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from ..runs import RunFolder
    from ..viz.compare import write_comparison

    first = RunFolder(args.runs[0])
    if not first.is_run():
        raise UsageError(f"{args.runs[0]} is not a run folder (no config.json)")
    data = load_run_data(first.read_spec(), "test", args.data, args.data_dir, data_options(args))
    out = write_comparison(args.runs, data, args.output or "compare.html", args.overwrite)
    print(f"comparison of {len(args.runs)} runs: {out}")
    return 0
