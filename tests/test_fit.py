"""`aelab.fit` is what `aelab train` runs: the same recipe, data and seed give the same weights and the same log."""

import json

import pytest
import torch

import aelab
from aelab.cli import main
from aelab.errors import ConfigError, UsageError
from aelab.train.callbacks import Callback, StopAt

SMALL = ["--set", "hidden=16", "--set", "latent_dim=3", "--epochs", "2", "--batch-size", "50", "--seed", "3"]
STAGED = SMALL + ["--pretrain", "rbm", "--pretrain-epochs", "1", "--prior", "gmm", "--prior-epochs", "2"]


def _log(run) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "time"}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


def _same_weights(a, b) -> None:
    a, b = aelab.load(a).state_dict(), aelab.load(b).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("staged", [False, True], ids=["plain", "rbm+gmm"])
def test_the_cli_and_fit_train_the_same_run(tmp_path, staged):
    assert main(["train", "ae", *(STAGED if staged else SMALL), "--out", str(tmp_path / "cli"), "--no-progress",
                 "--no-report"]) == 0
    run = aelab.fit("ae", "digits", out=tmp_path / "api", config={"hidden": [16], "latent_dim": 3},
                    train={"epochs": 2, "batch_size": 50, "seed": 3}, progress=False,
                    **({"pretrain": "rbm", "pretrain_train": {"epochs": 1}, "prior": "gmm",
                        "prior_train": {"epochs": 2}} if staged else {}))
    _same_weights(tmp_path / "cli", run.path)
    assert _log(tmp_path / "cli") == _log(run.path)
    cli_spec = json.loads((tmp_path / "cli" / "config.json").read_text())
    api_spec = json.loads((run.path / "config.json").read_text())
    assert cli_spec["stages"] == api_spec["stages"] and cli_spec["data"]["name"] == api_spec["data"]["name"]
    assert run.metrics["sq_err"] > 0 and run.test is not None  # scored on the digits' held-out split


def test_a_stopped_fit_resumes_to_the_same_weights(tmp_path):
    kw = {"config": {"hidden": [16], "latent_dim": 3}, "train": {"epochs": 3, "batch_size": 100}, "progress": False}
    aelab.fit("ae", "digits", out=tmp_path / "full", **kw)
    stopped = aelab.fit("ae", "digits", out=tmp_path / "cut", callbacks={"model": [StopAt(20)]}, **kw)
    assert json.loads((stopped.path / "trainer.json").read_text())["step"] == 15  # the last checkpoint before 20
    with pytest.raises(UsageError, match="recorded settings"):
        aelab.fit("ae", out=tmp_path / "cut", resume=True, train={"lr": 0.1})
    aelab.fit("ae", out=tmp_path / "cut", resume=True, progress=False)
    _same_weights(tmp_path / "full", tmp_path / "cut")
    assert _log(tmp_path / "full") == _log(tmp_path / "cut")


def test_fit_takes_a_tensor_and_the_callers_callbacks(tmp_path):
    seen = []

    class Steps(Callback):
        def on_step(self, trainer, terms):
            seen.append((trainer.step, sorted(terms)))

    x = torch.rand(60, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    run = aelab.fit("vae", x, out=tmp_path / "t", config={"hidden": [8], "latent_dim": 2},
                    train={"epochs": 2, "batch_size": 20}, progress=False, callbacks={"model": [Steps()]})
    assert [s for s, _ in seen] == [1, 2, 3, 4, 5, 6] and "model/loss" in seen[0][1]
    assert run.test is None and run.metrics == {}  # a bare tensor has no held-out split
    assert aelab.load(run.path).encode(x[:2]).shape == (2, 2)


def test_resume_with_the_runs_own_command_is_not_a_change(tmp_path, capsys):
    run = str(tmp_path / "r")
    args = ["train", "ae", "--set", "hidden=16", "--set", "latent_dim=3", "--epochs", "1", "--no-progress", "--no-report"]
    assert main([*args, "--out", run]) == 0
    capsys.readouterr()
    assert main([*args, "--out", run, "--resume"]) != 0  # hidden=16 is the run's [16]: refused only as finished
    said = capsys.readouterr().err
    assert "already finished" in said and "cannot change" not in said
    assert main([*args[:3], "hidden=8", *args[4:], "--out", run, "--resume"]) != 0
    assert "--set hidden=8 (the run has [16])" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_data_with_a_non_finite_value_is_refused_in_one_line(tmp_path, bad):
    from aelab.api.data import check_trainable

    x = torch.rand(64, 1, 8, 8)
    x[3, 0, 2, 2] = bad
    with pytest.raises(ConfigError, match="contains NaN or inf"):
        check_trainable(x, "mine")
    check_trainable(torch.full((4, 1, 8, 8), 3e37), "large")  # finite values whose sum overflows pass
