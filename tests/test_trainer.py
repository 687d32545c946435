import json

import pytest
import torch

from aelab.errors import CheckpointError, ConfigError, TrainingDiverged
from aelab.models import build_model
from aelab.models.base import Batch, Progress, Update
from aelab.recipes.train import TrainConfig
from aelab.runs import RunFolder
from aelab.train.callbacks import MetricsLogger, StopAt
from aelab.train.trainer import Trainer


def tiny_ae():
    torch.manual_seed(0)
    return build_model("ae", {"input_shape": [1, 8, 8], "hidden": [32, 16], "latent_dim": 4})


def data(n=200):
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 1, 8, 8, generator=g)


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


CFG = dict(epochs=3, batch_size=32, checkpoint_every=5, log_every=4, schedule="cosine", seed=3)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_resume_equals_uninterrupted(tmp_path, optimizer):
    x = data()
    cfg = TrainConfig(optimizer=optimizer, lr=0.01, **CFG)
    full = tiny_ae()
    Trainer(full, x, cfg, tmp_path / "full").fit()

    # The interrupted run stops after step 7; its last checkpoint is step 5, so steps 6-7 are redone.
    part = tiny_ae()
    log = RunFolder(tmp_path / "part").metrics
    Trainer(part, x, cfg, tmp_path / "part", callbacks=[MetricsLogger(log), StopAt(7)]).fit()
    fresh = tiny_ae()  # a new process: new model object, everything comes from disk
    Trainer(fresh, x, cfg, tmp_path / "part", callbacks=[MetricsLogger(log)]).fit(resume=True)
    a, b = weights(full), weights(fresh)
    assert all(torch.equal(a[k], b[k]) for k in a)
    steps = [r["step"] for r in map(json.loads, (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()) if r["split"] == "train"]
    assert steps == sorted(steps) and len(steps) == len(set(steps))


def test_resume_of_finished_run_is_refused(tmp_path):
    cfg = TrainConfig(epochs=1, batch_size=64)
    Trainer(tiny_ae(), data(), cfg, tmp_path).fit()
    with pytest.raises(CheckpointError, match="already finished"):
        Trainer(tiny_ae(), data(), cfg, tmp_path).fit(resume=True)


def test_loss_falls_on_digits(tmp_path, digits):
    train, test = digits
    from aelab.eval.reconstruction import evaluate

    model = build_model("ae", {"input_shape": [1, 8, 8], "hidden": [128, 64], "latent_dim": 10, "activation": "elu"})
    before = evaluate(model, test.x)["sq_err"]
    Trainer(model, train.x, TrainConfig(epochs=15, batch_size=64, lr=3e-3), tmp_path).fit()
    after = evaluate(model, test.x)["sq_err"]
    assert after < 0.5 * before


def test_nan_loss_stops_and_keeps_last_checkpoint(tmp_path):
    model = tiny_ae()
    x = data()
    cfg = TrainConfig(epochs=2, batch_size=50, checkpoint_every=2)
    trainer = Trainer(model, x, cfg, tmp_path)
    real_loss = model.loss

    def poisoned(batch: Batch, progress: Progress):
        terms = real_loss(batch, progress)
        if trainer.step >= 3:
            terms["loss"] = terms["loss"] * float("nan")
        return terms

    trainer.updates[0] = Update("model", trainer.updates[0].params, poisoned)
    with pytest.raises(TrainingDiverged, match=r"step 4 .*checkpoint \(step 2\)"):
        trainer.fit()
    state = json.loads((tmp_path / "trainer.json").read_text())
    assert state["step"] == 2 and not state["finished"]


def test_update_options_must_name_real_updates(tmp_path):
    with pytest.raises(ConfigError, match="unknown update"):
        Trainer(tiny_ae(), data(), TrainConfig(update_options={"critic": {"lr": 1e-4}}), tmp_path)


def test_bad_train_config_values():
    for bad in [dict(epochs=0), dict(lr=-1.0), dict(optimizer="rmsprop"), dict(schedule="wobbly"), dict(batch_size=0)]:
        with pytest.raises(ConfigError):
            TrainConfig(**bad)
