"""The contract every registered model keeps: a model added later is tested by being registered."""

import copy
import json

import numpy as np
import pytest
import torch

import aelab
from aelab.cli import main
from aelab.config import from_dict, to_dict
from aelab.models.base import Batch, Noise, Progress, build_model, model_class, model_names
from aelab.models.capabilities import (Density, DiscreteCoder, LikelihoodBound, Restorer, Sampler, capabilities,
                                       is_autoencoder)
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
    out = {}
    with torch.no_grad():
        if is_autoencoder(model):
            out["forward"] = model(x)
            out["encode"] = model.encode(x)
        if isinstance(model, Density):
            out["log_prob"] = model.log_prob(x)
        if isinstance(model, Sampler):
            out["sample"] = model.sample(4, generator=torch.Generator().manual_seed(3))
        if isinstance(model, Restorer):
            out["restore"] = model.restore(x)
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
    assert capabilities(model) and (model.__doc__ or "").strip()
    for preset, values in presets(name).items():  # every preset builds; a training recipe names real settings
        values = dict(values)
        TrainConfig(**values.pop("train", {}))
        build_model(name, values)


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_ranges(name):
    model = tiny(name).eval()
    x = data_for(model, 6)
    with torch.no_grad():
        if is_autoencoder(model):
            recon = model(x)
            assert recon.shape == x.shape and 0 <= float(recon.min()) and float(recon.max()) <= 1
            z = model.encode(x)
            assert z.shape[0] == 6 and model.decode(z).shape == x.shape
            s = model.stage_output(x)
            assert s.shape[0] == 6 and model.from_stage_output(s).shape == x.shape
        if isinstance(model, DiscreteCoder):
            idx = model.encode_indices(x)
            k = model.num_codes
            assert idx.dtype == torch.long and idx.shape[0] == 6 and 0 <= int(idx.min()) and int(idx.max()) < k
            assert torch.equal(model.decode_indices(idx), model(x))  # the indices carry everything decoded
        if isinstance(model, Density):
            lp = model.log_prob(x)
            assert lp.shape == (6,) and torch.isfinite(lp).all()
        if isinstance(model, LikelihoodBound):
            mu, logvar = model.posterior(x)
            assert mu.shape == logvar.shape and model.log_weights(x, 3).shape == (6, 3)
        if isinstance(model, Sampler):
            a = model.sample(5, generator=torch.Generator().manual_seed(0))
            b = model.sample(5, generator=torch.Generator().manual_seed(0))
            assert a.shape == (5, *model.input_shape) and torch.equal(a, b) and torch.isfinite(a).all()
            if is_autoencoder(model):
                assert 0 <= float(a.min()) and float(a.max()) <= 1


@pytest.mark.parametrize("name", NAMES)
def test_updates_partition_the_trainable_parameters(name):
    model = tiny(name)
    updates = model.updates()
    assert updates and len({u.name for u in updates}) == len(updates)
    seen: set[int] = set()
    shared = type(model).traits.shares_update_params  # declared, as ALAE's Algorithm 1 needs: then overlap is allowed
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
        model.set_training_data(x)
    before = {u.name: [p.detach().clone() for p in u.params] for u in trainer.updates}
    terms = trainer.train_batch(Batch(x[:16], index=torch.arange(16)))  # the rows, as the trainer gives them
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
    assert type(loaded) is type(trained) and capabilities(loaded) == capabilities(trained)
    a, b = outputs(trained.eval(), x[:8]), outputs(loaded, x[:8])
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", NAMES)
def test_cli_trains_a_run_folder(name, tmp_path, capsys):
    x = data_for(tiny(name))
    if not model_class(name).traits.standalone:  # a prior over another model's codes trains only as a stage of its run
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


RESTORERS = [name for name in NAMES if isinstance(tiny(name), Restorer)]


def test_the_families_that_restore():
    assert set(RESTORERS) == {"ae", "vae", "vaegan", "semhash", "acai", "vqvae", "dncnn"}  # a new one is covered below


@pytest.mark.parametrize("name", RESTORERS)
def test_a_restorer_trains_on_the_corrupted_input_against_the_clean_target(name, tmp_path):
    """Input noise reaches every update's batch and its loss: a family whose loss read the clean data fails here."""
    model = tiny(name)
    x = data_for(model, 32)
    trainer = Trainer(model, x, TrainConfig(epochs=1, batch_size=16, corrupt="masking:0.5"), tmp_path, device="cpu")
    seen = []
    for u in trainer.updates:
        def recorded(batch, progress, loss=u.loss, update=u):
            seen.append((update, batch.x.clone(), batch.target.clone(), batch.missing.clone()))
            return loss(batch, progress)
        u.loss = recorded
    before = copy.deepcopy(model.state_dict())
    trainer.fit()
    assert {u.name for u, *_ in seen} == {u.name for u in trainer.updates}
    for _, corrupted, clean, missing in seen:  # the batch: corrupted input, the clean data as the target
        assert missing.any() and torch.equal(corrupted[~missing], clean[~missing])
        assert not torch.equal(corrupted, clean) and (corrupted[missing] == 0).all()
    model.load_state_dict(before)
    for update, corrupted, clean, missing in seen[: len(trainer.updates)]:  # the loss: it sees the corruption
        losses = []
        for given in (corrupted, clean):
            model.load_state_dict(before)  # a loss may change state (an EMA codebook): each call from the same one
            n = len(given)
            batch = Batch(given, clean=clean, missing=missing, noise=Noise(0, 0, 0, (0, n), n), index=torch.arange(n))
            losses.append(float(update.loss(batch, Progress.at())["loss"].detach()))
        assert losses[0] != losses[1], f"update {update.name!r} of {name} ignores its corrupted input"


def test_design_md_shows_the_capability_table_the_types_give():
    from pathlib import Path

    from aelab.cli.models import capability_table

    design = (Path(__file__).parents[1] / "docs" / "design.md").read_text()
    shown = design.split("<!-- capability table: aelab models --table -->\n")[1].split("\n<!-- end")[0]
    assert shown == capability_table(), "run `aelab models --table` into docs/design.md"


def test_a_family_is_its_two_files():
    """Every file of aelab/models and aelab/recipes is imported by its package: a family needs no import lines."""
    import pkgutil
    import sys

    import aelab.models
    import aelab.recipes

    for package in (aelab.models, aelab.recipes):
        assert all(f"{package.__name__}.{m.name}" in sys.modules for m in pkgutil.iter_modules(package.__path__))
    owners = {model_class(name).__module__.rsplit(".", 1)[1] for name in NAMES}
    recipe_files = {m.name for m in pkgutil.iter_modules(aelab.recipes.__path__)}
    assert owners - {"gmm", "rbm"} <= recipe_files  # gmm and rbm are stated in priors.py and ae.py, where they serve
