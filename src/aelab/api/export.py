"""`aelab.export`: a trained model's networks as files other runtimes read: ONNX (ONNX Runtime, TensorRT, the web) or
TorchScript (libtorch). One file per part the model has: the encoder (x -> codes), the decoder (codes -> x), the
sampler (noise -> x, where sampling is a plain network of N(0, I) noise), the hasher (x -> bits) and the restorer
(corrupted x -> clean x), and export.json describing each file's input and output."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

FORMATS = ("onnx", "torchscript")
SUFFIX = {"onnx": ".onnx", "torchscript": ".pt"}


@dataclass(frozen=True)
class Part:
    """One exported network: its name, what it reads and gives, an example input, and the function of the model."""

    name: str
    input: str
    output: str
    example: Any  # a tensor of 2 examples
    fn: Callable[[Any, Any], Any]  # (model, input) -> output
    spatial: bool = False  # height and width of the input may change (a fully convolutional restorer)


def parts(model: Any) -> list[Part]:
    """The parts of `model` that export, each a plain network of its input (a stochastic or autoregressive sampler,
    e.g. a PixelCNN prior's, is not one, and is left out)."""
    import torch

    from ..models.capabilities import AnySize, BinaryCoder, Decoder, Encoder, NoiseSampler, Restorer

    gen = torch.Generator().manual_seed(0)
    x = model.example_input(2, generator=gen)
    found: list[Part] = []
    if isinstance(model, Encoder) and model.traits.codes != "none":
        found.append(Part("encoder", "x", "codes", x, lambda m, v: m.encode(v)))
        if isinstance(model, Decoder):
            with torch.no_grad():
                codes = model.encode(x)
            found.append(Part("decoder", "codes", "x", codes, lambda m, v: m.decode(v)))
    if isinstance(model, NoiseSampler):
        noise = torch.randn(2, *model.noise_shape, generator=gen)
        found.append(Part("sampler", "noise", "x", noise, lambda m, v: m.sample_from(v)))
    if isinstance(model, BinaryCoder):
        found.append(Part("hasher", "x", "bits", x, lambda m, v: m.binary_codes(v).to(torch.uint8)))
    if isinstance(model, Restorer):
        found.append(Part("restorer", "x", "restored", x, lambda m, v: m.restore(v), spatial=isinstance(model, AnySize)))
    return found


def network(model: Any, part: Part) -> Any:
    """A part as an nn.Module of its one input (what the exporters trace)."""
    from torch import nn

    class Network(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, v: Any) -> Any:
            return part.fn(self.model, v)

    return Network().eval()


def export(run_dir: str | Path, fmt: str = "onnx", out: str | Path | None = None, overwrite: bool = False,
           check: bool = True) -> dict[str, Any]:
    """Write the run's model's parts as `fmt` files into `out` (default RUN/export) with export.json; returns what
    export.json holds. ONNX files are checked against PyTorch with ONNX Runtime when it is installed (`check`)."""
    import torch

    from ..errors import ConfigError, UsageError
    from ..fsio import atomic_write_bytes
    from ..runs import RunFolder
    from .fit import load

    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}; use {' or '.join(FORMATS)}")
    folder = RunFolder(run_dir)
    model = load(folder.path).cpu().eval()
    found = parts(model)
    if not found:
        raise ConfigError(f"{model.name} has no part that is a plain network to export")
    target = Path(out) if out is not None else folder.export_path
    files = {p.name: target / f"{p.name}{SUFFIX[fmt]}" for p in found}
    clash = [f for f in [*files.values(), target / "export.json"] if f.exists()]
    if clash and not overwrite:
        raise ConfigError(f"{clash[0]} exists; export elsewhere (--out) or pass --overwrite")
    target.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {"model": model.name, "format": fmt, "torch": torch.__version__,
                              "input_shape": list(model.input_shape), "parts": {}}
    for part in found:
        net = network(model, part)
        with torch.no_grad():
            expected = net(part.example)
        data = _onnx(net, part) if fmt == "onnx" else _torchscript(net, part)
        atomic_write_bytes(files[part.name], data)
        entry = {"file": files[part.name].name, "input": part.input, "output": part.output,
                 "input_shape": ["batch", *_dims(part)], "input_dtype": str(part.example.dtype).removeprefix("torch."),
                 "output_shape": ["batch", *_dims(part, expected)], "output_dtype": str(expected.dtype).removeprefix("torch.")}
        if check:
            diff = _check(files[part.name], fmt, part, net)
            if diff is not None:
                entry["max_abs_diff_vs_pytorch"] = diff
        record["parts"][part.name] = entry
    atomic_write_bytes(target / "export.json", (json.dumps(record, indent=2) + "\n").encode())
    record["folder"] = str(target)
    return record


def _dims(part: Part, tensor: Any = None) -> list[Any]:
    """The sizes after the batch of the part's input (or of `tensor`, its output), height and width named where they
    may change."""
    dims: list[Any] = list((part.example if tensor is None else tensor).shape[1:])
    if part.spatial:
        dims[-2:] = ["height", "width"]
    return dims


def _dynamic_axes(part: Part) -> dict[str, dict[int, str]]:
    axes = {part.input: {0: "batch"}, part.output: {0: "batch"}}
    if part.spatial:
        rank = part.example.dim()
        axes[part.input].update({rank - 2: "height", rank - 1: "width"})
        axes[part.output].update({rank - 2: "height", rank - 1: "width"})
    return axes


def _onnx(network: Any, part: Part) -> bytes:
    import io

    import torch

    from ..errors import ConfigError

    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation notes
            torch.onnx.export(network, (part.example,), buffer, input_names=[part.input], output_names=[part.output],
                              dynamic_axes=_dynamic_axes(part), dynamo=False)
    except ModuleNotFoundError as e:
        raise ConfigError(f"ONNX export needs the onnx package ({e.name} is missing): pip install 'aelab[onnx]'") \
            from None
    return buffer.getvalue()


def _torchscript(network: Any, part: Part) -> bytes:
    import io

    import torch

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch 2.13 deprecates TorchScript; libtorch still loads it
        traced = torch.jit.trace(network, (part.example,), check_trace=False)
    torch.jit.save(traced, buffer)
    return buffer.getvalue()


def _check(path: Path, fmt: str, part: Part, network: Any) -> float | None:
    """The largest difference between the file's output and PyTorch's on a batch of 3 (another size than the one
    traced; None when ONNX Runtime is not installed)."""
    import torch

    batch = torch.cat([part.example, part.example[:1]])
    if part.spatial:  # and another height and width
        batch = torch.nn.functional.pad(batch, (0, 5, 0, 3), mode="reflect")
    with torch.no_grad():
        expected = network(batch).double()
    if fmt == "torchscript":
        loaded = torch.jit.load(str(path))
        with torch.no_grad():
            got = loaded(batch).double()
        return float((got - expected).abs().max())
    try:
        import onnxruntime
    except ModuleNotFoundError:
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {part.input: batch.numpy()})
    return float(abs(got.astype("float64") - expected.numpy()).max())
