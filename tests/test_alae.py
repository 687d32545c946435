"""ALAE (Pidhorskyi et al. 2020): Algorithm 1's three updates, the w-space latent loss, R1 on real data only, the
style architecture's progressive growing, and a run trained, saved, loaded, resumed and sampled."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import aelab
from aelab.cli import main
from aelab.errors import ConfigError
from aelab.models import Batch, Progress
from aelab.models.base import build_model
from aelab.nn.style import growth, image_at
from aelab.recipes import presets
from aelab.recipes.train import TrainConfig
from aelab.train.callbacks import StopAt
from aelab.train.plan import plan_run
from aelab.train.trainer import Trainer, make_optimizer

PRESETS = presets("alae")
PROGRESS = Progress(0, 10, 10)
NETWORKS = ("mapping", "generator", "encoder", "discriminator")  # F, G, E, D
OWNERS = {"discriminator": {"encoder", "discriminator"}, "generator": {"mapping", "generator"},
          "latent": {"generator", "encoder"}}


def alae(preset: str = "tiny", **over) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("alae", {**{k: v for k, v in PRESETS[preset].items() if k != "train"}, **over})


def _snapshot(model) -> dict[str, list[torch.Tensor]]:
    return {n: [p.detach().clone() for p in getattr(model, n).parameters()] for n in NETWORKS}


def _changed(model, before) -> set[str]:
    return {n for n in NETWORKS
            if any(not torch.equal(a, p) for a, p in zip(before[n], getattr(model, n).parameters()))}


@pytest.mark.parametrize("preset", ["tiny", "tiny-style"])
def test_each_update_changes_exactly_the_networks_it_names(preset):
    model = alae(preset)
    x = torch.rand(16, *model.input_shape)
    updates = {u.name: u for u in model.updates()}
    assert list(updates) == ["discriminator", "generator", "latent"]
    for name, u in updates.items():
        owned = {n for n in NETWORKS if {id(p) for p in getattr(model, n).parameters()} <= {id(p) for p in u.params}}
        assert owned == OWNERS[name] and len(u.params) == sum(len(list(getattr(model, n).parameters())) for n in owned)
        # the loss's gradient reaches exactly these networks (an SGD over the whole model, all gradients zeroed) ...
        model.zero_grad(set_to_none=True)
        u.loss(Batch(x), PROGRESS)["loss"].backward()
        reached = {n for n in NETWORKS if any(p.grad is not None and p.grad.abs().sum() > 0
                                              for p in getattr(model, n).parameters())}
        assert reached == OWNERS[name], f"{name}: gradient reached {sorted(reached)}"
        # ... and one step of the trainer's own optimiser for this update moves exactly them
        before = _snapshot(model)
        opt = make_optimizer(u, TrainConfig(lr=1e-2, betas=(0.0, 0.99)))
        model.zero_grad(set_to_none=True)
        u.loss(Batch(x), PROGRESS)["loss"].backward()
        opt.step()
        assert _changed(model, before) == OWNERS[name], name


def test_a_trainer_step_runs_the_three_updates_in_algorithm_1s_order_with_their_own_draws(tmp_path):
    model = alae()
    x = torch.rand(32, *model.input_shape)
    trainer = Trainer(model, x, TrainConfig(epochs=1, batch_size=16), tmp_path)
    calls = []
    for name in ("discriminator_loss", "generator_loss", "latent_loss"):
        real = getattr(model, name)
        setattr(model, name, lambda b, p, real=real, name=name: calls.append((name, b.randn(3))) or real(b, p))
    trainer.updates = model.updates()  # the same parameters (and optimisers), the spied losses
    terms = trainer.train_batch(Batch(x[:16]))
    assert [c[0] for c in calls] == ["discriminator_loss", "generator_loss", "latent_loss"]
    # each update draws from a noise stream of its own (z is drawn afresh for every step of Algorithm 1)
    assert not torch.equal(calls[0][1], calls[1][1]) and not torch.equal(calls[1][1], calls[2][1])
    assert {"discriminator/loss", "discriminator/r1", "generator/loss", "latent/w_err"} <= set(terms)


@pytest.mark.parametrize("preset", ["tiny", "tiny-style"])
def test_the_latent_loss_compares_f_of_z_with_its_encoding_in_w_space_never_pixels(preset):
    model = alae(preset)
    seen: dict[str, list] = {n: [] for n in ("mapping", "generator", "encoder")}
    for n in seen:
        net = getattr(model, n)
        net.forward = (lambda *a, _f=net.forward, _n=n, **k: seen[_n].append((a[0], r := _f(*a, **k))) or r)
    x = torch.rand(8, *model.input_shape)
    torch.manual_seed(1)
    out = model.latent_loss(Batch(x), PROGRESS)
    (z, w), = seen["mapping"]
    (g_in, image), = seen["generator"]
    (e_in, w_rec), = seen["encoder"]
    assert z.shape == (8, model.config.latent_dim) and torch.equal(g_in, w) and torch.equal(e_in, image)
    assert not w.requires_grad  # F(z) is a fixed target: F is not the latent update's to change
    assert torch.allclose(out["loss"], (w_rec - w).pow(2).mean())
    # the data's pixels play no part: another batch of images with the same draws gives the same loss
    other = torch.rand(8, *model.input_shape)
    torch.manual_seed(1)
    assert torch.equal(model.latent_loss(Batch(other), PROGRESS)["loss"], out["loss"])


def _hand_r1(model, x: torch.Tensor) -> torch.Tensor:
    """||grad_x D(E(x))||^2 per example, x on the network's [-1, 1] scale (the official losses.py)."""
    real = (2 * x - 1).requires_grad_(True)
    (g,) = torch.autograd.grad(model.discriminator(model.encoder(real)).sum(), real)
    return g.pow(2).flatten(1).sum(1)


def test_r1_is_the_gradient_penalty_of_d_of_e_on_real_data_only():
    model = alae(gamma=10.0)
    x = torch.rand(12, *model.input_shape)
    torch.manual_seed(3)
    out = model.discriminator_loss(Batch(x), PROGRESS)
    r1 = _hand_r1(model, x)
    assert r1.mean() > 0 and torch.allclose(out["r1"], r1.mean(), rtol=1e-5)
    # the whole loss: softplus on fakes G(F(z)) and on real data, plus gamma/2 R1 (Algorithm 1, step I)
    torch.manual_seed(3)
    with torch.no_grad():
        d_fake = model.discriminator(model.encoder(model.generator(model.mapping(torch.randn(12, 4)))))
        d_real = model.discriminator(model.encoder(2 * x - 1))
    ref = (F.softplus(d_fake) + F.softplus(-d_real) + 5.0 * r1).mean()
    assert torch.allclose(out["loss"], ref, rtol=1e-5)
    # fakes change the adversarial term, never R1
    with torch.no_grad():
        for p in model.generator.parameters():
            p.mul_(3.0).add_(0.5)
    torch.manual_seed(3)
    again = model.discriminator_loss(Batch(x), PROGRESS)
    assert not torch.allclose(again["d_fake"], out["d_fake"]) and torch.equal(again["r1"], out["r1"])
    # gamma = 0: no penalty at all
    model.config.gamma = 0.0
    torch.manual_seed(3)
    plain = model.discriminator_loss(Batch(x), PROGRESS)
    assert "r1" not in plain and torch.allclose(again["loss"] - plain["loss"], 5.0 * r1.mean(), rtol=1e-4)


def test_decode_is_a_linear_output_on_minus_one_one_mapped_into_the_unit_interval():
    model = alae()
    w = torch.randn(5, 4)
    y = model.generator(w)
    assert torch.allclose(model.decode(w), ((y + 1) / 2).clamp(0, 1))
    assert torch.equal(model(torch.zeros(2, 1, 8, 8)), model.decode(model.encode(torch.zeros(2, 1, 8, 8))))
    a = model.sample(6, generator=torch.Generator().manual_seed(4))
    z = torch.randn(6, 4, generator=torch.Generator().manual_seed(4))
    assert torch.allclose(a, model.decode(model.mapping(z)))  # sample = G(F(z)), z from the given generator


@pytest.mark.parametrize("preset", ["tiny", "tiny-style"])
def test_a_tanh_output_bounds_g_in_training_and_decoding_alike(preset):
    linear, bounded = alae(preset), alae(preset, output="tanh")
    bounded.load_state_dict(linear.state_dict())  # the same networks: only the last activation differs
    w = 30 * torch.randn(5, 4)  # large codes push a linear output far outside [-1, 1]
    level, alpha = linear.stage()
    y = linear.generate(w, level, alpha, None)
    assert y.abs().max() > 1
    assert torch.allclose(bounded.generate(w, level, alpha, None), torch.tanh(y))  # what the updates see
    assert torch.allclose(bounded.decode(w), (torch.tanh(linear.generate(w, level, alpha, linear._fixed_noise(
        5, torch.Generator().manual_seed(0)))) + 1) / 2)  # no clamp needed: (tanh + 1) / 2 is inside [0, 1]


# --- the style architecture ---------------------------------------------------------------------------------------
def test_the_growth_schedule_adds_a_level_every_grow_epochs_and_fades_it_in_over_the_first_half():
    assert growth(0.0, 2.0, 3) == (0, 1.0) and growth(1.99, 2.0, 3) == (0, 1.0)
    assert growth(2.0, 2.0, 3) == (1, 0.0)
    level, alpha = growth(2.5, 2.0, 3)
    assert level == 1 and alpha == pytest.approx(0.5)  # the official sine ramp is 1/2 half-way
    assert growth(2.25, 2.0, 3)[1] == pytest.approx(0.5 + 0.5 * np.sin(np.pi * 0.25 - np.pi / 2))
    assert growth(3.0, 2.0, 3) == (1, 1.0) and growth(4.2, 2.0, 3)[0] == 2 and growth(400.0, 2.0, 3) == (2, 1.0)
    assert growth(0.0, 0.0, 3) == (2, 1.0)  # no growing: the top level from the start


def test_the_model_follows_training_progress_and_decodes_at_the_level_it_trained():
    model = alae("tiny-style", channels=(8, 8, 4), input_shape=(1, 16, 16), grow_epochs=2.0)
    x = torch.rand(4, 1, 16, 16)
    w = torch.randn(4, 4)
    for epoch, (level, alpha) in [(0.5, (0, 1.0)), (2.5, (1, 0.5)), (3.5, (1, 1.0)), (4.0, (2, 0.0)), (9.0, (2, 1.0))]:
        out = model.discriminator_loss(Batch(x), Progress(int(epoch * 10), 1000, 10))
        assert torch.isfinite(out["loss"])
        assert model.stage() == (level, pytest.approx(alpha))
        assert model.to_network(x, level, alpha).shape == (4, 1, 4 * 2**level, 4 * 2**level)
        assert model.generate(w, level, alpha, None).shape == (4, 1, 4 * 2**level, 4 * 2**level)
        assert model.decode(w).shape == (4, 1, 16, 16) and model.encode(x).shape == (4, 4)


def test_a_new_level_at_alpha_zero_is_the_level_below_and_at_one_is_its_own():
    model = alae("tiny-style", channels=(8, 4), grow_epochs=1.0)
    w, x = torch.randn(3, 4), torch.rand(3, 1, 8, 8) * 2 - 1
    low = model.generator(w, 0)
    assert torch.equal(model.generator(w, 1, 0.0), F.interpolate(low, scale_factor=2, mode="nearest"))
    top = model.generator(w, 1, 1.0)
    assert torch.allclose(model.generator(w, 1, 0.3), 0.7 * F.interpolate(low, scale_factor=2) + 0.3 * top, atol=1e-6)
    assert torch.allclose(model.encoder(x, 1, 0.0), model.encoder(F.avg_pool2d(x, 2), 0), atol=1e-6)
    assert not torch.allclose(model.encoder(x, 1, 1.0), model.encoder(F.avg_pool2d(x, 2), 0))
    # the real images a growing level trains on are blended the same way
    assert torch.equal(image_at(x, 1, 1, 0.0), F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest"))
    assert torch.equal(image_at(x, 0, 1), F.avg_pool2d(x, 2))


def test_the_style_encoder_sums_one_linear_map_of_each_layers_instance_statistics():
    model = alae("tiny-style")
    stats = []
    for block in model.encoder.blocks:
        for lin in (block.style_1, block.style_2):
            lin.forward = (lambda s, _f=lin.forward: stats.append(s) or _f(s))
    x = torch.rand(2, 1, 8, 8) * 2 - 1
    w = model.encoder(x, 1)
    assert len(stats) == 4 and w.shape == (2, 4)  # two levels, two layers each
    # the first layer's statistics: each channel's mean and (biased) standard deviation over the image
    with torch.no_grad():
        a = F.leaky_relu(model.encoder.blocks[1].conv_1(F.leaky_relu(model.encoder.from_rgb[1](x), 0.2)), 0.2)
    assert torch.allclose(stats[0], torch.cat([a.mean((2, 3)), a.std((2, 3), unbiased=False)], 1), atol=1e-5)
    with torch.no_grad():
        for lin in (b.style_1 for b in model.encoder.blocks):
            lin.weight.zero_(), lin.bias.zero_()
        for lin in (b.style_2 for b in model.encoder.blocks):
            lin.weight.zero_(), lin.bias.fill_(0.25)
    assert torch.allclose(model.encoder(x, 1), torch.full((2, 4), 0.5))  # 2 levels x 0.25: a sum over layers


def test_mnist_sized_images_are_padded_to_32_for_the_style_arch_and_cropped_back():
    model = alae("mnist-style")
    assert model.pad == (2, 2, 2, 2) and model.stage() == (3, 1.0)
    x = torch.rand(2, 1, 28, 28)
    net = model.to_network(x, 3, 1.0)
    assert net.shape == (2, 1, 32, 32) and torch.equal(net[..., 2:30, 2:30], 2 * x - 1)
    assert (net[..., :2, :] == -1).all() and (net[..., :, 30:] == -1).all()  # zero padding, on the [-1, 1] scale
    assert model.decode(model.encode(x)).shape == (2, 1, 28, 28)


@pytest.mark.parametrize("preset", ["tiny", "tiny-style"])
def test_every_training_draw_comes_through_the_batch_so_runs_reproduce_and_resume(preset):
    from aelab.models.base import Noise

    model = alae(preset)
    with torch.no_grad():
        for block in getattr(model.generator, "blocks", []):  # noise strengths start at zero: make noise count
            block.noise_1.fill_(0.1), block.noise_2.fill_(0.1)
    x = torch.rand(8, *model.input_shape)
    for name in ("discriminator_loss", "generator_loss", "latent_loss"):
        results = []
        for global_seed in (0, 1):
            torch.manual_seed(global_seed)  # the global generator must not matter
            results.append(getattr(model, name)(Batch(x, noise=Noise(7, 3, 1, (0, 8), 8)), PROGRESS)["loss"])
        other = getattr(model, name)(Batch(x, noise=Noise(7, 4, 1, (0, 8), 8)), PROGRESS)["loss"]
        assert torch.equal(results[0], results[1]) and not torch.equal(results[0], other), name


def test_style_noise_is_drawn_from_the_batch_or_the_given_generator_and_decoding_is_deterministic():
    model = alae("tiny-style")
    with torch.no_grad():
        for block in model.generator.blocks:
            block.noise_1.fill_(0.5)
    w = torch.randn(3, 4)
    assert torch.equal(model.decode(w), model.decode(w))  # one fixed noise draw: decoding is a function
    a, b = (model.sample(3, generator=torch.Generator().manual_seed(s)) for s in (0, 0))
    c = model.sample(3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(model.decode(w), alae("tiny-style", noise=False).decode(w))


def test_bad_configs_are_one_line_errors():
    for bad, match in [({"arch": "conv"}, "unknown arch"), ({"gamma": -1.0}, "gamma"),
                       ({"arch": "style", "channels": (8, 8)}, "smaller than the 28x28"),
                       ({"latent_dim": 0}, "latent_dim"), ({"grow_epochs": -1.0}, "grow_epochs"),
                       ({"output": "sigmoid"}, "unknown output")]:
        with pytest.raises(ConfigError, match=match) as e:
            build_model("alae", bad)
        assert "\n" not in str(e.value)


# --- runs -----------------------------------------------------------------------------------------------------------
def _spec(preset: str, epochs: int = 2):
    cfg = {k: v for k, v in PRESETS[preset].items() if k != "train"}
    return plan_run("alae", cfg, "digits", train=TrainConfig(epochs=epochs, batch_size=32, lr=2e-3, betas=(0.0, 0.99),
                                                             schedule="constant"))


def test_a_trained_style_run_loads_with_its_growth_and_resumes_exactly(digits, tmp_path):
    x = digits[0].x[:160]
    trained = aelab.fit(_spec("tiny-style"), x, out=tmp_path / "run", progress=False).model
    assert trained.stage() == (1, 1.0)  # 2 epochs, a level per epoch, faded in over half of one: at the top
    loaded = aelab.load(tmp_path / "run")
    assert torch.equal(loaded.growth, trained.growth)
    g = torch.Generator
    for a, b in [(trained.eval()(x[:8]), loaded(x[:8])), (trained.encode(x[:8]), loaded.encode(x[:8])),
                 (trained.sample(4, g().manual_seed(2)), loaded.sample(4, g().manual_seed(2)))]:
        assert torch.equal(a, b)
    # killed half-way, then resumed: the same weights as the uninterrupted run (noise comes through the batch)
    aelab.fit(_spec("tiny-style"), x, out=tmp_path / "cut", progress=False, callbacks={"model": [StopAt(7)]})
    resumed = aelab.fit(_spec("tiny-style"), x, out=tmp_path / "cut", progress=False, resume=True).model
    full, cut = trained.state_dict(), resumed.state_dict()
    assert full.keys() == cut.keys() and all(torch.equal(full[k], cut[k]) for k in full)


def test_the_cli_trains_alae_on_digits_and_samples(tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["train", "alae", "--data", "digits", "--epochs", "2", "--out", str(run), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert "using preset 'digits' of alae" in capsys.readouterr().out
    stage = json.loads((run / "config.json").read_text())["stages"][0]
    assert stage["model"]["config"]["hidden"] == [256, 256]  # the digits preset, with its recipe
    assert stage["train"]["betas"] == [0.0, 0.99] and stage["train"]["schedule"] == "constant"
    assert main(["sample", str(run), "-n", "9", "-o", str(tmp_path / "x.png")]) == 0
    assert (tmp_path / "x.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["sample", str(run), "-n", "5", "-o", str(tmp_path / "x.npy")]) == 0
    s = np.load(tmp_path / "x.npy")
    assert s.shape == (5, 1, 8, 8) and 0 <= s.min() and s.max() <= 1 and s.std() > 0
    assert aelab.load(run).name == "alae"
