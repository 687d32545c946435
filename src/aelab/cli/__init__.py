"""The `aelab` command line: `main` is the entry point; each subcommand lives in its own module here."""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
