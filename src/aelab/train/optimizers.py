"""torch.optim's Adam, AdamW and SGD, with the same arithmetic, minus the import of torch._dynamo on first use.

torch.optim wraps `add_param_group`, `state_dict`, `load_state_dict` and `zero_grad` in `torch._disable_dynamo`,
and `step` in `_use_grad_for_differentiable`, and both wrappers import torch._dynamo (the compiler) the first time
they run: about a second of every command's start (bench/throughput.py, "start-up"). aelab never compiles an
optimiser, so its optimisers call the functions underneath, `step` under `torch.no_grad()` as the wrapper does for
an optimiser that is not differentiable. Where a torch release no longer has those wrappers, the plain classes
are used (tests/test_optimizers.py checks both the arithmetic and that the compiler stays unloaded).
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import torch
from torch.optim import Optimizer

WRAPPED = ("add_param_group", "state_dict", "load_state_dict", "zero_grad")


def _inner(f: Callable[..., Any]) -> Callable[..., Any] | None:
    """The function a torch._disable_dynamo wrapper holds, or None when `f` is not such a wrapper."""
    inner = getattr(f, "__wrapped__", None)
    return inner if inner is not None and inner.__name__ == f.__name__ else None


def _without_compiler(cls: type[Optimizer]) -> type[Optimizer]:
    """`cls` calling the undecorated functions, or `cls` itself when they cannot be found."""
    methods: dict[str, Any] = {}
    for name in WRAPPED:
        inner = _inner(getattr(Optimizer, name))
        if inner is None:
            return cls
        methods[name] = inner
    raw_step = inspect.unwrap(cls.step)
    if raw_step is cls.step or raw_step.__qualname__ != f"{cls.__name__}.step":
        return cls

    def step(self: Optimizer, closure: Callable[[], Any] | None = None) -> Any:
        if self.defaults.get("differentiable"):
            return cls.step(self, closure)
        with torch.no_grad():
            return raw_step(self, closure)

    step.__doc__ = raw_step.__doc__
    return type(cls.__name__, (cls,), {**methods, "step": step, "__module__": __name__,
                                       "__doc__": f"torch.optim.{cls.__name__} without the compiler's import."})


Adam = _without_compiler(torch.optim.Adam)
AdamW = _without_compiler(torch.optim.AdamW)
SGD = _without_compiler(torch.optim.SGD)
