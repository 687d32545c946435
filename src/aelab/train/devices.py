"""Which device a run trains on: "auto" picks cuda, else mps, else cpu."""

from __future__ import annotations

from ..errors import ConfigError

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str = "auto") -> str:
    """"auto" -> cuda, else mps, else cpu; an explicit device that is not there is a one-line error."""
    import torch

    if name not in DEVICES and not name.startswith("cuda:"):
        raise ConfigError(f"unknown device {name!r}; known: {', '.join(DEVICES)} (or cuda:N)")
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but this torch sees no CUDA GPU (torch {torch.__version__})")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("device 'mps' asked for, but this machine has no Apple GPU available to torch")
    return name
