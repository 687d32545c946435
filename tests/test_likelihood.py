"""The reconstruction likelihoods (nn/likelihood.py) against torch.distributions, and the VAE's 256-way one in use."""

import math

import pytest
import torch
from torch.distributions import Bernoulli, Categorical, Multinomial, Normal, Poisson

from aelab.errors import ConfigError
from aelab.eval.reconstruction import evaluate
from aelab.models import build_model
from aelab.nn import likelihood as lik
from aelab.recipes.train import TrainConfig
from aelab.train.trainer import Trainer

B, D = 5, 7


def _weighted(per_input: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    return (per_input if weight is None else per_input * weight).sum(1)


def _inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return g, torch.randn(B, D, generator=g) * 3, torch.rand(B, D, generator=g) * 2 + 0.5  # logits, weights


WEIGHTS = [False, True]


@pytest.mark.parametrize("weighted", WEIGHTS)
def test_bernoulli_with_logits_is_torchs_for_binary_and_grey_targets(weighted):
    g, logits, w = _inputs()
    weight = w if weighted else None
    binary = torch.bernoulli(torch.full((B, D), 0.5), generator=g)
    grey = torch.rand(B, D, generator=g)  # intensities: the cross-entropy the models train on
    for x in (binary, grey):
        want = _weighted(Bernoulli(logits=logits, validate_args=False).log_prob(x), weight)
        assert torch.allclose(lik.bernoulli(logits, x, weight), want, atol=1e-5)
    big = torch.full((1, 3), 80.0)  # where sigmoid rounds to 1, the logits keep the log finite
    assert torch.allclose(lik.bernoulli(big, torch.zeros(1, 3)), torch.tensor([-240.0]))


@pytest.mark.parametrize("weighted", WEIGHTS)
def test_bernoulli_of_probabilities_is_torchs_and_clamps(weighted):
    g, logits, w = _inputs(1)
    weight = w if weighted else None
    p, x = torch.sigmoid(logits / 3), torch.rand(B, D, generator=g)
    want = _weighted(Bernoulli(probs=p, validate_args=False).log_prob(x), weight)
    assert torch.allclose(lik.bernoulli_probs(p, x, weight), want, atol=1e-5)
    floor = lik.bernoulli_probs(torch.zeros(1, 2), torch.ones(1, 2))  # p = 0 where x = 1: log eps, not -inf
    assert torch.allclose(floor, torch.tensor([2 * math.log(lik.BERNOULLI_EPS)]))


@pytest.mark.parametrize("weighted", WEIGHTS)
@pytest.mark.parametrize("per_input", [False, True])
def test_gaussian_is_torchs_normal_with_one_or_per_input_sigma(weighted, per_input):
    g, logits, w = _inputs(2)
    weight = w if weighted else None
    mean, x = torch.rand(B, D, generator=g), torch.rand(B, D, generator=g)
    log_sigma = torch.randn(D, generator=g) * 0.5 if per_input else torch.tensor(math.log(0.1))
    want = _weighted(Normal(mean, log_sigma.exp()).log_prob(x), weight)
    assert torch.allclose(lik.gaussian(mean, x, log_sigma, weight), want, atol=1e-4)
    # the Decoder-side object: mean sigmoid(out), the same density
    out = torch.logit(mean)
    assert torch.allclose(lik.Gaussian(log_sigma).log_prob(out, x, weight), want, atol=1e-3)


@pytest.mark.parametrize("weighted", WEIGHTS)
def test_squared_error_is_a_fixed_variance_gaussian_without_its_constant(weighted):
    g, logits, w = _inputs(3)
    weight = w if weighted else None
    mean, x, sigma = torch.rand(B, D, generator=g), torch.rand(B, D, generator=g), 0.3
    constant = math.log(sigma) + 0.5 * math.log(2 * math.pi)
    want = -2 * sigma**2 * _weighted(Normal(mean, sigma).log_prob(x) + constant, weight)
    assert torch.allclose(lik.squared_error(mean, x, weight), want, atol=1e-5)


@pytest.mark.parametrize("weighted", WEIGHTS)
def test_categorical256_is_torchs_categorical_over_8_bit_levels(weighted):
    g, _, w = _inputs(4)
    weight = w if weighted else None
    logits = torch.randn(B, 256 * D, generator=g) * 2
    k = torch.randint(0, 256, (B, D), generator=g)
    x = k.float() / 255
    assert torch.equal(lik.levels(x), k)
    per_input = Categorical(logits=logits.view(B, 256, D).transpose(1, 2)).log_prob(k)  # (B, D)
    assert torch.allclose(lik.categorical256(logits, x, weight), _weighted(per_input, weight), atol=1e-4)
    assert torch.allclose(lik.Categorical256().log_prob(logits, x, weight), _weighted(per_input, weight), atol=1e-4)


def test_categorical256_mean_is_the_expected_intensity():
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(B, 256 * D, generator=g)
    probs = Categorical(logits=logits.view(B, 256, D).transpose(1, 2)).probs  # (B, D, 256)
    want = probs @ (torch.arange(256.0) / 255)
    mean = lik.categorical256_mean(logits)
    assert mean.shape == (B, D) and torch.allclose(mean, want, atol=1e-6)
    assert 0 <= float(mean.min()) and float(mean.max()) <= 1
    sure = torch.full((1, 256, 2), -50.0)
    sure[0, 17, 0] = sure[0, 255, 1] = 50.0  # all mass on level 17 and on level 255
    assert torch.allclose(lik.Categorical256().mean(sure.flatten(1)), torch.tensor([[17 / 255, 1.0]]), atol=1e-6)


def _documents(seed: int):
    g = torch.Generator().manual_seed(seed)
    counts = torch.poisson(torch.rand(B, D, generator=g) * 3, generator=g)
    counts[0] = 0  # an empty document
    counts[1, 0] += 1  # and at least one that is not
    return g, torch.randn(B, D, generator=g), counts


@pytest.mark.parametrize("weighted", WEIGHTS)
def test_multinomial_is_torchs(weighted):
    g, logits, counts = _documents(6)
    weight = torch.rand(B, D, generator=g) + 0.5 if weighted else None
    got = lik.multinomial(logits, counts, weight)
    for i in range(B):
        n = int(counts[i].sum())
        want = Multinomial(n, logits=logits[i]).log_prob(counts[i])
        if weighted:  # each word's own term weighted; log N! belongs to no word
            own = counts[i] * Categorical(logits=logits[i]).logits - torch.lgamma(counts[i] + 1)
            want = want + ((weight[i] - 1) * own).sum()
        assert torch.allclose(got[i], want, atol=1e-4), i


@pytest.mark.parametrize("weighted", WEIGHTS)
def test_constrained_poisson_is_torchs_poisson_with_rates_summing_to_the_length(weighted):
    g, logits, counts = _documents(7)
    weight = torch.rand(B, D, generator=g) + 0.5 if weighted else None
    rate = counts.sum(1, keepdim=True) * torch.softmax(logits, dim=1)
    want = _weighted(Poisson(rate).log_prob(counts), weight)
    got = lik.constrained_poisson(logits, counts, weight)
    assert torch.isfinite(got).all() and torch.allclose(got, want, atol=1e-4)
    assert float(got[0]) == 0.0  # an empty document is certain


def test_word_cross_entropy_is_the_per_word_nll_of_both_count_models():
    _, logits, counts = _documents(8)
    n = counts.sum(1)
    ce = lik.word_cross_entropy(logits, counts)
    assert float(ce[0]) == 0.0
    free = torch.lgamma(counts + 1).sum(1)  # the terms that do not depend on the logits
    from_multinomial = -(lik.multinomial(logits, counts) - torch.lgamma(n + 1) + free) / n
    from_poisson = -(lik.constrained_poisson(logits, counts) - n * n.log() + n + free) / n
    assert torch.allclose(ce[1:], from_multinomial[1:], atol=1e-5)
    assert torch.allclose(ce[1:], from_poisson[1:], atol=1e-5)
    logits.requires_grad_()
    (grad,) = torch.autograd.grad(lik.word_cross_entropy(logits, counts)[1:].sum(), logits)
    share = counts[1:] / n[1:, None]
    assert torch.allclose(grad[1:], torch.softmax(logits[1:], dim=1) - share, atol=1e-6)  # the softmax's error


def test_decoder_likelihoods_by_name():
    assert set(lik.DECODER_LIKELIHOODS) == {"bernoulli", "gaussian", "categorical256"}
    assert lik.decoder_likelihood("categorical256").outputs == 256
    assert lik.decoder_likelihood("bernoulli").outputs == 1
    out = torch.randn(2, 3)
    assert torch.equal(lik.decoder_likelihood("bernoulli").mean(out), torch.sigmoid(out))
    assert torch.equal(lik.decoder_likelihood("gaussian", torch.tensor(0.0)).mean(out), torch.sigmoid(out))
    with pytest.raises(ValueError, match="log_sigma"):
        lik.decoder_likelihood("gaussian")


def test_the_vqvae_gaussian_is_torchs_normal_around_the_logistic_output():
    torch.manual_seed(0)
    model = build_model("vqvae", {"input_shape": [1, 8, 8], "hidden": 8, "res_hidden": 4, "num_codes": 8,
                                  "latent_dim": 4, "likelihood": "gaussian", "sigma": 0.2})
    logits, x = torch.randn(3, 1, 8, 8), torch.rand(3, 1, 8, 8)
    want = -Normal(torch.sigmoid(logits), 0.2).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(model.nll_given_codes(logits, x), want, atol=1e-3)


# --- the 256-way categorical in the VAE --------------------------------------------------------
CAT_VAE = {"input_shape": [1, 8, 8], "hidden": [32], "latent_dim": 4, "likelihood": "categorical256"}


@pytest.mark.parametrize("arch", [{"arch": "mlp"}, {"arch": "conv", "channels": [8, 16], "activation": "relu"}])
def test_a_categorical256_vae_trains_and_decodes_the_expected_intensity(tmp_path, digits, arch):
    train, test = digits
    torch.manual_seed(0)
    model = build_model("vae", {**CAT_VAE, **arch})
    x = test.x[:50]
    with torch.no_grad():
        mu, _ = model.posterior(x)
        out = model.decoder(mu)
        assert out.shape == (50, 256 * 64)  # 256 logits per pixel
        assert torch.allclose(model.decode(mu).flatten(1), lik.categorical256_mean(out))
        assert torch.allclose(model.log_px_given_z(x, out), lik.categorical256(out, x.flatten(1)))
        before = evaluate(model, x)["nelbo"]
    Trainer(model, train.x[:400], TrainConfig(epochs=3, batch_size=50, lr=3e-3, schedule="constant"), tmp_path).fit()
    model.eval()
    with torch.no_grad():
        torch.manual_seed(1)
        after = evaluate(model, x)["nelbo"]
        recon, lw = model(x), model.log_weights(x[:4], 3)
    assert after < before - 50  # from about 64 * log(256) = 355 nats
    assert recon.shape == x.shape and 0 <= float(recon.min()) and float(recon.max()) <= 1
    assert lw.shape == (4, 3) and torch.isfinite(lw).all()


def test_importance_weights_of_a_categorical256_vae_come_in_chunks_of_bounded_memory(monkeypatch):
    from aelab.models import vae

    torch.manual_seed(0)
    model = build_model("vae", CAT_VAE).eval()
    x = torch.randint(0, 256, (6, 1, 8, 8)) / 255
    calls: list[int] = []
    model.decoder.register_forward_hook(lambda module, args, out: calls.append(len(args[0])))
    with torch.no_grad():
        torch.manual_seed(3)
        whole = model.log_weights(x, 5)
        assert calls == [30]  # 6 examples x 5 draws
        monkeypatch.setattr(vae, "DECODER_ROWS", 256 * 4)  # 4 rows of 256 logits a pixel per decoder call
        calls.clear()
        torch.manual_seed(3)
        chunked = model.log_weights(x, 5)
    assert calls == [4] * 7 + [2]
    assert torch.allclose(chunked, whole, atol=1e-4)


def test_sigma_is_refused_for_a_categorical256_vae():
    with pytest.raises(ConfigError, match="likelihood is 'categorical256'"):
        build_model("vae", {**CAT_VAE, "sigma": 0.3})
    with pytest.raises(ConfigError, match="learn_sigma applies to the Gaussian decoder only"):
        build_model("vae", {**CAT_VAE, "learn_sigma": True})
