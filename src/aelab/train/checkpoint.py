"""Checkpoints as safetensors + JSON, written atomically; nothing here ever unpickles."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor, nn

from ..errors import CheckpointError
from ..fsio import atomic_write_bytes, atomic_write_json  # noqa: F401  (re-exported)


def read_json(path: Path, what: str = "file") -> Any:
    """Read JSON or raise a one-line CheckpointError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} {path} is missing")
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{what} {path} is not valid JSON ({e.__class__.__name__})") from None


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tensors_to_bytes(tensors: dict[str, Tensor]) -> bytes:
    """safetensors bytes for a flat dict of tensors (made contiguous, unshared)."""
    return st_save({k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()})


def read_tensors(path: Path, expected_sha256: str | None = None) -> dict[str, Tensor]:
    """Load a safetensors file, checking its checksum when one is recorded."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file {path} is missing")
    data = path.read_bytes()
    if expected_sha256 is not None and sha256_bytes(data) != expected_sha256:
        raise CheckpointError(f"checkpoint file {path} does not match its recorded checksum (corrupt or half-written)")
    try:
        return st_load(data)
    except (SafetensorError, ValueError, RuntimeError, OSError) as e:
        raise CheckpointError(f"{path} is not a valid safetensors file ({str(e).splitlines()[0][:120]})") from None


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


def read_checkpoint(folder: Path, model_name: str | None = None) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """The committed checkpoint in `folder`: trainer.json (the commit point) and the weights it vouches for.

    The weights are checked against the checksum trainer.json records; with `model_name`, a
    checkpoint of another model is refused. Every reader of a checkpoint goes through here.
    """
    folder = Path(folder)
    state = read_json(folder / "trainer.json", "trainer state")
    if not isinstance(state, dict) or "step" not in state:
        raise CheckpointError(f"trainer state {folder / 'trainer.json'} has no step (not a checkpoint)")
    recorded = state.get("model", {}).get("name") if isinstance(state.get("model"), dict) else None
    if model_name is not None and recorded != model_name:
        raise CheckpointError(f"{folder} holds a {recorded!r} checkpoint, not {model_name!r}")
    weights = read_tensors(folder / "model.safetensors", state.get("model_sha256"))
    return state, weights
