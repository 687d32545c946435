import json
import math

import numpy as np
import pytest
import torch

import aelab
from aelab.errors import ConfigError
from aelab.eval.interpolation import interpolate
from aelab.eval.likelihood import iwae_nll, latent_diagnostics, likelihood_metrics
from aelab.eval.reconstruction import evaluate
from aelab.eval.sample_quality import frechet_distance
from aelab.models import Batch, Progress, build_model
from aelab.models.vae import VAE
from aelab.models.vae import VAE, VAEConfig
from aelab.nn import gaussian_kl, reparameterize
from aelab.models.vaegan import VAEGAN
from aelab.train.plan import plan_run
from aelab.recipes.train import TrainConfig
from aelab.train.trainer import Trainer, make_optimizer

DIGITS_VAE = {"input_shape": [1, 8, 8], "hidden": [64, 32], "latent_dim": 4}


def _trained_vae(tmp_path, digits, epochs=8, **cfg):
    train, _ = digits
    torch.manual_seed(0)
    model = build_model("vae", {**DIGITS_VAE, **cfg})
    Trainer(model, train.x, TrainConfig(epochs=epochs, batch_size=50, lr=3e-3, schedule="constant"), tmp_path).fit()
    return model.eval()


def test_kl_is_nonnegative_and_matches_monte_carlo():
    torch.manual_seed(0)
    mu, logvar = torch.randn(3, 5), torch.randn(3, 5)
    kl = gaussian_kl(mu, logvar).sum(1)
    assert (kl >= 0).all()
    assert torch.allclose(gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2, 3))
    std = (0.5 * logvar).exp()
    z = mu + std * torch.randn(200_000, 3, 5)
    log_q = torch.distributions.Normal(mu, std).log_prob(z).sum(-1)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    mc = (log_q - log_p).mean(0)
    assert torch.allclose(kl, mc, rtol=0.03, atol=0.02)


def test_reparameterised_gradients_reach_mu_and_sigma():
    mu = torch.tensor([[0.5, -1.0]], requires_grad=True)
    logvar = torch.tensor([[0.2, -0.4]], requires_grad=True)
    torch.manual_seed(3)
    z = reparameterize(mu, logvar)
    torch.manual_seed(3)
    eps = torch.randn(1, 2)
    z.sum().backward()
    assert torch.allclose(mu.grad, torch.ones(1, 2))
    assert torch.allclose(logvar.grad, 0.5 * (0.5 * logvar.detach()).exp() * eps)
    # Through the model: the loss reaches both halves of the encoder's last layer.
    torch.manual_seed(0)
    model = build_model("vae", DIGITS_VAE)
    model.loss(Batch(torch.rand(16, 1, 8, 8)), Progress.at())["loss"].backward()
    last = model.encoder[-1][-1].weight.grad
    assert last[:4].abs().sum() > 0 and last[4:].abs().sum() > 0


def test_vae_loss_falls_on_digits_and_iwae_bound_tightens_with_k(tmp_path, digits):
    _, test = digits
    torch.manual_seed(0)
    untrained = build_model("vae", DIGITS_VAE)
    before = evaluate(untrained, test.x)["nelbo"]
    model = _trained_vae(tmp_path, digits)
    torch.manual_seed(0)
    after = evaluate(model, test.x)["nelbo"]
    assert after < before - 5
    x = test.x
    nll = {k: float(iwae_nll(model, x, k=k, seed=1).mean()) for k in (10, 100)}
    nll[1] = float(torch.stack([iwae_nll(model, x, k=1, seed=s) for s in range(10)]).mean())
    torch.manual_seed(2)
    with torch.no_grad():
        nelbo = float(torch.stack([model.elbo_terms(x)["nelbo"] for _ in range(10)]).mean())
    assert nll[1] == pytest.approx(nelbo, abs=0.3)  # k = 1 is the ELBO itself
    assert nll[100] < nll[10] < nll[1]  # the bound rises (NLL falls) with k
    assert nll[100] <= nelbo


def test_iwae_chunking_is_exact():
    """Whatever the chunking, each example gets exactly k weights and the estimate is their log-mean-exp."""

    class Recorder(VAE):  # a LikelihoodBound whose weights are recorded
        name = "recorder-test"

        def __init__(self):
            super().__init__(VAEConfig(input_shape=(1, 1, 2)))
            self.p = torch.nn.Parameter(torch.zeros(1))
            self.seen: dict[float, list] = {}

        def log_weights(self, x, k):
            lw = torch.randn(x.shape[0], k) * 3
            for row, w in zip(x, lw):
                self.seen.setdefault(float(row.flatten()[0]), []).extend(w.tolist())
            return lw

    x = torch.rand(7, 1, 1, 2)
    k = 23
    for max_rows in (5, 23, 50, 1000):  # chunks of samples, whole examples, several examples per call
        model = Recorder()
        got = iwae_nll(model, x, k=k, max_rows=max_rows)
        for i, row in enumerate(x):
            w = torch.tensor(model.seen[float(row.flatten()[0])], dtype=torch.float64)
            assert len(w) == k
            assert float(got[i]) == pytest.approx(-(float(torch.logsumexp(w, 0)) - math.log(k)), abs=1e-5)
    with pytest.raises(ConfigError, match="importance samples"):
        iwae_nll(Recorder(), x, k=0)


def test_active_units_follow_burdas_criterion():
    class Known(VAE):
        def posterior(self, x):
            s = x.flatten(1)[:, :1]
            mu = torch.cat([s * 10, s * 0.01, torch.zeros_like(s)], 1)  # var of U(0,1)*10 ~ 8.3; *0.01 ~ 1e-5
            return mu, torch.zeros_like(mu)

    model = Known(VAEConfig(input_shape=(1, 1, 2), latent_dim=3, hidden=(4,)))
    d = latent_diagnostics(model, torch.rand(500, 1, 1, 2))
    assert d["active_units"] == 1 and d["latent_dim"] == 3
    assert d["kl_per_dim"][2] == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ConfigError, match="no likelihood"):
        latent_diagnostics(build_model("ae", {"input_shape": [1, 8, 8], "hidden": [8], "latent_dim": 2}), torch.rand(3, 1, 8, 8))


def test_gaussian_decoder_density_and_learned_sigma():
    torch.manual_seed(0)
    model = build_model("vae", {**DIGITS_VAE, "likelihood": "gaussian", "sigma": 0.5, "learn_sigma": True})
    x = torch.rand(4, 1, 8, 8)
    out = torch.zeros(4, 64)  # mean sigmoid(0) = 0.5
    expect = torch.distributions.Normal(0.5, 0.5).log_prob(x.flatten(1)).sum(1)
    assert torch.allclose(model.log_px_given_z(x, out), expect, atol=1e-4)
    model.loss(Batch(x), Progress.at())["loss"].backward()
    assert model.log_sigma.grad is not None and model.log_sigma.grad != 0


@pytest.mark.parametrize("cfg", [{"arch": "conv", "channels": [8, 16], "activation": "relu"},
                                 {"likelihood": "gaussian", "learn_sigma": True}])
def test_vae_variants_train_save_and_load(tmp_path, digits, cfg):
    train, test = digits
    spec = plan_run("vae", {**DIGITS_VAE, **cfg}, "digits", train=TrainConfig(epochs=2, batch_size=100))
    run = aelab.fit(spec, train.x, out=tmp_path / "run", test=test, progress=False)
    model, result = run.model, evaluate(run.model, test.x)
    assert math.isfinite(result["nelbo"])
    loaded = aelab.load(tmp_path / "run")
    x = test.x[:10]
    assert torch.equal(loaded.encode(x), model.eval().encode(x))
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(loaded.sample(6, generator=g1), model.sample(6, generator=g2))


def test_conv_shapes_are_checked():
    with pytest.raises(ConfigError, match="divisible by 4"):
        build_model("vae", {"input_shape": [1, 10, 10], "arch": "conv", "channels": [8, 8]})
    with pytest.raises(ConfigError, match="unknown likelihood"):
        build_model("vae", {"likelihood": "poisson"})


def test_likelihood_metrics_report(tmp_path, digits):
    _, test = digits
    model = _trained_vae(tmp_path, digits, epochs=3)
    m = likelihood_metrics(model, test.x[:100], k=20)
    assert m["nll"] <= m["nelbo"] + 0.5
    assert 0 <= m["active_units"] <= 4 and len(m["kl_per_dim"]) == 4
    assert sum(m["kl_per_dim"]) == pytest.approx(m["kl"], rel=0.05)


def test_interpolation_ends_are_the_reconstructions(tmp_path, digits):
    _, test = digits
    model = _trained_vae(tmp_path, digits, epochs=1)
    path = interpolate(model, test.x[0], test.x[1], 5)
    assert path.shape == (5, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(path[0], model(test.x[:1])[0], atol=1e-6)
        assert torch.allclose(path[-1], model(test.x[1:2])[0], atol=1e-6)
    with pytest.raises(ConfigError, match="at least 2"):
        interpolate(model, test.x[0], test.x[1], 1)


# --- VAE-GAN -----------------------------------------------------------------------------------
VAEGAN_DIGITS = {"input_shape": [1, 8, 8], "channels": [8, 16], "latent_dim": 4, "dis_channels": [8, 16], "dis_hidden": 16}


def test_vaegan_steps_touch_only_their_own_networks():
    torch.manual_seed(0)
    model = build_model("vaegan", VAEGAN_DIGITS)
    batch = Batch(torch.rand(16, 1, 8, 8))
    parts = {"encoder": model.encoder, "decoder": model.decoder, "discriminator": model.discriminator}
    for step in model.updates():
        before = {n: [p.detach().clone() for p in m.parameters()] for n, m in parts.items()}
        opt = make_optimizer(step, TrainConfig(lr=1e-2))
        model.zero_grad(set_to_none=True)
        step.loss(batch, Progress.at())["loss"].backward()
        opt.step()
        for name, module in parts.items():
            same = all(torch.equal(a, b) for a, b in zip(before[name], module.parameters()))
            assert same == (name != step.name), (step.name, name)


def test_vaegan_trains_saves_and_loads(tmp_path, digits):
    train, test = digits
    spec = plan_run("vaegan", VAEGAN_DIGITS, "digits", train=TrainConfig(epochs=2, batch_size=100, lr=1e-3))
    run = aelab.fit(spec, train.x, out=tmp_path / "run", test=test, progress=False)
    model, result = run.model, evaluate(run.model, test.x)
    assert {"kl", "feat_rec", "d_real", "d_sample", "sq_err"} <= set(result)
    loaded = aelab.load(tmp_path / "run")
    assert isinstance(loaded, VAEGAN)
    x = test.x[:8]
    assert torch.equal(loaded(x), model.eval()(x))


def test_dynamic_binarisation_draws_fresh_binary_batches(tmp_path):
    seen = []

    class Spy(VAE):
        def loss(self, batch, progress):
            seen.append(batch.x.clone())
            return super().loss(batch, progress)

    x = torch.full((20, 1, 2, 2), 0.5)
    model = Spy(VAEConfig(input_shape=(1, 2, 2), hidden=(4,), latent_dim=2))
    Trainer(model, x, TrainConfig(epochs=2, batch_size=20, binarize=True), tmp_path).fit()
    assert all(set(b.unique().tolist()) <= {0.0, 1.0} for b in seen)
    assert not torch.equal(seen[0], seen[1])  # a fresh draw each epoch


# --- sample quality ----------------------------------------------------------------------------
def test_frechet_distance_of_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20000, 4))
    b = rng.normal(size=(20000, 4)) + np.array([1.0, 0, 0, 2.0])
    assert frechet_distance(a, b) == pytest.approx(5.0, abs=0.1)
    c = rng.normal(size=(20000, 4)) * 2.0  # Tr(1 + 4 - 2*2) per dimension = 1
    assert frechet_distance(a, c) == pytest.approx(4.0, abs=0.15)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-6)


# --- CLI -----------------------------------------------------------------------------------------
def _cli(capsys, *argv):
    from aelab.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def vae_run(tmp_path, capsys):
    out = tmp_path / "vae"
    code, _, err = _cli(capsys, "train", "vae", "--out", out, "--set", "hidden=32", "--set", "latent_dim=3",
                        "--epochs", "2", "--binarize", "--no-progress")
    assert code == 0, err
    return out


def test_cli_vae_eval_sample_interpolate(vae_run, tmp_path, capsys):
    from PIL import Image

    code, out, err = _cli(capsys, "eval", vae_run, "--iw-samples", "20", "--json")
    assert code == 0, err
    m = json.loads(out)
    assert {"nelbo", "kl", "rec", "nll_k20", "active_units", "kl_per_dim"} <= set(m)
    assert m["nll_k20"] <= m["nelbo"] + 1.0
    code, out, err = _cli(capsys, "eval", vae_run, "--iw-samples", "5")
    assert code == 0 and "binarised" in out and "KL per latent dimension" in out

    grid = tmp_path / "s.png"
    assert _cli(capsys, "sample", vae_run, "-n", "12", "-o", grid)[0] == 0
    assert Image.open(grid).size[0] > 8 * 8
    arr = tmp_path / "s.npy"
    assert _cli(capsys, "sample", vae_run, "-n", "5", "--seed", "3", "-o", arr)[0] == 0
    again = tmp_path / "t.npy"
    _cli(capsys, "sample", vae_run, "-n", "5", "--seed", "3", "-o", again)
    assert np.load(arr).shape == (5, 1, 8, 8) and np.array_equal(np.load(arr), np.load(again))
    code, _, err = _cli(capsys, "sample", vae_run, "-n", "5", "-o", arr)
    assert code == 1 and "already exists" in err

    strip = tmp_path / "i.npy"
    assert _cli(capsys, "interpolate", vae_run, "--from", "0", "--to", "5", "--steps", "7", "-o", strip)[0] == 0
    assert np.load(strip).shape == (7, 1, 8, 8)
    assert _cli(capsys, "interpolate", vae_run, "--from", "0", "--to", "5", "-o", tmp_path / "i.png")[0] == 0
    code, _, err = _cli(capsys, "interpolate", vae_run, "--from", "0", "--to", "99999", "-o", tmp_path / "j.png")
    assert code == 1 and "out of range" in err and len(err.strip().splitlines()) == 1
    report = (vae_run / "report.html").read_text()
    assert 'id="samples"' in report and 'id="interpolations"' in report


def test_cli_sample_refuses_a_model_without_prior(tmp_path, capsys):
    out = tmp_path / "ae"
    assert _cli(capsys, "train", "ae", "--out", out, "--set", "hidden=16", "--set", "latent_dim=2",
                "--epochs", "1", "--no-progress")[0] == 0
    code, _, err = _cli(capsys, "sample", out, "-o", tmp_path / "x.png")
    assert code == 1 and "no prior to sample from" in err
    code, _, err = _cli(capsys, "train", "vae", "--preset", "iwae-mnist", "--out", tmp_path / "v", "--no-progress")
    assert code == 1 and "preset 'iwae-mnist' is for data of shape (1, 28, 28)" in err


def test_shipped_classifier_scores_mnist(mnist_dir):
    from aelab.data import load_dataset
    from aelab.eval.sample_quality import load_classifier, sample_quality

    clf = load_classifier()
    test = load_dataset("mnist", "test", mnist_dir)
    x, y = test.x[:2000], test.y[:2000]
    with torch.no_grad():
        acc = float((clf(x).argmax(1) == y).float().mean())
    assert acc > 0.98
    real = sample_quality(x[:1000], x[1000:], clf)
    noise = sample_quality(torch.rand(1000, 1, 28, 28), x[1000:], clf)
    assert real["frechet"] * 10 < noise["frechet"]
