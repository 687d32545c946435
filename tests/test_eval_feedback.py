"""`aelab eval` says what a long evaluation costs, sizes the IWAE NLL to the machine, and refuses settings that do not apply."""

from __future__ import annotations

import json
import math
import re
import time

import pytest
import torch

import aelab
from aelab.cli import main
from aelab.errors import ConfigError
from aelab.models import build_model

TINY = ["--preset", "tiny", "--epochs", "1", "--no-progress", "--no-report"]


def _cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def vae_run(tmp_path, capsys):
    run = tmp_path / "vae"
    code, _, err = _cli(capsys, "train", "vae", "--out", run, *TINY)
    assert code == 0, err
    return run


# ---------------------------------------------------------------- the cost, said up front


def test_explicit_iw_samples_are_used_exactly_and_the_cost_is_said_first(vae_run, capsys):
    code, out, err = _cli(capsys, "eval", vae_run, "--iw-samples", "30", "--json")
    assert code == 0, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert re.fullmatch(r"IWAE NLL: k=30 importance samples \u00d7 297 examples, about \d+ (s|min|h) "
                        r"\(--iw-samples to change\)", lines[0]), lines[0]
    metrics = json.loads(out)
    assert metrics["iw_samples"] == 30 and math.isfinite(metrics["nll_k30"])


def test_default_iw_samples_fit_about_a_minute(vae_run, capsys):
    from aelab.eval.likelihood import AUTO_K

    code, out, err = _cli(capsys, "eval", vae_run, "--json")
    assert code == 0, err
    m = re.fullmatch(r"IWAE NLL: k=(\d+) importance samples \u00d7 297 examples, about (\d+) s "
                     r"\(auto: the most that fits about a minute here; --iw-samples to change\)", err.strip())
    assert m, err
    k, seconds = int(m.group(1)), int(m.group(2))
    assert k in AUTO_K and seconds <= 60
    metrics = json.loads(out)
    assert metrics["iw_samples"] == k and f"nll_k{k}" in metrics
    # 0 skips the NLL, and says nothing about it
    code, out, err = _cli(capsys, "eval", vae_run, "--iw-samples", "0", "--json")
    assert code == 0 and "IWAE" not in err and "iw_samples" not in json.loads(out)


@pytest.mark.parametrize("per_sample, k", [(1e-9, 5000), (1e-4, 2000), (2e-4, 1000), (1e-2, 50)])
def test_auto_choice_is_the_largest_round_k_within_the_budget(monkeypatch, per_sample, k):
    from aelab.eval import likelihood

    monkeypatch.setattr(likelihood, "iwae_seconds_per_sample", lambda model, x, **kw: per_sample)
    model = build_model("vae", {"input_shape": [1, 8, 8], "hidden": [8], "latent_dim": 2})
    plan = likelihood.plan_iwae(model, torch.rand(297, 1, 8, 8), "auto", budget_s=60.0)
    assert plan.auto and plan.k == k and plan.examples == 297
    assert plan.seconds == pytest.approx(k * 297 * per_sample)  # k=50 even when that takes longer: said, not hidden
    explicit = likelihood.plan_iwae(model, torch.rand(297, 1, 8, 8), 7)
    assert explicit.k == 7 and not explicit.auto


def test_the_estimate_is_the_right_size(digits):
    from aelab.eval.likelihood import iwae_nll, plan_iwae

    _, test = digits
    torch.manual_seed(0)
    model = build_model("vae", {"input_shape": [1, 8, 8], "hidden": [64, 64], "latent_dim": 4}).eval()
    plan = plan_iwae(model, test.x, 2000)
    start = time.perf_counter()
    iwae_nll(model, test.x, 2000)
    took = time.perf_counter() - start
    # a loose bound: the machine is shared, but an estimate off by a factor of k or N is far outside it
    assert took / 10 < plan.seconds < took * 10, (plan.seconds, took)


def test_iwae_nll_shows_progress_over_the_examples(monkeypatch):
    from aelab.eval import likelihood

    bars = []

    class Bar:
        def __init__(self, total, desc, show):
            self.total, self.desc, self.show, self.done = total, desc, show, 0
            bars.append(self)

        def update(self, n):
            self.done += n

        def close(self):
            pass

    monkeypatch.setattr(likelihood, "progress_bar", Bar)
    model = build_model("vae", {"input_shape": [1, 8, 8], "hidden": [8], "latent_dim": 2})
    likelihood.iwae_nll(model, torch.rand(45, 1, 8, 8), k=1000, progress=True)
    assert len(bars) == 1 and bars[0].show and bars[0].total == bars[0].done == 45
    assert bars[0].desc == "IWAE k=1000"


def test_iw_samples_must_be_auto_or_a_count(vae_run, capsys):
    for bad in ("-1", "many", "2.5"):
        code, _, err = _cli(capsys, "eval", vae_run, "--iw-samples", bad)
        assert code == 2 and len(err.strip().splitlines()) == 1
        assert "expected 'auto' or an integer >= 0" in err


# ---------------------------------------------------------------- settings that do not apply


def test_iw_samples_for_a_model_without_likelihood_is_a_one_line_warning(tmp_path, capsys):
    run = tmp_path / "ae"
    assert _cli(capsys, "train", "ae", "--out", run, *TINY)[0] == 0
    code, out, err = _cli(capsys, "eval", run, "--iw-samples", "100", "--json")
    assert code == 0
    assert err.strip() == ("aelab: warning: --iw-samples ignored: model 'ae' defines no likelihood p(x|z), "
                           "so it has no NLL to estimate")
    assert not any(k.startswith("nll") for k in json.loads(out))
    # without the flag, or with 0 (which asks for nothing), an autoencoder is evaluated silently
    for extra in ([], ["--iw-samples", "0"]):
        code, out, err = _cli(capsys, "eval", run, "--json", *extra)
        assert code == 0 and err == ""


@pytest.mark.parametrize("cfg, message", [
    ({"sigma": 0.5}, "sigma=0.5 applies to the Gaussian decoder only, and likelihood is 'bernoulli'"),
    ({"learn_sigma": True}, "learn_sigma applies to the Gaussian decoder only, and likelihood is 'bernoulli'"),
    ({"likelihood": "gaussian", "sigma": -1.0}, "sigma must be a positive number"),
])
def test_vae_decoder_settings_that_do_not_apply_are_refused(cfg, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        build_model("vae", {"input_shape": [1, 8, 8], "hidden": [8], "latent_dim": 2, **cfg})


def test_sigma_for_a_bernoulli_vae_is_refused_in_one_line(tmp_path, capsys):
    code, _, err = _cli(capsys, "train", "vae", "--out", tmp_path / "v", "--set", "sigma=0.3", *TINY)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "sigma=0.3 applies to the Gaussian decoder only" in err
    assert not (tmp_path / "v").exists()


def test_unset_sigma_means_0_1_for_the_gaussian_decoder():
    from aelab.models.vae import VAEConfig

    assert VAEConfig().sigma is None
    model = build_model("vae", {"input_shape": [1, 2, 2], "hidden": [4], "latent_dim": 2, "likelihood": "gaussian"})
    x, out = torch.rand(3, 1, 2, 2), torch.zeros(3, 4)
    expect = torch.distributions.Normal(0.5, 0.1).log_prob(x.flatten(1)).sum(1)
    assert torch.allclose(model.log_px_given_z(x, out), expect, atol=1e-4)


def test_a_saved_bernoulli_run_with_the_old_sigma_default_still_loads(vae_run):
    config = json.loads((vae_run / "config.json").read_text())
    model_config = config["stages"][0]["model"]["config"]
    assert model_config["likelihood"] == "bernoulli" and model_config["sigma"] is None
    model_config["sigma"] = 0.1  # what every run saved before sigma could be left unset records, in both files
    (vae_run / "config.json").write_text(json.dumps(config))
    for state_file in (vae_run / "trainer.json", vae_run / "previous" / "trainer.json"):
        if state_file.exists():
            state = json.loads(state_file.read_text())
            state["model"]["config"]["sigma"] = 0.1
            state_file.write_text(json.dumps(state))
    assert aelab.load(vae_run).config.sigma == 0.1

