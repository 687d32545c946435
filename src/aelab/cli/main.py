"""The `aelab` command: one module per subcommand (its options and its function); torch loads only when one runs."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

from ..config import notes_once
from ..errors import AelabError, UsageError
from .common import Parser

# Subcommand -> module in this package with HELP, add_arguments(parser) and run(args) -> exit status.
COMMANDS = ("train", "eval", "encode", "reconstruct", "denoise", "inpaint", "report", "sample", "interpolate", "index",
            "search", "export", "serve", "bench", "models", "data")


def _module(command: str):
    return importlib.import_module(f"{__package__}.{command}")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used to document the CLI)."""
    from .. import __version__

    p = Parser(prog="aelab", description="Train, evaluate and use autoencoders.")
    p.add_argument("--version", action="version", version=f"aelab {__version__}")
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for command in COMMANDS:
        module = _module(command)
        module.add_arguments(sub.add_parser(command, help=module.HELP))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: user errors are one line on stderr and a non-zero exit."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # usage errors (one line, see Parser) and --help
        return int(e.code or 0)
    try:
        with notes_once():  # a renamed config key is noted once in a command, however often it is read
            return _module(args.command).run(args)
    except AelabError as e:
        if args.debug:
            raise
        print(f"aelab: error: {e}", file=sys.stderr)
        return 2 if isinstance(e, UsageError) else 1
    except KeyboardInterrupt:
        resumable = args.command == "train"
        print("aelab: interrupted" + ("; the run continues from its last checkpoint with --resume" if resumable else ""),
              file=sys.stderr)
        return 130
    except BrokenPipeError:  # `aelab eval RUN | head`: the reader has what it wanted
        sys.stdout = open(os.devnull, "w")
        return 0
    except OSError as e:
        if args.debug:
            raise
        print(f"aelab: error: {e.filename}: {e.strerror or e}" if e.filename else f"aelab: error: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001  (last resort: still one line, the traceback on --debug)
        if args.debug:
            raise
        memory = _out_of_memory(e)
        if memory:
            print(f"aelab: error: {memory}", file=sys.stderr)
            return 1
        first = str(e).splitlines()[0][:200] if str(e) else ""
        print(f"aelab: internal error: {type(e).__name__}: {first} (rerun with --debug for the traceback)", file=sys.stderr)
        return 3



def _out_of_memory(e: Exception) -> str | None:
    """One line for an allocation that failed (CPU or GPU), with the size it asked for; None for other errors."""
    import re

    text = str(e)
    if type(e).__name__ != "OutOfMemoryError" and not isinstance(e, MemoryError) \
            and "can't allocate memory" not in text and "out of memory" not in text.lower():
        return None
    asked = re.search(r"allocate (\d+) bytes", text) or re.search(r"allocate ([\d.]+ [KMGT]i?B)", text)
    size = ""
    if asked:
        size = asked.group(1)
        if size.isdigit():
            size = f"{int(size) / 2**30:.1f} GiB"
        size = f" ({size} needed at once)"
    device = "GPU" if "CUDA" in text or type(e).__name__ == "OutOfMemoryError" else "memory"
    return (f"out of {device}{size}: make the model or --batch-size smaller, or use a machine with more memory")
