"""Runs as lists of stages, updates that see training progress, and the evaluation suite's choices."""

import json

import pytest
import torch

import aelab
from aelab.cli import main
from aelab.errors import CheckpointError, ConfigError
from aelab.eval.suite import EvalOptions, evaluate_suite, metric_names
from aelab.models import Batch, Progress, Update, build_model
from aelab.models.capabilities import Sampler
from aelab.models.gmm import GaussianMixture
from aelab.models.rbm import RBM
from aelab.runs import RunFolder
from aelab.train.callbacks import StopAt
from aelab.train.run import retrain
from aelab.recipes.stages import DATA, MAIN, RunSpec, Stage
from aelab.train.plan import plan_run
from aelab.recipes.train import TrainConfig
from aelab.train.trainer import Trainer

AE = {"input_shape": [1, 8, 8], "hidden": [16], "latent_dim": 3}


def staged_spec(checkpoint_every=4):
    return plan_run("ae", AE, "digits", train=TrainConfig(epochs=2, batch_size=100, checkpoint_every=checkpoint_every),
                    pretrain="rbm", pretrain_train=TrainConfig(epochs=1, batch_size=100, optimizer="sgd", lr=0.1,
                                                               checkpoint_every=checkpoint_every),
                    prior="gmm", prior_train=TrainConfig(epochs=3, batch_size=100, lr=1e-2, checkpoint_every=checkpoint_every))


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_a_run_is_its_stages_declared_by_the_model(tmp_path, digits):
    train, _ = digits
    spec = staged_spec()
    assert [(s.name, s.model, s.input) for s in spec.stages] == [
        ("rbm1", "rbm", DATA), ("rbm2", "rbm", "rbm1"), (MAIN, "ae", DATA), ("prior", "gmm", MAIN)]
    assert spec.stage("rbm2").train.lr == pytest.approx(0.1 * 0.01)  # the Gaussian code layer's smaller rate, on record
    model = aelab.fit(spec, train.x, out=tmp_path / "run").model
    assert RunFolder(tmp_path / "run").read_spec() == spec  # config.json holds every stage
    assert sorted(p.name for p in (tmp_path / "run" / "stages").iterdir()) == ["prior", "rbm1", "rbm2"]
    assert isinstance(aelab.load(tmp_path / "run" / "stages" / "rbm2"), RBM)  # each stage is a run of its own
    loaded = aelab.load(tmp_path / "run")
    assert isinstance(loaded.prior, GaussianMixture) and isinstance(loaded, Sampler)
    a = loaded.sample(6, generator=torch.Generator().manual_seed(0))
    b = model.eval().sample(6, generator=torch.Generator().manual_seed(0))
    assert a.shape == (6, 1, 8, 8) and torch.equal(a, b)


@pytest.mark.parametrize("stage, steps", [("rbm1", 7), ("rbm2", 3), (MAIN, 5), ("prior", 10)])
def test_a_run_killed_in_any_stage_resumes_exactly(tmp_path, digits, stage, steps):
    train, _ = digits
    full = aelab.fit(staged_spec(), train.x, out=tmp_path / "full").model
    aelab.fit(staged_spec(), train.x, out=tmp_path / "cut", progress=False, callbacks={stage: [StopAt(steps)]})
    assert not (tmp_path / "cut" / "stages" / "prior" / "trainer.json").exists() or stage == "prior"
    resumed = aelab.fit("ae", train.x, out=tmp_path / "cut", progress=False, resume=True).model
    a, b = weights(full), weights(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # the prior's weights included
    with pytest.raises(CheckpointError, match="already finished"):
        aelab.fit("ae", train.x, out=tmp_path / "cut", progress=False, resume=True)


def test_a_prior_is_added_to_a_finished_run_and_retrained_on_request(tmp_path, digits, capsys):
    run = tmp_path / "run"
    assert main(["train", "ae", "--set", "hidden=16", "--set", "latent_dim=3", "--epochs", "2", "--out", str(run),
                 "--no-progress", "--no-report"]) == 0
    main_weights = (run / "model.safetensors").read_bytes()
    assert not isinstance(aelab.load(run), Sampler)
    assert main(["sample", str(run), "-o", str(tmp_path / "s.png")]) == 1
    assert "--prior gmm" in capsys.readouterr().err

    assert main(["train", "--from", str(run), "--prior", "gmm", "--prior-epochs", "3", "--no-progress", "--no-report"]) == 0
    assert "prior_nll" in capsys.readouterr().out
    assert (run / "model.safetensors").read_bytes() == main_weights  # the trained model is not touched
    first = (run / "stages" / "prior" / "model.safetensors").read_bytes()
    assert main(["sample", str(run), "-n", "8", "-o", str(tmp_path / "s.png")]) == 0

    assert main(["train", "--from", str(run), "--stage", "prior", "--no-progress", "--no-report"]) == 1
    assert "--overwrite" in capsys.readouterr().err  # nothing trained is replaced without asking
    assert main(["train", "--from", str(run), "--stage", "prior", "--overwrite", "--no-progress", "--no-report"]) == 0
    assert (run / "stages" / "prior" / "model.safetensors").read_bytes() == first  # same settings, same seed
    assert (run / "model.safetensors").read_bytes() == main_weights
    assert main(["train", "--from", str(run), "--stage", "critic", "--overwrite", "--no-progress"]) == 1
    assert "no stage 'critic'" in capsys.readouterr().err


def test_rerunning_a_stage_retrains_what_builds_on_it(tmp_path, digits):
    train, _ = digits
    spec = staged_spec()
    assert [s.name for s in spec.dependents({"rbm2"})] == ["rbm2", MAIN, "prior"]
    assert [s.name for s in spec.dependents({"prior"})] == ["prior"]
    assert [s.name for s in spec.dependents({MAIN})] == [MAIN, "prior"]
    run = tmp_path / "run"
    aelab.fit(spec, train.x, out=run)
    rbm1 = (run / "stages" / "rbm1" / "model.safetensors").read_bytes()
    retrain(run, [], ["rbm2"], overwrite=True)
    assert not (run / "stages" / "rbm2").exists() and not (run / "model.safetensors").exists()
    assert not (run / "stages" / "prior").exists() and (run / "stages" / "rbm1" / "model.safetensors").read_bytes() == rbm1
    aelab.fit("ae", train.x, out=run, progress=False, resume=True)
    assert aelab.load(run).prior is not None


def test_stage_plans_and_specs_refuse_nonsense():
    with pytest.raises(ConfigError, match="pretrain 'rbm' does not apply to model 'vae' \\(it applies to ae, semhash\\)"):
        plan_run("vae", {"input_shape": [1, 8, 8]}, pretrain="rbm")
    with pytest.raises(ConfigError, match="prior 'gmm' does not apply to model 'vae'"):
        plan_run("vae", {"input_shape": [1, 8, 8]}, prior="gmm")  # a VAE has a prior of its own
    main_stage = Stage(MAIN, "ae", AE)
    with pytest.raises(ConfigError, match="not an earlier stage"):
        RunSpec([Stage("prior", "gmm", {}, input=MAIN), main_stage])
    with pytest.raises(ConfigError, match="exactly one stage"):
        RunSpec([Stage("a", "ae", AE)])
    with pytest.raises(ConfigError, match="two stages"):
        RunSpec([main_stage, Stage("p", "gmm", {}, input=MAIN), Stage("p", "gmm", {}, input=MAIN)])
    with pytest.raises(ConfigError, match="lower-case"):
        RunSpec([main_stage, Stage("../up", "gmm", {}, input=MAIN)])


def test_run_configs_round_trip_and_old_runs_still_read():
    spec = staged_spec()
    assert RunSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec
    old = {"model": {"name": "ae", "config": AE}, "data": {"name": "digits", "data_dir": None},
           "train": {"epochs": 3, "step_options": {"model": {"lr": 0.1}}}, "pretrain": {"kind": "rbm", "train": {}}}
    legacy = RunSpec.from_json(old)
    assert [s.name for s in legacy.stages] == [MAIN] and legacy.train.update_options == {"model": {"lr": 0.1}}


def test_updates_see_progress_and_every_skips_steps(tmp_path):
    torch.manual_seed(0)
    model = build_model("ae", AE)
    seen = []

    def spy(batch, progress):
        seen.append((progress.step, progress.epoch, progress.fraction))
        return model.loss(batch, progress)

    x = torch.rand(40, 1, 8, 8)
    trainer = Trainer(model, x, TrainConfig(epochs=3, batch_size=20), tmp_path)
    params = trainer.updates[0].params
    trainer.updates = [Update("model", params, spy, every=2)]
    trainer.fit()
    assert [s for s, _, _ in seen] == [0, 2, 4]  # 6 steps, the update runs on every second one
    assert seen[1][1] == pytest.approx(1.0) and seen[2][2] == pytest.approx(4 / 6)
    with pytest.raises(ConfigError, match="every=0"):
        model.updates = lambda: [Update("model", params, spy, every=0)]
        Trainer(model, x, TrainConfig(), tmp_path / "b")


def test_kl_warmup_ramps_the_kl_weight_with_progress():
    torch.manual_seed(0)
    vae = build_model("vae", {"input_shape": [1, 8, 8], "hidden": [16], "latent_dim": 2, "kl_warmup": 2.0})
    x = Batch(torch.rand(8, 1, 8, 8))
    for epoch, weight in [(0, 0.0), (1, 0.5), (2, 1.0), (5, 1.0)]:
        torch.manual_seed(1)
        t = vae.loss(x, Progress(epoch * 10, 100, 10))
        assert float(t["loss"].detach()) == pytest.approx(float(t["rec"] + weight * t["kl"]), rel=1e-5)


def test_the_suite_picks_metrics_by_what_a_model_can_do(tmp_path, digits):
    _, test = digits
    x = test.x[:50]
    ae = build_model("ae", AE)
    vae = build_model("vae", {"input_shape": [1, 8, 8], "hidden": [16], "latent_dim": 2})
    assert metric_names(ae, x) == ["per-example terms"]
    assert metric_names(vae, x) == ["per-example terms", "likelihood"]
    assert metric_names(GaussianMixture(GaussianMixture.Config(input_shape=(1, 8, 8))), x) == ["density"]
    metrics, details = evaluate_suite(vae, x, EvalOptions(iw_samples=10))
    assert {"sq_err", "bce", "psnr", "nelbo", "nll_k10", "active_units"} <= set(metrics)
    assert len(details["kl_per_dim"]) == 2
    assert evaluate_suite(vae, x, EvalOptions(iw_samples=10)) == (metrics, details)  # seeded: same numbers every call
    mnist_like = torch.rand(20, 1, 28, 28)
    vae28 = build_model("vae", {"input_shape": [1, 28, 28], "hidden": [16], "latent_dim": 2})
    assert "sample quality" in metric_names(vae28, mnist_like, EvalOptions(sample_quality=True))
    assert "sample quality" not in metric_names(vae28, mnist_like)  # the trainer's periodic evaluation stays cheap


def test_an_update_ramps_its_own_learning_rate(tmp_path):
    torch.manual_seed(0)
    model = build_model("ae", AE)
    x = torch.rand(40, 1, 8, 8)
    trainer = Trainer(model, x, TrainConfig(epochs=2, batch_size=20, lr=0.5, schedule="constant"), tmp_path)
    rates = []

    def spy(batch, progress):
        rates.append(trainer.optimizers[0].param_groups[0]["lr"])
        return model.loss(batch, progress)

    trainer.updates = [Update("model", trainer.updates[0].params, spy, lr_scale=lambda p: min(1.0, (p.step + 1) / 4))]
    trainer.fit()
    assert rates == pytest.approx([0.125, 0.25, 0.375, 0.5])  # the model's ramp times the run's schedule
