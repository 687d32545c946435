"""Devices and precision come from the trainer, for every model; resume stays exact in every precision."""

import json

import pytest
import torch

from aelab.cli import main
from aelab.errors import ConfigError
from aelab.models import Update, build_model
from aelab.recipes import presets
from aelab.recipes.train import TrainConfig
from aelab.train.callbacks import StopAt
from aelab.train.devices import resolve_device
from aelab.train.trainer import Trainer

AE = {"input_shape": [1, 8, 8], "hidden": [16], "latent_dim": 3}


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def data():
    return torch.rand(120, 1, 8, 8, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("name, config", [("ae", AE), ("vaegan", "tiny")])
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_and_resumes_exactly(tmp_path, name, config, precision):
    cfg = presets(name)["tiny"] if config == "tiny" else config
    tc = TrainConfig(epochs=3, batch_size=20, checkpoint_every=5, precision=precision, schedule="constant")
    torch.manual_seed(0)
    full = build_model(name, cfg)
    Trainer(full, data(), tc, tmp_path / "full", device="cpu").fit()
    torch.manual_seed(0)
    Trainer(build_model(name, cfg), data(), tc, tmp_path / "cut", device="cpu", callbacks=[StopAt(8)]).fit()
    torch.manual_seed(0)
    resumed = build_model(name, cfg)
    Trainer(resumed, data(), tc, tmp_path / "cut", device="cpu").fit(resume=True)
    a, b = weights(full), weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a) and all(torch.isfinite(v).all() for v in a.values())
    state = json.loads((tmp_path / "cut" / "trainer.json").read_text())
    scalers = [m.get("grad_scaler") for m in state["optimizers"].values()]
    assert all(s is not None for s in scalers) if precision == "fp16" else not any(scalers)


def test_fp16_skips_a_step_with_infinite_gradients_instead_of_stopping(tmp_path):
    torch.manual_seed(0)
    model = build_model("ae", AE)
    trainer = Trainer(model, data(), TrainConfig(epochs=1, batch_size=20, precision="fp16"), tmp_path, device="cpu")
    real = trainer.updates[0].loss

    def poisoned(batch, progress):
        terms = real(batch, progress)
        if progress.step == 2:
            w = trainer.updates[0].params[0].flatten()[0]
            terms["loss"] = terms["loss"] + (w - w.detach()).abs().sqrt()  # infinite gradient, finite loss
        return terms

    trainer.updates[0] = Update("model", trainer.updates[0].params, poisoned)
    scale = trainer.scalers["model"].get_scale()
    trainer.fit()  # fp32 would stop here with "the gradient became NaN/inf"
    assert trainer.scalers["model"].get_scale() < scale  # the scaler backed off, as GradScaler does
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_devices_are_resolved_or_refused_in_one_line(tmp_path, capsys):
    assert resolve_device("auto") in ("cpu", "cuda", "mps") and resolve_device("cpu") == "cpu"
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        assert main(["train", "ae", "--device", "cuda", "--out", str(tmp_path / "r"), "--no-progress"]) == 1
        assert "sees no CUDA GPU" in capsys.readouterr().err
    assert main(["train", "ae", "--preset", "tiny", "--epochs", "1", "--precision", "bf16", "--device", "cpu",
                 "--out", str(tmp_path / "b"), "--no-progress", "--no-report"]) == 0
    assert json.loads((tmp_path / "b" / "config.json").read_text())["stages"][0]["train"]["precision"] == "bf16"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_cuda_training_resumes_exactly(tmp_path, precision):
    tc = TrainConfig(epochs=3, batch_size=20, checkpoint_every=5, precision=precision, binarize=True)
    torch.manual_seed(0)
    full = build_model("vae", {"input_shape": [1, 8, 8], "hidden": [16], "latent_dim": 2})
    Trainer(full, data(), tc, tmp_path / "full", device="cuda").fit()
    torch.manual_seed(0)
    cut = build_model("vae", {"input_shape": [1, 8, 8], "hidden": [16], "latent_dim": 2})
    Trainer(cut, data(), tc, tmp_path / "cut", device="cuda", callbacks=[StopAt(8)]).fit()
    torch.manual_seed(0)
    resumed = build_model("vae", {"input_shape": [1, 8, 8], "hidden": [16], "latent_dim": 2})
    Trainer(resumed, data(), tc, tmp_path / "cut", device="cuda").fit(resume=True)
    a, b = weights(full), weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
