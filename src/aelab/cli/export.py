"""`aelab export`: a run's networks as ONNX or TorchScript files for other runtimes."""

from __future__ import annotations

import argparse

from .common import path_arg

HELP = "write a run's encoder, decoder, sampler, hasher or restorer as ONNX or TorchScript files"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `aelab export`."""
    p.add_argument("run", type=path_arg)
    p.add_argument("--format", choices=("onnx", "torchscript"), default="onnx",
                   help="onnx (needs pip install 'aelab[onnx]'; checked with ONNX Runtime when installed) or "
                        "torchscript (for libtorch; PyTorch 2.13 deprecates it)")
    p.add_argument("-o", "--out", type=path_arg, default=None, help="folder to write (default: RUN/export)")
    p.add_argument("--overwrite", action="store_true", help="replace files an earlier export wrote there")


def run(args: argparse.Namespace) -> int:
    from ..api.export import export

    record = export(args.run, args.format, args.out, args.overwrite)
    for name, part in record["parts"].items():
        shapes = f"{part['input']} {_shape(part['input_shape'])} -> {part['output']} {_shape(part['output_shape'])}"
        checked = part.get("max_abs_diff_vs_pytorch")
        note = f"; max |difference| from PyTorch {checked:.1e}" if checked is not None else ""
        print(f"{name:9s} {record['folder']}/{part['file']}: {shapes}{note}")
    print(f"described in {record['folder']}/export.json")
    return 0


def _shape(dims: list) -> str:
    return "(" + ", ".join(str(d) for d in dims) + ")"
