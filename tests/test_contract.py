"""The contract every registered model keeps: a model added later is tested by being registered."""

import json

import numpy as np
import pytest
import torch

import aelab
from aelab.cli import main
from aelab.config import from_dict, to_dict
from aelab.models.base import (DENSITY, DISCRETE_CODES, LIKELIHOOD, RECONSTRUCT, SAMPLE, Batch, Progress, build_model,
                               model_class, model_names)
from aelab.recipes import presets
from aelab.recipes.train import TrainConfig
from aelab.train.plan import plan_run
from aelab.train.trainer import Trainer

NAMES = model_names()


def tiny(name):
    torch.manual_seed(0)
    return build_model(name, presets(name)["tiny"])


def data_for(model, n=40):
    return model.example_input(n, generator=torch.Generator().manual_seed(1))


def outputs(model, x):
    """What a model computes, by capability: the thing save/load must keep identical."""
    caps = model.capabilities()
    out = {}
    with torch.no_grad():
        if RECONSTRUCT in caps:
            out["forward"] = model(x)
            out["encode"] = model.encode(x)
        if DENSITY in caps:
            out["log_prob"] = model.log_prob(x)
        if SAMPLE in caps:
            out["sample"] = model.sample(4, generator=torch.Generator().manual_seed(3))
    return out


def test_every_model_is_covered():
    assert {"ae", "rbm", "vae", "vaegan", "gmm"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_tiny_preset_and_config_json_round_trip(name):
    cls = model_class(name)
    assert "tiny" in presets(name), f"{name} needs a 'tiny' preset for the contract tests"
    model = tiny(name)
    again = from_dict(cls.Config, json.loads(json.dumps(to_dict(model.config))), name)
    assert again == model.config
    assert model.capabilities() and (model.__doc__ or "").strip()
    for preset, values in presets(name).items():  # every preset builds; a training recipe names real settings
        values = dict(values)
        TrainConfig(**values.pop("train", {}))
        build_model(name, values)


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_ranges(name):
    model = tiny(name).eval()
    x = data_for(model, 6)
    caps = model.capabilities()
    with torch.no_grad():
        if RECONSTRUCT in caps:
            recon = model(x)
            assert recon.shape == x.shape and 0 <= float(recon.min()) and float(recon.max()) <= 1
            z = model.encode(x)
            assert z.shape[0] == 6 and model.decode(z).shape == x.shape
            s = model.stage_output(x)
            assert s.shape[0] == 6 and model.from_stage_output(s).shape == x.shape
        if DISCRETE_CODES in caps:
            idx = model.encode_indices(x)
            k = model.quantizer.num_codes
            assert idx.dtype == torch.long and idx.shape[0] == 6 and 0 <= int(idx.min()) and int(idx.max()) < k
            assert torch.equal(model.decode_indices(idx), model(x))  # the indices carry everything decoded
        if DENSITY in caps:
            lp = model.log_prob(x)
            assert lp.shape == (6,) and torch.isfinite(lp).all()
        if LIKELIHOOD in caps:
            mu, logvar = model.posterior(x)
            assert mu.shape == logvar.shape and model.log_weights(x, 3).shape == (6, 3)
        if SAMPLE in caps:
            a = model.sample(5, generator=torch.Generator().manual_seed(0))
            b = model.sample(5, generator=torch.Generator().manual_seed(0))
            assert a.shape == (5, *model.input_shape) and torch.equal(a, b) and torch.isfinite(a).all()
            if RECONSTRUCT in caps:
                assert 0 <= float(a.min()) and float(a.max()) <= 1


@pytest.mark.parametrize("name", NAMES)
def test_updates_partition_the_trainable_parameters(name):
    model = tiny(name)
    updates = model.updates()
    assert updates and len({u.name for u in updates}) == len(updates)
    seen: set[int] = set()
    shared = type(model).shares_update_params  # declared, as ALAE's Algorithm 1 needs: then overlap is allowed
    for u in updates:
        ids = {id(p) for p in u.params}
        assert len(ids) == len(u.params) and (shared or not ids & seen), f"update {u.name!r} shares parameters with another"
        assert u.every >= 1
        seen |= ids
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert seen == trainable, "the updates must cover every trainable parameter, each exactly once (unless shared)"


@pytest.mark.parametrize("name", NAMES)
def test_one_training_step_is_finite_and_moves_each_update(name, tmp_path):
    model = tiny(name)
    x = data_for(model)
    trainer = Trainer(model, x, TrainConfig(epochs=1, batch_size=16, lr=1e-2), tmp_path)
    with torch.no_grad():
        model.prepare(x)
    before = {u.name: [p.detach().clone() for p in u.params] for u in trainer.updates}
    terms = trainer.train_batch(Batch(x[:16]))
    assert terms and all(torch.isfinite(v).all() for v in terms.values())
    for u in trainer.updates:
        if u.due(Progress(0, 1, 1)):
            assert any(not torch.equal(a, p) for a, p in zip(before[u.name], u.params)), f"update {u.name!r} changed nothing"


@pytest.mark.parametrize("name", NAMES)
def test_save_and_load_give_identical_outputs(name, tmp_path):
    model = tiny(name)
    x = data_for(model)
    spec = plan_run(name, to_dict(model.config), "digits", train=TrainConfig(epochs=1, batch_size=16))
    trained = aelab.fit(spec, x, out=tmp_path / "run", progress=False).model
    loaded = aelab.load(tmp_path / "run")
    assert type(loaded) is type(trained) and loaded.capabilities() == trained.capabilities()
    a, b = outputs(trained.eval(), x[:8]), outputs(loaded, x[:8])
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", NAMES)
def test_cli_trains_a_run_folder(name, tmp_path, capsys):
    x = data_for(tiny(name))
    if not model_class(name).standalone:  # a prior over another model's codes trains only as a stage of its run
        assert main(["train", name, "--out", str(tmp_path / "run")]) == 2
        err = capsys.readouterr().err
        assert "trains as a stage" in err and len(err.strip().splitlines()) == 1
        return
    np.save(tmp_path / "data.npy", x.numpy())
    run = tmp_path / "run"
    code = main(["train", name, "--preset", "tiny", "--data", str(tmp_path / "data.npy"), "--epochs", "1",
                 "--batch-size", "16", "--out", str(run), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    for f in ("config.json", "model.safetensors", "trainer.json", "trainer.safetensors", "metrics.jsonl", "report.html"):
        assert (run / f).is_file(), f
    assert json.loads((run / "trainer.json").read_text())["finished"]
    assert main(["eval", str(run), "--json", "--iw-samples", "5"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics and all(np.isfinite(v).all() for v in metrics.values())
