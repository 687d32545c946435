"""What searching a run's index takes, shared by `aelab index search`, `aelab search` and `aelab serve`: a run's
hashing model, a query's code, the hits and their description (label, file, the first words of a document)."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

from ..errors import AelabError, ConfigError, UsageError
from .data import load_run_data

EXCERPT_WORDS = 15  # the first words of a document shown beside a hit
EXCERPT_CHARS = 120  # and at most this many characters of them, so that a hit stays one line


def model_source(run: Path, model: Any, spec: Any) -> dict[str, Any]:
    """What made a set of codes: the run, its model and a checksum of its weights (and vocabulary)."""
    from ..runs import RunFolder

    source = {"run": str(Path(run).resolve()), "model": model.name, "weights_sha256": RunFolder(run).weights_sha256()}
    vocabulary = spec.data_options.get("vocabulary")
    if vocabulary:
        source["vocabulary_sha256"] = hashlib.sha256("\n".join(vocabulary).encode()).hexdigest()
    return source


def binary_model(run: Path):
    """(model, spec) of a run whose model gives binary codes; a one-line error for any other."""
    from .fit import load
    from ..models.capabilities import BinaryCoder
    from ..runs import RunFolder

    spec = RunFolder(run).read_spec()
    model = load(run)
    if not isinstance(model, BinaryCoder):
        raise ConfigError(f"model {model.name!r} of {run} gives no binary codes to index; train one that does "
                          "(aelab train semhash ...)")
    return model, spec


def open_index(folder: Path):
    """The index in `folder`, saying in one note on stderr when its last append was lost."""
    import warnings

    from ..index import Index

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # said below, once
        index = Index.open(folder)
    if index.recovered:
        print(f"aelab: note: {index.recovered}", file=sys.stderr)
    return index


def default_table(run: Path) -> str:
    """The PostgreSQL table a run's codes go to when none is named: aelab_ and the run folder's name."""
    import re

    name = re.sub(r"[^a-z0-9_]+", "_", Path(run).resolve().name.lower()).strip("_") or "run"
    return f"aelab_{name}"[:63]


def open_table(dsn: str, table: str):
    """The index in a PostgreSQL table (`aelab.index.postgresql`)."""
    from ..index.postgresql import PostgresIndex

    return PostgresIndex.open(dsn, table)


def details(index, spec: Any, ids) -> list[dict[str, Any]]:
    """Label, file and first words of each hit: stored beside the codes (a PostgreSQL index), else read from the
    run's data (`describe`)."""
    stored = index.metadata(ids)
    return stored if stored is not None else describe(spec, index.source or {}, ids)


def index_run(index, folder: Path | str):
    """(run, model, spec) of the run whose model made the index's codes."""
    from ..runs import RunFolder

    source = index.source or {}
    run = Path(source.get("run", ""))
    if not source.get("run") or not RunFolder(run).is_run():
        raise ConfigError(f"the run that made {folder} ({source.get('run')}) is not there any more; "
                          "queries need its model")
    return (run, *binary_model(run))


def asked_source(index, folder: Path, run: Path, model, spec) -> dict[str, Any]:
    """What every query of the index gives as its source: the run's model as it is now, checked against the codes'."""
    source = index.source or {}
    asked = {**model_source(run, model, spec), "data": source.get("data")}
    if source.get("run") != asked["run"]:
        raise ConfigError(f"{folder} holds the codes of {source.get('run')}, not of {asked['run']}")
    if asked.get("weights_sha256") != source.get("weights_sha256"):
        raise ConfigError(f"{folder} holds the codes of other weights of {run} (weights_sha256 differs: the run was "
                          f"trained since); build it again: aelab index build {run} {_target(index, folder)} --overwrite")
    return asked


def _target(index, folder) -> str:
    """The options of `aelab index build` that write this index again."""
    table = getattr(index, "table", None)
    return f"--backend postgresql --dsn DSN --table {table}" if table else f"--out {folder}"


def text_code(query: str, model, spec) -> tuple[Any, str]:
    """The code (1, bits) of a text, or of the text in a .txt file, counted in the run's vocabulary, and what it was."""
    import torch

    from ..data import count_words

    vocabulary = spec.data_options.get("vocabulary")
    if not vocabulary:
        raise UsageError("this run's model codes images, not documents: search it with an image, "
                         "aelab index search INDEX --query IMAGE")
    path = Path(query).expanduser()
    is_file = path.suffix.lower() == ".txt" and path.is_file()
    body = path.read_bytes().decode("utf-8", errors="replace") if is_file else query
    counts = torch.from_numpy(count_words([body], vocabulary))
    if float(counts.sum()) == 0:
        raise ConfigError("none of the query's words is in the run's vocabulary; the query has no code")
    with torch.no_grad():
        code = model.binary_codes(counts).numpy()
    return code, f"text file {path}" if is_file else "text"


def query_code(query: str, index, model, spec) -> tuple[Any, str]:
    """The bits (1, bits) of `aelab index search`'s query, an item id in the index, an image file or a text (or .txt
    file), and what it was."""
    import numpy as np
    import torch

    from ..data import read_image

    path = Path(query).expanduser()
    if query.strip().isdigit() and not path.is_file():  # an item already in the index: its own code
        codes, ids = index.codes_and_ids()
        where = np.flatnonzero(ids == int(query))
        if not len(where):
            raise ConfigError(f"no item with id {query} in the index ({len(ids)} items)")
        from ..index.bits import unpack_bits

        return unpack_bits(codes[where[:1]], index.bits), f"item {query}"
    if path.is_file() and path.suffix.lower() != ".txt":
        if spec.data_options.get("vocabulary"):
            raise UsageError(f"{path} is a file, but this index holds documents: give text or a .txt file")
        shape = model.input_shape
        x = read_image(path, tuple(shape[1:]), grayscale=shape[0] == 1).unsqueeze(0)
        with torch.no_grad():
            return model.binary_codes(x).numpy(), f"image {path}"
    if not spec.data_options.get("vocabulary"):
        raise UsageError(f"{query!r} is not an image file or an item id, and this index holds images")
    return text_code(query, model, spec)


def find(index, query, top: int | None, radius: int | None, asked: dict, method: str = "auto"):
    """(distances, ids) of the hits, nearest first (ties by id): the `top` nearest, or all within `radius` bits."""
    if radius is not None:  # "within r bits": the index's radius is exclusive, as FAISS's
        _, dist, ids = index.range_search(query, radius + 1, method=method, source=asked)
        return dist, ids
    dist, ids = index.search(query, top, method=method, source=asked)
    return dist[0][ids[0] >= 0], ids[0][ids[0] >= 0]  # fewer items than top: no padding shown


def excerpt(text: str) -> str:
    """A document's first EXCERPT_WORDS words on one line (control characters blanked), "..." when there is more."""
    words = "".join(c if c.isprintable() else " " for c in text).split()
    shown = " ".join(words[:EXCERPT_WORDS])
    if len(shown) > EXCERPT_CHARS:
        shown = shown[:EXCERPT_CHARS].rsplit(" ", 1)[0] if " " in shown[:EXCERPT_CHARS] else shown[:EXCERPT_CHARS]
    return shown + (" ..." if len(shown) < len(" ".join(words)) else "")


def describe(spec, source: dict, ids) -> list[dict[str, Any]]:
    """Label, file and first words (documents) or file name (image folders) of each hit, when the data is at hand."""
    from ..data.text import read_documents

    data_name = (source.get("data") or {}).get("name") or spec.data
    data_dir = spec.data_dir if data_name == spec.data else None
    try:
        if spec.data_options.get("vocabulary"):  # documents: read again as they are, without counting their words
            documents = read_documents(data_name, data_dir)
            if documents is None:
                return [{} for _ in ids]
            labels, texts, files = documents
            rows = {i: i for i in range(len(texts))}
        else:
            data = load_run_data(spec, "all", None if data_name == spec.data else data_name)
            labels = None if data.y is None or not data.classes else [data.classes[int(y)] for y in data.y]
            texts, files = None, data.files
            rows = {int(v): k for k, v in enumerate(data.index)} if data.index is not None else {}
    except AelabError:
        return [{} for _ in ids]
    out = []
    for i in ids.tolist():
        k = rows.get(int(i))
        about: dict[str, Any] = {}
        if k is not None:
            if labels is not None:
                about["label"] = labels[k]
            if files is not None:
                about["file"] = files[k]
            if texts is not None:
                about["text"] = excerpt(texts[k])
        out.append(about)
    return out
