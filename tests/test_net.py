"""The network configuration shared by the MLP and conv families (nn/net.py::Net): hidden widths, channels,
activation, normalisation and dropout, the same keys in every family's config."""

import dataclasses

import pytest
import torch
from torch import nn

import aelab
from aelab.errors import ConfigError
from aelab.models import build_model, model_class
from aelab.nn import Net, encoder_decoder
from aelab.recipes import presets
from aelab.recipes.train import TrainConfig
from aelab.train.distributed import Ranks
from aelab.train.plan import plan_run
from aelab.train.trainer import Trainer

FAMILIES = ["ae", "vae", "vaegan", "acai", "semhash"]
# one tiny network per architecture the families build: mlp (ae's own and the shared one), conv, pool
BODIES = {"ae-mlp": ("ae", {}), "vae-mlp": ("vae", {}), "semhash": ("semhash", {"dropout": 0.0}),
          "ae-conv": ("ae", {"arch": "conv", "channels": [4, 8]}), "vaegan-conv": ("vaegan", {}),
          "acai-pool": ("acai", {}), "vae-pool": ("vae", {"arch": "pool", "channels": [4, 8], "latent_dim": 8})}


def tiny(name, **settings):
    model, own = BODIES[name]
    return build_model(model, {**presets(model)["tiny"], **own, **settings})


def test_the_families_share_one_network_configuration():
    for name in FAMILIES:
        config = model_class(name).Config()
        # each family its own defaults: semhash's encoder, learning neighbourhood targets, drops 20% of its units
        assert isinstance(config, Net) and (config.norm, config.dropout) == ("none", 0.2 if name == "semhash" else 0.0)
    assert model_class("ae").Config().activation == "sigmoid" and model_class("acai").Config().activation == "lrelu"
    assert model_class("semhash").Config().activation == "relu"


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("bad,message", [({"norm": "group"}, "unknown norm 'group'; use none, batch, layer"),
                                         ({"dropout": 1.0}, "dropout is a share of the units in [0, 1), got 1.0"),
                                         ({"dropout": -0.1}, "dropout is a share"),
                                         ({"activation": "swish"}, "unknown activation 'swish'")])
def test_bad_norm_dropout_or_activation_is_one_line(name, bad, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")) as e:
        build_model(name, {**presets(name)["tiny"], **bad})
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("name", list(BODIES))
def test_without_norm_and_dropout_the_network_is_the_plain_one(name):
    modules = {type(m) for m in tiny(name).modules()}
    assert not modules & {nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm, nn.Dropout}


@pytest.mark.parametrize("name", list(BODIES))
def test_dropout_is_on_in_training_and_off_in_evaluation(name):
    torch.manual_seed(0)
    model = tiny(name, dropout=0.5)
    assert any(isinstance(m, nn.Dropout) for m in model.encoder.modules())
    assert any(isinstance(m, nn.Dropout) for m in model.decoder.modules())
    x = torch.rand(4, *model.input_shape)
    with torch.no_grad():
        trained = model.train().encode(x), model.encode(x)
        evaluated = model.eval().encode(x), model.encode(x)
    assert not torch.equal(*trained)  # a fresh mask on every pass
    assert torch.equal(*evaluated)


@pytest.mark.parametrize("name", list(BODIES))
@pytest.mark.parametrize("norm,kind", [("batch", (nn.BatchNorm1d, nn.BatchNorm2d)),
                                       ("layer", (nn.LayerNorm, nn.GroupNorm))])
def test_norm_comes_before_each_hidden_activation(name, norm, kind):
    model = tiny(name, norm=norm)
    for net in (model.encoder, model.decoder):
        layers = [m for m in net.modules() if not list(m.children())]
        norms = [i for i, m in enumerate(layers) if isinstance(m, kind)]
        assert norms and all(type(layers[i + 1]).__module__ == "torch.nn.modules.activation" for i in norms)
    keys = model.state_dict().keys()
    assert any(k.endswith("running_mean") for k in keys) == (norm == "batch")


def test_batch_norm_statistics_are_trained_saved_and_loaded(tmp_path):
    run = aelab.fit("ae", "digits", out=tmp_path / "bn", preset="tiny", config={"norm": "batch", "dropout": 0.2},
                    train={"epochs": 1}, progress=False)
    trained = run.model.state_dict()
    assert float(trained["encoder.1.running_var"].sub(1).abs().max()) > 0  # the statistics moved with the data
    loaded = aelab.load(tmp_path / "bn")
    assert trained.keys() == loaded.state_dict().keys()
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in trained.items())
    x = torch.rand(5, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(run.model.eval().encode(x), loaded.encode(x))
    assert not loaded.training


def test_rbm_pretraining_refuses_a_normalised_network():
    with pytest.raises(ConfigError, match="without normalisation"):
        plan_run("ae", {**presets("ae")["tiny"], "norm": "layer"}, pretrain="rbm")


def test_batch_norm_is_refused_on_several_processes(tmp_path):
    model = build_model("ae", {**presets("ae")["tiny"], "norm": "batch"})
    with pytest.raises(ConfigError, match="norm=layer or one process"):
        Trainer(model, torch.rand(8, 1, 8, 8), TrainConfig(), tmp_path, ranks=Ranks(0, 2))


def test_the_builders_read_widths_from_the_net():
    net = Net(hidden=(6, 5), channels=(4,), activation="tanh")
    enc, dec = encoder_decoder("mlp", (1, 4, 4), net, 3, 2)
    assert [m.out_features for m in enc.modules() if isinstance(m, nn.Linear)] == [6, 5, 3]
    assert [m.out_features for m in dec.modules() if isinstance(m, nn.Linear)] == [5, 6, 16]
    enc, _ = encoder_decoder("conv", (1, 4, 4), dataclasses.replace(net, norm="layer"), 3, 3)
    assert [m.num_channels for m in enc.modules() if isinstance(m, nn.GroupNorm)] == [4]
