"""`aelab encode`: write the codes of a data split, in the data's own order, with what each row is."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from ..errors import ConfigError
from .common import add_data_args, need, path_arg, refuse_existing, run_data

HELP = "write the codes of a data split, in source order, with each row's index (and file, label)"

EPILOG = """\
Rows are written in the order of the source: the row of a .npy file, the sorted file list of a
folder, scikit-learn's order for digits (for mnist and fashion-mnist: train rows, then test row i
as 60000 + i). With --data the default split is all (every row); on the run's own data it is test.
Unless given, --image-size is the run's (if it trained with one), --val-fraction the run's on its
own data.

-o codes.npz   one file with arrays codes (N, D) float32, index (N,) int64, labels (N,) int64 when
               the data has labels, files (N,) unicode (paths relative to a folder of images), and
               classes (the label names) when known; read it with np.load(path) (no pickle).
-o codes.npy   the bare codes (N, D), plus a sidecar codes.index.csv beside it: a header row, then
               one row per code with columns index, file (image folders), label (labelled data).
Neither file, nor the sidecar, is replaced without --overwrite.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `aelab encode`."""
    p.description = HELP
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("run", type=path_arg)
    add_data_args(p, default=None)
    p.add_argument("--split", default=None, choices=["train", "test", "all"],
                   help="which rows: default all with --data, test on the run's own data")
    p.add_argument("-o", "--output", type=path_arg, required=True,
                   help="codes.npz, or codes.npy with a codes.index.csv sidecar")
    p.add_argument("--real", action="store_true",
                   help="for a model with binary codes (semhash): write the code units' activities in [0, 1] "
                        "instead of the packed bits")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--no-progress", action="store_true")


def sidecar_path(output: Path) -> Path:
    """Where the row table of a bare .npy of codes goes: codes.npy -> codes.index.csv."""
    return output.with_name(f"{output.stem}.index.csv")


def _row_table(data, order) -> tuple[dict[str, "object"], list[str]]:
    """The arrays that say what each code is (index, labels, files, classes) in output order, and notes."""
    import numpy as np

    notes = []
    if data.index is not None:
        index = np.asarray(data.index, dtype=np.int64)[order]
    else:  # a third-party loader that does not say: the best we have is the position in the split
        index = np.arange(len(data), dtype=np.int64)
        notes.append(f"{data.name} does not record its rows' source positions; "
                     "index is the row's position in the split")
    table: dict[str, object] = {"index": index}
    if data.files is not None:
        table["files"] = np.array([data.files[i] for i in order], dtype=str)  # fixed-width unicode, never object
    if data.y is not None:
        table["labels"] = data.y.numpy().astype(np.int64)[order]
    if data.classes is not None:
        table["classes"] = np.array(list(data.classes), dtype=str)
    return table, notes


def _csv_bytes(table: dict) -> bytes:
    cols = ["index"] + [c for c in ("files", "labels") if c in table]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([{"files": "file", "labels": "label"}.get(c, c) for c in cols])
    for row in zip(*(table[c].tolist() for c in cols)):
        w.writerow(row)
    return buf.getvalue().encode()


def _npz_bytes(arrays: dict) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, **arrays)  # every array is numeric or fixed-width unicode: nothing is pickled
    return buf.getvalue()


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..batching import map_batches
    from ..eval.reconstruction import encode_all
    from ..index.bits import pack_bits
    from ..models.capabilities import BinaryCoder, Encoder
    from ..fsio import atomic_write_bytes, atomic_write_npy

    out: Path = args.output
    if out.suffix not in (".npy", ".npz"):
        raise ConfigError(f"output {out} must end in .npy (with a {sidecar_path(out.with_suffix('.npy')).name} "
                          "sidecar) or .npz")
    sidecar = sidecar_path(out) if out.suffix == ".npy" else None
    refuse_existing(out, args.overwrite)
    if sidecar is not None:
        refuse_existing(sidecar, args.overwrite)
    split = args.split or ("all" if args.data else "test")
    model, data, _ = run_data(args, split)
    need(model, (Encoder,), "encode data")
    # codes in source order: a train/test split comes in its seeded shuffle, which means nothing to a user
    order = np.argsort(data.index, kind="stable") if data.index is not None else np.arange(len(data))
    x = data.x if np.array_equal(order, np.arange(len(data))) else data.x[order]
    binary = isinstance(model, BinaryCoder) and not args.real
    if binary:  # the hash: bits packed into uint64 words (aelab.index's bit order), ready for an index
        bits = map_batches(model, x, model.binary_codes, progress=None if args.no_progress else "encode").numpy()
        codes, n_bits = pack_bits(bits), bits.shape[1]
    else:
        codes = encode_all(model, x, progress=None if args.no_progress else "encode").numpy()
    table, notes = _row_table(data, order)
    for note in notes:
        print(f"aelab: warning: {note}", file=sys.stderr)
    if sidecar is not None:
        atomic_write_bytes(sidecar, _csv_bytes(table))  # first, so the codes (the file asked for) come last
        atomic_write_npy(out, codes)
        what = f"{out} (rows: {sidecar.name})"
    else:
        extra = {"bits": np.array(n_bits)} if binary else {}
        atomic_write_bytes(out, _npz_bytes({"codes": codes, **extra, **table}))
        what = f"{out} ({', '.join(['codes', *table])})"
    kind = f"{n_bits}-bit codes packed in {codes.shape[1]} uint64 word(s)" if binary \
        else f"codes of dimension {codes.shape[1]}"
    print(f"wrote {codes.shape[0]} {kind} ({split} split of {data.name}, "
          f"in source order) to {what}")
    return 0
