"""`aelab index`: keep a run's binary codes in an index and search it (semantic hashing's hash table)."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigError, UsageError
from .common import add_data_args, data_options, load_run_data, nonneg_int, path_arg, positive_int

HELP = "build a binary-code index from a run (semhash), search it, show its stats"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """`aelab index build|search|stats`."""
    sub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    sub.required = True
    b = sub.add_parser("build", help="encode a data split with a run's model and store the codes")
    b.add_argument("run", type=path_arg)
    add_data_args(b, default=None)
    b.add_argument("--split", default="train", choices=["train", "test", "all"], help="which items to store")
    b.add_argument("--out", type=path_arg, required=True, help="the index folder to write")
    b.add_argument("--overwrite", action="store_true", help="replace an existing index folder")
    s = sub.add_parser("search", help="the items nearest a query by Hamming distance")
    s.add_argument("index", type=path_arg)
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
    t.add_argument("index", type=path_arg)
    t.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    return {"build": _build, "search": _search, "stats": _stats}[args.action](args)


def model_source(run: Path, model: Any, spec: Any) -> dict[str, Any]:
    """What made a set of codes: the run, its model and a checksum of its weights (and vocabulary)."""
    from ..runs import RunFolder

    source = {"run": str(Path(run).resolve()), "model": model.name, "weights_sha256": RunFolder(run).weights_sha256()}
    vocabulary = spec.data_options.get("vocabulary")
    if vocabulary:
        source["vocabulary_sha256"] = hashlib.sha256("\n".join(vocabulary).encode()).hexdigest()
    return source


def _binary_model(run: Path):
    from ..models.capabilities import BinaryCoder
    from ..api import load
    from ..runs import RunFolder

    spec = RunFolder(run).read_spec()
    model = load(run)
    if not isinstance(model, BinaryCoder):
        raise ConfigError(f"model {model.name!r} of {run} gives no binary codes to index; train one that does "
                          "(aelab train semhash ...)")
    return model, spec


def _build(args: argparse.Namespace) -> int:
    import numpy as np

    from ..batching import map_batches
    from ..index import Index

    model, spec = _binary_model(args.run)
    data = load_run_data(spec, args.split, args.data, args.data_dir, data_options(args))
    model.check_input(data.x)
    if args.out.exists() and not args.overwrite:
        raise ConfigError(f"{args.out} already exists; use --overwrite to replace it")
    codes = map_batches(model, data.x, model.binary_codes, progress="encode").numpy()
    ids = np.asarray(data.index, dtype=np.int64) if data.index is not None else np.arange(len(codes), dtype=np.int64)
    source = model_source(args.run, model, spec)
    source["data"] = {"name": args.data or spec.data, "split": args.split}
    index = Index(codes.shape[1], source=source)
    index.add(codes, ids)
    index.save(args.out, overwrite=args.overwrite)
    stats = index.stats()
    print(f"indexed {stats['items']} items as {index.bits}-bit codes ({stats['distinct_codes']} distinct, "
          f"largest bucket {stats['buckets']['max']}) in {args.out}")
    return 0


def _query_code(args: argparse.Namespace, index, model, spec) -> tuple[Any, str]:
    """The query's bits (1, bits) and a description of it."""
    import numpy as np
    import torch

    from ..data import count_words, read_image

    text = args.query
    path = Path(text).expanduser()
    vocabulary = spec.data_options.get("vocabulary")
    if text.strip().isdigit() and not path.is_file():  # an item already in the index: its own code
        codes, ids = index.codes_and_ids()
        where = np.flatnonzero(ids == int(text))
        if not len(where):
            raise ConfigError(f"no item with id {text} in the index ({len(ids)} items)")
        from ..index.bits import unpack_bits

        return unpack_bits(codes[where[:1]], index.bits), f"item {text}"
    if path.is_file() and path.suffix.lower() != ".txt":
        if vocabulary:
            raise UsageError(f"{path} is a file, but this index holds documents: give text or a .txt file")
        shape = model.input_shape
        x = read_image(path, tuple(shape[1:]), grayscale=shape[0] == 1).unsqueeze(0)
        return model.binary_codes(x).numpy(), f"image {path}"
    if not vocabulary:
        raise UsageError(f"{text!r} is not an image file or an item id, and this index holds images")
    body = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else text
    counts = torch.from_numpy(count_words([body], vocabulary))
    if float(counts.sum()) == 0:
        raise ConfigError("none of the query's words is in the run's vocabulary; the query has no code")
    return model.binary_codes(counts).numpy(), ("text file " + str(path)) if path.is_file() else "text"


def _search(args: argparse.Namespace) -> int:
    import torch

    from ..index import Index

    index = Index.open(args.index)
    if index.recovered:
        print(f"aelab: note: {index.recovered}", file=sys.stderr)
    source = index.source or {}
    run = Path(source.get("run", ""))
    from ..runs import RunFolder

    if not source.get("run") or not RunFolder(run).is_run():
        raise ConfigError(f"the run that made {args.index} ({source.get('run')}) is not there any more; "
                          "queries need its model")
    model, spec = _binary_model(run)
    with torch.no_grad():
        query, what = _query_code(args, index, model, spec)
    asked = {**model_source(run, model, spec), "data": source.get("data")}
    if args.radius is not None:  # "within r bits": the index's radius is exclusive, as FAISS's
        _, dist, ids = index.range_search(query, args.radius + 1, method=args.method, source=asked)
    else:
        dist, ids = index.search(query, args.top, method=args.method, source=asked)
        dist, ids = dist[0][ids[0] >= 0], ids[0][ids[0] >= 0]  # fewer items than --top: no padding shown
    shown = _describe(spec, source, ids[: args.limit])
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


def _describe(spec, source: dict, ids) -> list[dict[str, Any]]:
    """Label and first words (documents) or file name (image folders) of each hit, when the data is at hand."""
    from ..errors import AelabError

    data_name = (source.get("data") or {}).get("name") or spec.data
    try:
        data = load_run_data(spec, "all", None if data_name == spec.data else data_name)
    except AelabError:
        return [{} for _ in ids]
    row = {int(v): k for k, v in enumerate(data.index)} if data.index is not None else {}
    out = []
    for i in ids.tolist():
        k = row.get(int(i))
        about: dict[str, Any] = {}
        if k is not None:
            if data.y is not None and data.classes:
                about["label"] = data.classes[int(data.y[k])]
            if getattr(data, "texts", None) is not None:
                words = data.texts[k].split()
                about["text"] = " ".join(words[:12]) + (" ..." if len(words) > 12 else "")
            elif data.files is not None:
                about["file"] = data.files[k]
        out.append(about)
    return out


def _stats(args: argparse.Namespace) -> int:
    from ..index import Index

    index = Index.open(args.index)
    stats = index.stats()
    if args.json:
        print(json.dumps({**stats, "source": index.source}))
        return 0
    b = stats["buckets"]
    print(f"{args.index}: {stats['items']} items, {stats['bits']}-bit codes, {stats['distinct_codes']} distinct codes")
    print(f"  items per code: median {b['median']:g}, p99 {b['p99']:g}, max {b['max']}, {b['singletons']} alone")
    print(f"  {stats['segments']} segment(s); {stats['bytes_on_disk'] or 0:,} bytes on disk")
    if index.source:
        print(f"  made by {index.source.get('model')} of {index.source.get('run')}")
    return 0
