"""Run folders on disk: `RunFolder` is the one reader and writer of their files."""

from .folder import MetricsLog, RunFolder, read_json, read_tensors, versions

__all__ = ["MetricsLog", "RunFolder", "read_json", "read_tensors", "versions"]
