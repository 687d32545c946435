"""aelab's optimisers: torch.optim's arithmetic exactly, without importing the compiler (start-up time)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from aelab.train import optimizers


def _params(seed: int) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(shape, generator=g)) for shape in [(7, 5), (5,), (3, 7)]]


def _run(cls, kwargs: dict, steps: int = 5) -> tuple[list[torch.Tensor], dict]:
    params = _params(0)
    opt = cls(params, **kwargs)
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=g)
        opt.step()
    return [p.detach().clone() for p in params], opt.state_dict()


@pytest.mark.parametrize("name,kwargs", [
    ("Adam", {"lr": 1e-2}), ("Adam", {"lr": 1e-2, "fused": True}), ("Adam", {"lr": 1e-2, "weight_decay": 0.1}),
    ("AdamW", {"lr": 1e-2, "weight_decay": 0.1, "fused": True}), ("SGD", {"lr": 0.1, "momentum": 0.9}),
])
def test_same_steps_and_state_as_torch(name: str, kwargs: dict) -> None:
    ours, ours_state = _run(getattr(optimizers, name), kwargs)
    theirs, theirs_state = _run(getattr(torch.optim, name), kwargs)
    for a, b in zip(ours, theirs):
        assert torch.equal(a, b)
    assert ours_state["param_groups"] == theirs_state["param_groups"]
    for i, state in theirs_state["state"].items():
        for key, value in state.items():
            assert torch.equal(ours_state["state"][i][key], value), key
    # a state saved by one loads into the other and goes on identically
    params = _params(0)
    resumed = getattr(torch.optim, name)(params, **kwargs)
    resumed.load_state_dict(ours_state)
    assert resumed.state_dict()["param_groups"] == ours_state["param_groups"]


def test_a_closure_runs_with_gradients_and_its_step_is_applied() -> None:
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = optimizers.Adam([p], lr=0.1)
    seen = []

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (p ** 2).sum()
        loss.backward()
        seen.append(torch.is_grad_enabled())
        return loss

    before = p.detach().clone()
    loss = opt.step(closure)
    assert float(loss.detach()) == pytest.approx(5.0) and seen == [True]
    assert not torch.equal(p.detach(), before)  # the closure's gradient was applied


def test_training_loads_neither_the_compiler_nor_matplotlib(tmp_path) -> None:
    """A whole training run (steps, checkpoints, resume) in a fresh process: torch._dynamo and matplotlib, each
    about a second of start-up, are never imported."""
    code = (
        "import sys, torch, aelab\n"
        "x = torch.rand(64, 1, 8, 8)\n"
        f"aelab.fit('vae', x, out=r'{tmp_path / 'run'}', preset='tiny', train={{'epochs': 2, 'batch_size': 16}},"
        " test=None, progress=False)\n"
        f"aelab.fit(out=r'{tmp_path / 'run'}', data=x, test=None, progress=False, resume=True, epochs=3)\n"
        "print(sorted(m for m in ('torch._dynamo', 'matplotlib') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
