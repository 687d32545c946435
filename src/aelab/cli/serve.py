"""`aelab serve`: a local web page over a folder of runs (and an index to search)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ConfigError
from .common import path_arg, positive_int

HELP = "a local web page to look at runs, explore their latent spaces and search an index (pip install 'aelab[web]')"
LOCAL = ("127.0.0.1", "localhost", "::1")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `aelab serve`."""
    p.add_argument("runs_dir", nargs="?", type=path_arg, default=Path("runs"), metavar="RUNS_DIR",
                   help="the folder whose runs the page shows (default ./runs)")
    p.add_argument("--index", type=path_arg, default=None, help="an index folder (aelab index build) to search")
    p.add_argument("--port", type=positive_int, default=8765)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; another says so in a warning)")


def run(args: argparse.Namespace) -> int:
    try:
        import starlette  # noqa: F401
        import uvicorn
    except ModuleNotFoundError as e:
        raise ConfigError(f"aelab serve needs the web extra ({e.name} is missing): pip install 'aelab[web]'") from None
    if not Path(args.runs_dir).is_dir():
        raise ConfigError(f"{args.runs_dir} is not a folder (aelab serve RUNS_DIR: the folder of your runs)")
    from ..web.app import make_app, plotly_js

    plotly_js()  # missing Plotly: said now, not on the first page load
    app = make_app(Path(args.runs_dir), args.index)
    if args.host not in LOCAL:
        print(f"aelab: warning: listening on {args.host}: anyone who can reach this machine on port {args.port} "
              "can read these runs", file=sys.stderr)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"aelab serve: http://{host}:{args.port}/ (runs in {Path(args.runs_dir).resolve()}; Ctrl-C stops it)",
          flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
