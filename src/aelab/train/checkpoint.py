"""Tensors to and from checkpoint form: safetensors bytes, weights checked against the model, optimiser state.

The files themselves are written and read by `runs.RunFolder`; nothing here ever unpickles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as st_save
from torch import Tensor, nn

from ..errors import CheckpointError


def tensors_to_bytes(tensors: dict[str, Tensor]) -> bytes:
    """safetensors bytes for a flat dict of tensors (made contiguous, unshared)."""
    return st_save({k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()})


def load_weights(module: nn.Module, tensors: dict[str, Tensor], source: Path | str) -> None:
    """Copy `tensors` into `module`, refusing missing, unexpected or misshapen entries."""
    own = module.state_dict()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:4])}{' ...' if len(unexpected) > 4 else ''}")
        raise CheckpointError(f"weights in {source} do not fit the model: {'; '.join(parts)}")
    for k, v in own.items():
        if tuple(tensors[k].shape) != tuple(v.shape):
            raise CheckpointError(
                f"weights in {source}: {k} has shape {tuple(tensors[k].shape)}, the model needs {tuple(v.shape)}"
            )
        if not torch.isfinite(tensors[k]).all() and tensors[k].is_floating_point():
            raise CheckpointError(f"weights in {source}: {k} contains NaN or inf")
    module.load_state_dict({k: t.to(own[k].dtype) for k, t in tensors.items()})


def optimizer_state(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Split an optimiser's state into tensors (for safetensors) and JSON-safe scalars."""
    sd = opt.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        for key, val in st.items():
            if isinstance(val, Tensor):
                tensors[f"{prefix}/state/{idx}/{key}"] = val
            else:
                scalars.setdefault(str(idx), {})[key] = val
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def load_optimizer_state(opt: torch.optim.Optimizer, prefix: str, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
    """Inverse of `optimizer_state`."""
    state: dict[int, dict[str, Any]] = {}
    head = f"{prefix}/state/"
    for name, t in tensors.items():
        if name.startswith(head):
            idx, key = name[len(head) :].split("/", 1)
            state.setdefault(int(idx), {})[key] = t
    for idx, sc in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(sc)
    groups = []
    for g in meta["param_groups"]:
        g = dict(g)
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    try:
        opt.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError, RuntimeError) as e:
        raise CheckpointError(f"optimiser state for step {prefix!r} does not fit the model ({e})") from None
