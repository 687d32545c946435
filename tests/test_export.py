"""aelab export: each network of a run as ONNX (checked here with ONNX Runtime) or TorchScript, giving what PyTorch
gives on the same inputs, at other batch sizes (and, for a fully convolutional restorer, other image sizes)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import aelab
from aelab.cli import main

ort = pytest.importorskip("onnxruntime", reason="ONNX Runtime is an optional test extra: pip install 'aelab[test]'")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {name: aelab.fit(name, "digits", out=root / name, preset="tiny", train={"epochs": 1}, progress=False,
                            test=None).path
            for name in ("ae", "vae", "semhash", "dncnn", "vqvae")}


EXPECTED_PARTS = {"ae": {"encoder", "decoder", "restorer"}, "vae": {"encoder", "decoder", "sampler", "restorer"},
                  "semhash": {"encoder", "decoder", "hasher", "restorer"}, "dncnn": {"restorer"},
                  "vqvae": {"encoder", "decoder", "restorer"}}


def pytorch(model, part: str, v: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        out = {"encoder": lambda t: model.encode(t), "decoder": lambda t: model.decode(t),
               "restorer": lambda t: model.restore(t), "sampler": lambda t: model.sample_from(t),
               "hasher": lambda t: model.binary_codes(t).to(torch.uint8)}[part](v)
    return out.numpy()


def inputs(model, part: str, record: dict) -> torch.Tensor:
    gen = torch.Generator().manual_seed(7)
    if part == "sampler":
        return torch.randn(5, *model.noise_shape, generator=gen)
    if part == "decoder":
        with torch.no_grad():
            return model.encode(model.example_input(5, generator=gen))
    x = model.example_input(5, generator=gen)
    if record["input_shape"][-1] == "width":  # any size: another height and width than the ones traced
        x = torch.rand(5, x.shape[1], 13, 21, generator=gen)
    return x


@pytest.mark.parametrize("name", sorted(EXPECTED_PARTS))
def test_onnx_runtime_gives_what_pytorch_gives(runs, name, capsys):
    assert main(["export", str(runs[name])]) == 0
    printed = capsys.readouterr().out
    record = json.loads((runs[name] / "export" / "export.json").read_text())
    assert set(record["parts"]) == EXPECTED_PARTS[name]
    model = aelab.load(runs[name])
    for part, entry in record["parts"].items():
        assert f"{part}" in printed and entry["max_abs_diff_vs_pytorch"] < 1e-5
        session = ort.InferenceSession(str(runs[name] / "export" / entry["file"]), providers=["CPUExecutionProvider"])
        v = inputs(model, part, entry)
        (got,) = session.run(None, {entry["input"]: v.numpy()})
        want = pytorch(model, part, v)
        assert got.shape == want.shape and np.allclose(got, want, atol=1e-5), (name, part)


def test_torchscript_and_the_files_are_never_overwritten(runs, tmp_path, capsys):
    out = tmp_path / "ts"
    record = aelab.export(runs["vae"], "torchscript", out)
    model = aelab.load(runs["vae"])
    for part, entry in record["parts"].items():
        loaded = torch.jit.load(str(out / entry["file"]))
        v = inputs(model, part, entry)
        with torch.no_grad():
            assert np.allclose(loaded(v).numpy(), pytorch(model, part, v), atol=1e-6)
    before = (out / "encoder.pt").read_bytes()
    assert main(["export", str(runs["vae"]), "--format", "torchscript", "-o", str(out)]) == 1
    assert "exists" in capsys.readouterr().err and (out / "encoder.pt").read_bytes() == before
    assert main(["export", str(runs["vae"]), "--format", "torchscript", "-o", str(out), "--overwrite"]) == 0
