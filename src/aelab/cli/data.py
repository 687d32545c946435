"""`aelab data`: list or fetch datasets."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import Parser

HELP = "list or fetch datasets"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `aelab data list` and `aelab data fetch`."""
    sub = p.add_subparsers(dest="data_command", metavar="{list,fetch}", parser_class=Parser)
    sub.required = True
    listing = sub.add_parser("list", help="known datasets and where they were found")
    listing.add_argument("--data-dir", default=None)
    fetching = sub.add_parser("fetch", help="download a dataset (checksummed)")
    fetching.add_argument("name")
    fetching.add_argument("--dest", type=Path, default=None)


def run(args: argparse.Namespace) -> int:
    from ..data import describe_datasets, fetch

    if args.data_command == "list":
        for d in describe_datasets(args.data_dir):
            if d.get("available"):
                where = d.get("location") or "embedded"
            else:
                where = f"not found: aelab data fetch {d['name']}"
            print(f"{d['name']:<14} {d.get('description', '')}  [{where}]")
        return 0
    path = fetch(args.name, args.dest)
    print(f"{args.name}: files are in {path}")
    return 0
