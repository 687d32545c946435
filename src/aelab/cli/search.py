"""`aelab search RUN "free text"`: the documents of a run's corpus nearest a text, by the Hamming distance of codes.

It reads the index `aelab index build RUN` writes in the run (RUN/index) and builds none itself: a search only reads,
and building encodes the whole corpus and writes into the run, so without an index it says, in one line, the command
that builds one (and the same for an index older than the run's weights).
"""

from __future__ import annotations

import argparse
import json

from ..errors import ConfigError
from .common import nonneg_int, path_arg, positive_int

HELP = "the documents of a run's corpus nearest a text (semantic hashing; needs aelab index build RUN first)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `aelab search`."""
    p.add_argument("run", type=path_arg, help="a run whose model gives binary codes (aelab train semhash ...)")
    p.add_argument("query", help="the text to search for, or a .txt file holding it")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--top", type=positive_int, default=None, metavar="K", help="the K nearest documents (default 10)")
    g.add_argument("--radius", type=nonneg_int, default=None, metavar="R",
                   help="every document whose code is within R bits of the query's, nearest first")
    p.add_argument("--limit", type=positive_int, default=100, help="documents printed at most")
    p.add_argument("--index", type=path_arg, default=None, metavar="FOLDER",
                   help="the index to search (default: RUN/index, which aelab index build RUN writes)")
    p.add_argument("--dsn", default=None, metavar="DSN",
                   help="search the index in a PostgreSQL table instead (aelab index build RUN --backend postgresql)")
    p.add_argument("--table", default=None, metavar="NAME",
                   help="the table, with --dsn (default: aelab_ and the run folder's name)")
    p.add_argument("--json", action="store_true",
                   help="one JSON object a document: rank, id, distance, label, file, text (the first words)")


def run(args: argparse.Namespace) -> int:
    from ..runs import RunFolder
    from ..api.hits import asked_source, binary_model, default_table, details, excerpt, find, open_index, open_table, text_code

    folder = RunFolder(args.run)
    if not folder.is_run():
        raise ConfigError(f"{args.run} is not a run folder (no config.json); give the folder aelab train wrote")
    model, spec = binary_model(args.run)
    query, what = text_code(args.query, model, spec)  # what is wrong with the query is said before the index
    if args.dsn is not None:
        if args.index is not None:
            raise ConfigError("give --index FOLDER or --dsn DSN, not both")
        where = f"table {args.table or default_table(args.run)}"
        index = open_table(args.dsn, args.table or default_table(args.run))
    else:
        if args.table:
            raise ConfigError("--table names a PostgreSQL table: give it with --dsn")
        where = args.index or folder.index_path
        if not where.is_dir():
            raise ConfigError(f"no index at {where}; build it: aelab index build {args.run} --out {where}" if args.index
                              else f"{args.run} has no index yet; build it first: aelab index build {args.run}")
        index = open_index(where)
    asked = asked_source(index, where, args.run, model, spec)
    top = 10 if args.top is None and args.radius is None else args.top
    dist, ids = find(index, query, top, args.radius, asked)
    shown = list(zip(ids[: args.limit].tolist(), dist[: args.limit].tolist(), details(index, spec, ids[: args.limit])))
    if args.json:
        for rank, (i, d, about) in enumerate(shown, 1):
            print(json.dumps({"rank": rank, "id": i, "distance": d, **about}, ensure_ascii=False))
        return 0
    said = f'"{excerpt(args.query)}"' if what == "text" else what
    how = f"within {args.radius} bit{'s' * (args.radius != 1)} of" if args.radius is not None else "nearest"
    print(f"{len(ids):,} document{'s' * (len(ids) != 1)} {how} {said} "
          f"({index.bits}-bit codes of {len(index):,} documents in {where})")
    _print_table(shown)
    if len(ids) > args.limit:
        print(f"... {len(ids) - args.limit:,} more (--limit)")
    return 0


def _print_table(shown: list) -> None:
    """rank, distance, label (if any), file (a folder's) or id (a table's: 0 is its first document) and the first
    words, one line a document (on a terminal, cut to its width)."""
    import shutil
    import sys

    if not shown:
        return
    shown = [(i, d, about if "file" in about else {**about, "id": i}) for i, d, about in shown]  # a table's: its id
    columns = [c for c in ("label", "file", "id") if any(c in about for _, _, about in shown)]
    width = {c: max(len(c), *(len(str(about.get(c, ""))) for _, _, about in shown)) for c in columns}
    fits = shutil.get_terminal_size().columns if sys.stdout.isatty() else None

    def line(cells: list[str]) -> str:
        text = "  ".join(cells).rstrip()
        return text if fits is None or len(text) <= fits else text[: max(fits - 4, 0)].rstrip() + " ..."

    print(line(["rank", "dist", *(c.ljust(width[c]) for c in columns), "text"]))
    for rank, (_, d, about) in enumerate(shown, 1):
        print(line([f"{rank:>4}", f"{d:>4}", *(str(about.get(c, "")).ljust(width[c]) for c in columns),
                    about.get("text", "")]))
