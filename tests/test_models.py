import pytest
import torch

import aelab
from aelab.batching import map_batches
from aelab.config import to_dict
from aelab.errors import CheckpointError, ConfigError
from aelab.eval.reconstruction import evaluate
from aelab.models import build_model, model_names
from aelab.models.ae import AEConfig
from aelab.models.rbm import RBM, RBMConfig, unroll_into
from aelab.recipes.ae import PRESETS
from aelab.recipes.train import TrainConfig
from aelab.train.callbacks import StopAt
from aelab.train.plan import plan_run
from aelab.train.trainer import Trainer


def test_registry_knows_models_and_refuses_unknown():
    assert {"ae", "rbm"} <= set(model_names())
    with pytest.raises(ConfigError, match="unknown model 'vea'.*ae"):
        build_model("vea", {})
    with pytest.raises(ConfigError, match="unknown key"):
        build_model("ae", {"code_size": 3})


def test_paper_presets():
    assert AEConfig(**PRESETS["hinton2006"]).sizes == [784, 1000, 500, 250, 30]
    assert AEConfig(**PRESETS["hinton2006-2d"]).sizes == [784, 1000, 500, 250, 2]
    model = build_model("ae", PRESETS["hinton2006"])
    z = model.encode(torch.rand(3, 1, 28, 28))
    assert z.shape == (3, 30)
    assert model.decode(z).shape == (3, 1, 28, 28)
    # The code layer is linear: nothing squashes it into (0, 1).
    assert isinstance(model.encoder[-1], torch.nn.Linear)


def test_cd1_lowers_rbm_reconstruction_error(tmp_path, digits):
    train, test = digits
    torch.manual_seed(0)
    rbm = RBM(RBMConfig(input_shape=(1, 8, 8), latent_dim=64))
    before = evaluate(rbm, test.x)["sq_err"]
    Trainer(rbm, train.x, TrainConfig(epochs=5, batch_size=20, optimizer="sgd", lr=0.1), tmp_path).fit()
    after = evaluate(rbm, test.x)["sq_err"]
    assert after < 0.6 * before


def test_cd1_gradient_is_the_contrastive_divergence_update():
    torch.manual_seed(0)
    rbm = RBM(RBMConfig(input_shape=(1, 1, 6), latent_dim=4, weight_cost=0.0))
    v = torch.rand(5, 1, 1, 6)
    torch.manual_seed(1)
    rbm.cd1_loss(aelab.models.Batch(v), aelab.models.Progress.at())["loss"].backward()
    # Recompute the paper's update by hand with the same random draws.
    torch.manual_seed(1)
    flat = v.flatten(1)
    ph = torch.sigmoid(flat @ rbm.weight.T + rbm.hidden_bias)
    h = torch.bernoulli(ph)
    vn = torch.sigmoid(h @ rbm.weight + rbm.visible_bias)
    phn = torch.sigmoid(vn @ rbm.weight.T + rbm.hidden_bias)
    expected = -(ph.T @ flat - phn.T @ vn) / 5
    assert torch.allclose(rbm.weight.grad, expected.detach(), atol=1e-6)


def test_rbm_stack_unrolls_into_the_autoencoder():
    cfg = AEConfig(input_shape=(1, 8, 8), hidden=(16, 8), latent_dim=3)
    spec = plan_run("ae", to_dict(cfg), pretrain="rbm")  # the recipe's stack, completed from the model
    stages = spec.before_main()
    assert [s.model_config["hidden_unit"] for s in stages] == ["bernoulli", "bernoulli", "gaussian"]
    assert [s.model_config["input_shape"] for s in stages] == [[1, 8, 8], [1, 1, 16], [1, 1, 8]]
    torch.manual_seed(0)
    rbms = [build_model("rbm", s.model_config) for s in stages]
    ae = build_model("ae", cfg)
    unroll_into(ae, rbms)
    x = torch.rand(7, 1, 8, 8)
    h = x
    for r in rbms:
        h = map_batches(r, h, r.stage_output)
    assert torch.allclose(ae.encode(x), h.flatten(1), atol=1e-5)
    with pytest.raises(ConfigError, match="sigmoid"):
        plan_run("ae", to_dict(AEConfig(input_shape=(1, 8, 8), activation="elu")), pretrain="rbm")


def test_pretrained_run_saves_stages_and_loads_back(tmp_path, digits):
    train, test = digits
    spec = plan_run("ae", {"input_shape": [1, 8, 8], "hidden": [32, 16], "latent_dim": 4}, "digits",
                   train=TrainConfig(epochs=2, batch_size=50), pretrain="rbm",
                   pretrain_train=TrainConfig(epochs=1, batch_size=50, optimizer="sgd", lr=0.1))
    run = aelab.fit(spec, train, out=tmp_path / "run", test=test, progress=False)
    model, result = run.model, run.metrics
    assert sorted(p.name for p in (tmp_path / "run" / "stages").iterdir()) == ["rbm1", "rbm2", "rbm3"]
    rbm = aelab.load(tmp_path / "run" / "stages" / "rbm1")
    assert isinstance(rbm, RBM)
    loaded = aelab.load(tmp_path / "run")
    x = test.x[:20]
    assert torch.equal(loaded(x), model.eval()(x))
    assert result["sq_err"] == pytest.approx(evaluate(loaded, test.x)["sq_err"], rel=1e-6)


def test_pretrained_run_resumes_to_the_same_weights(tmp_path, digits):
    train, _ = digits
    spec = plan_run("ae", {"input_shape": [1, 8, 8], "hidden": [16], "latent_dim": 3}, "digits",
                   train=TrainConfig(epochs=2, batch_size=100, checkpoint_every=3), pretrain="rbm",
                   pretrain_train=TrainConfig(epochs=1, batch_size=100, optimizer="sgd", lr=0.1))
    full = aelab.fit(spec, train.x, out=tmp_path / "a", progress=False).model
    aelab.fit(spec, train.x, out=tmp_path / "b", progress=False, callbacks={"model": [StopAt(5)]})
    resumed = aelab.fit(spec, train.x, out=tmp_path / "b", progress=False, resume=True).model
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k])


def test_load_refuses_bad_run_folders(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        aelab.load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="config.json is missing"):
        aelab.load(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        aelab.load(bad)


def test_load_refuses_misshapen_or_corrupt_weights(tmp_path, digits):
    train, _ = digits
    spec = plan_run("ae", {"input_shape": [1, 8, 8], "hidden": [16], "latent_dim": 3}, "digits",
                   train=TrainConfig(epochs=1, batch_size=500))
    aelab.fit(spec, train.x, out=tmp_path / "r", progress=False)
    from safetensors.torch import save_file

    weights = tmp_path / "r" / "model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="checksum"):
        aelab.load(tmp_path / "r")
    (tmp_path / "r" / "trainer.json").unlink()  # no checksum: the file itself must be judged
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        aelab.load(tmp_path / "r")
    save_file({"encoder.0.weight": torch.zeros(2, 2)}, str(weights))
    with pytest.raises(CheckpointError, match="do not fit the model"):
        aelab.load(tmp_path / "r")
