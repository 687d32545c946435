"""The version of aelab, in one place (the package and every run folder record it)."""

__version__ = "0.1.0"
