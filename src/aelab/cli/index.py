"""`aelab index`: keep a run's binary codes in an index and search it (semantic hashing's hash table)."""

from __future__ import annotations

import argparse
import json

from ..errors import ConfigError
from .common import add_data_args, data_options, load_run_data, nonneg_int, path_arg, positive_int
from ..api.hits import (asked_source, binary_model, default_table, describe, details, find, index_run, model_source,
                         open_index, open_table, query_code)

HELP = "build a binary-code index from a run (semhash), search it, show its stats"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """`aelab index build|search|stats`."""
    sub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    sub.required = True
    b = sub.add_parser("build", help="encode a data split with a run's model and store the codes")
    b.add_argument("run", type=path_arg)
    add_data_args(b, default=None)
    b.add_argument("--split", default="train", choices=["train", "test", "all"], help="which items to store")
    b.add_argument("--backend", default="files", choices=["files", "postgresql"],
                   help="files: an index folder (--out); postgresql: a table in a PostgreSQL server (--dsn, --table)")
    b.add_argument("--out", type=path_arg, default=None,
                   help="the index folder to write (default: RUN/index, where aelab search RUN looks)")
    add_table_args(b, "the table to write (default: aelab_ and the run folder's name)")
    b.add_argument("--overwrite", action="store_true", help="replace an existing index folder or table")
    s = sub.add_parser("search", help="the items nearest a query by Hamming distance")
    s.add_argument("index", type=path_arg, nargs="?", help="an index folder (or give --dsn and --table)")
    add_table_args(s, "the table to search")
    s.add_argument("--query", required=True,
                   help="an image file, a text file (.txt), an item id in the index, or text to encode")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--radius", type=nonneg_int, help="every item within this Hamming distance")
    g.add_argument("--top", type=positive_int, help="the k nearest items")
    s.add_argument("--method", default="auto", choices=["auto", "scan", "hash", "multi-index"],
                   help="how the index is searched (auto: by aelab.index.plan's rule; every way finds the same)")
    s.add_argument("--limit", type=positive_int, default=20, help="hits printed at most")
    s.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    t = sub.add_parser("stats", help="items, distinct codes, bucket sizes, bytes")
    t.add_argument("index", type=path_arg, nargs="?", help="an index folder (or give --dsn and --table)")
    add_table_args(t, "the table to describe")
    t.add_argument("--json", action="store_true")


def add_table_args(p: argparse.ArgumentParser, table_help: str) -> None:
    """--dsn and --table: an index kept in a PostgreSQL table (the postgresql extra)."""
    p.add_argument("--dsn", default=None, metavar="DSN",
                   help="a PostgreSQL connection string (postgresql://user@host:5432/db; a password is best kept in "
                        "PGPASSWORD or ~/.pgpass)")
    p.add_argument("--table", default=None, metavar="NAME", help=table_help)


def opened(args: argparse.Namespace):
    """(index, its name in messages): the folder given, or the table of --dsn and --table."""
    if (args.index is None) == (args.dsn is None):
        raise ConfigError("give an index folder or --dsn DSN --table NAME (one of the two)")
    if args.dsn is None:
        if args.table:
            raise ConfigError("--table names a PostgreSQL table: give it with --dsn")
        return open_index(args.index), str(args.index)
    if not args.table:
        raise ConfigError("--dsn needs --table NAME: the table aelab index build --backend postgresql wrote")
    return open_table(args.dsn, args.table), f"table {args.table}"


def run(args: argparse.Namespace) -> int:
    return {"build": _build, "search": _search, "stats": _stats}[args.action](args)


def _build(args: argparse.Namespace) -> int:
    import numpy as np

    from ..batching import map_batches
    from ..index import Index
    from ..runs import RunFolder

    postgresql = args.backend == "postgresql"
    if postgresql and (args.dsn is None or args.out is not None):
        raise ConfigError("--backend postgresql writes a table: give --dsn DSN (and --table NAME), not --out")
    if not postgresql and (args.dsn or args.table):
        raise ConfigError("--dsn and --table are for --backend postgresql")
    model, spec = binary_model(args.run)
    out = args.out or RunFolder(args.run).index_path
    data = load_run_data(spec, args.split, args.data, args.data_dir, data_options(args))
    model.check_input(data.x)
    if not postgresql and out.exists() and not args.overwrite:
        raise ConfigError(f"{out} already exists; use --overwrite to replace it")
    if postgresql:  # the table is checked (server, name, nothing overwritten) before the encoding's minutes
        from ..index.postgresql import PostgresIndex

        table = args.table or default_table(args.run)
        PostgresIndex.check_free(args.dsn, table, args.overwrite)
    codes = map_batches(model, data.x, model.binary_codes, progress="encode").numpy()
    ids = np.asarray(data.index, dtype=np.int64) if data.index is not None else np.arange(len(codes), dtype=np.int64)
    source = model_source(args.run, model, spec)
    source["data"] = {"name": args.data or spec.data, "split": args.split}
    if postgresql:
        return _build_table(args, table, codes, ids, source, spec)
    index = Index(codes.shape[1], source=source)
    index.add(codes, ids)
    index.save(out, overwrite=args.overwrite)
    stats = index.stats()
    print(f"indexed {stats['items']} items as {index.bits}-bit codes ({stats['distinct_codes']} distinct, "
          f"largest bucket {stats['buckets']['max']}) in {out}")
    if args.out is None:
        print(f"search it: aelab search {args.run} \"TEXT\"" if spec.data_options.get("vocabulary")
              else f"search it: aelab index search {out} --query IMAGE")
    return 0


def _build_table(args: argparse.Namespace, table: str, codes, ids, source: dict, spec) -> int:
    """The codes, with each item's label, file and first words, in a new PostgreSQL table (one transaction)."""
    from ..index.postgresql import PostgresIndex

    about = describe(spec, source, ids)
    with PostgresIndex.create(args.dsn, table, codes.shape[1], source, args.overwrite, codes, ids, about) as index:
        stats = index.stats()
    print(f"indexed {stats['items']} items as {index.bits}-bit codes ({stats['distinct_codes']} distinct, "
          f"largest bucket {stats['buckets']['max']}) in table {table}")
    print(f"search it: aelab search {args.run} \"TEXT\" --dsn DSN --table {table}" if spec.data_options.get("vocabulary")
          else f"search it: aelab index search --dsn DSN --table {table} --query IMAGE")
    return 0


def _search(args: argparse.Namespace) -> int:
    index, where = opened(args)
    run, model, spec = index_run(index, where)
    asked = asked_source(index, where, run, model, spec)
    query, what = query_code(args.query, index, model, spec)
    dist, ids = find(index, query, args.top, args.radius, asked, args.method)
    shown = details(index, spec, ids[: args.limit])
    if args.json:
        for i, d, about in zip(ids[: args.limit].tolist(), dist[: args.limit].tolist(), shown):
            print(json.dumps({"id": i, "distance": d, **about}))
        return 0
    how = f"within radius {args.radius}" if args.radius is not None else f"top {args.top}"
    print(f"{len(ids)} items {how} of the {what} ({index.bits}-bit codes, {len(index)} items)")
    for rank, (i, d, about) in enumerate(zip(ids[: args.limit].tolist(), dist[: args.limit].tolist(), shown), 1):
        extra = "  ".join(f"[{v}]" if k == "label" else str(v) for k, v in about.items())
        print(f"{rank:>4}  id {i:<8} d={d:<3} {extra}")
    if len(ids) > args.limit:
        print(f"      ... {len(ids) - args.limit} more (--limit)")
    return 0


def _stats(args: argparse.Namespace) -> int:
    index, where = opened(args)
    stats = index.stats()
    if args.json:
        print(json.dumps({**stats, "source": index.source}))
        return 0
    b = stats["buckets"]
    print(f"{where}: {stats['items']} items, {stats['bits']}-bit codes, {stats['distinct_codes']} distinct codes")
    print(f"  items per code: median {b['median']:g}, p99 {b['p99']:g}, max {b['max']}, {b['singletons']} alone")
    kept = f"{stats['segments']} segment(s)" if "segments" in stats else "PostgreSQL table with its indexes"
    print(f"  {kept}; {stats['bytes_on_disk'] or 0:,} bytes on disk")
    if index.source:
        print(f"  made by {index.source.get('model')} of {index.source.get('run')}")
    return 0
