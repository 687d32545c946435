"""ACAI's two losses (Berthelot et al. 2019, Sec. 2), the pool architecture family, and the VQ-VAE decoding
only codebook vectors (its interpolations jump)."""

from __future__ import annotations

import pytest
import torch

from aelab.recipes import presets
from aelab.errors import ConfigError
from aelab.models import Batch, Progress
from aelab.models.base import build_model, model_class
from aelab.nn import Net, PoolDecoder, PoolEncoder, encoder_decoder

PROGRESS = Progress(0, 10, 10)


def _constant_critic(model, value: float) -> None:
    """Make the critic's score `value` for every input: its last convolution outputs its bias only."""
    last = [m for m in model.critic.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(value)


def _alpha(n: int, seed: int) -> torch.Tensor:
    torch.manual_seed(seed)
    return (0.5 - (torch.rand(n, 1) - 0.5).abs()).squeeze(1)


def test_the_critic_regresses_alpha_on_interpolants_and_zero_on_blended_reconstructions():
    model = build_model("acai", presets("acai")["tiny"])
    x = torch.rand(16, 1, 8, 8)
    _constant_critic(model, 0.3)
    torch.manual_seed(5)
    out = model.critic_loss(Batch(x), PROGRESS)
    alpha = _alpha(16, 5)  # the same draw the loss made
    assert alpha.min() >= 0 and alpha.max() <= 0.5 and alpha.std() > 0
    assert torch.allclose(out["alpha_err"], (0.3 - alpha).pow(2).mean(), atol=1e-6)
    assert torch.allclose(out["on_real"], torch.tensor(0.09), atol=1e-6)  # target 0


def test_the_critic_sees_interpolants_of_reversed_pairs_and_gamma_blends_of_data_and_reconstruction():
    model = build_model("acai", {**presets("acai")["tiny"], "gamma": 0.2})
    x = torch.rand(6, 1, 8, 8)
    seen = []
    model.score = lambda images: seen.append(images.detach().clone()) or torch.zeros(len(images))
    torch.manual_seed(3)
    model.critic_loss(Batch(x), PROGRESS)
    alpha = _alpha(6, 3).unsqueeze(1)
    with torch.no_grad():
        z = model.encoder(x)
        mixed = model.decoder(alpha * z + (1 - alpha) * z.flip(0))
        blended = 0.2 * x.flatten(1) + 0.8 * model.decoder(z)
    assert torch.allclose(seen[0], mixed, atol=1e-6)
    assert torch.allclose(seen[1], blended, atol=1e-6)


def test_the_autoencoder_is_pushed_towards_a_critic_output_of_zero_on_interpolants():
    model = build_model("acai", {**presets("acai")["tiny"], "lam": 0.5})
    x = torch.rand(8, 1, 8, 8)
    _constant_critic(model, 0.4)
    out = model.autoencoder_loss(Batch(x), PROGRESS)
    assert torch.allclose(out["critic_on_mix"], torch.tensor(0.16), atol=1e-6)
    assert torch.allclose(out["loss"], out["rec"] + 0.5 * 0.16, atol=1e-5)
    # the reconstruction term is the paper's mean squared error on [-1, 1] images: 4x ours on [0, 1]
    with torch.no_grad():
        ref = (model.decoder(model.encoder(x)) - x.flatten(1)).pow(2).mean() * 4
    assert torch.allclose(out["rec"], ref, atol=1e-6)


def test_acai_updates_own_disjoint_parameters_and_decodes_into_the_unit_interval():
    model = build_model("acai", presets("acai")["tiny"])
    ae, critic = model.updates()
    assert {id(p) for p in ae.params}.isdisjoint({id(p) for p in critic.params})
    assert len(ae.params) + len(critic.params) == len(list(model.parameters()))
    y = model.decode(torch.randn(4, 8) * 10)
    assert y.shape == (4, 1, 8, 8) and y.min() >= 0 and y.max() <= 1


@pytest.mark.parametrize("shape,channels,grid", [((1, 32, 32), (16, 32, 64, 128), (2, 2)),
                                                  ((1, 28, 28), (8, 16, 32), (4, 4)), ((3, 8, 12), (4,), (4, 6))])
def test_the_pool_family_halves_per_scale_pads_to_fit_and_crops_back(shape, channels, grid):
    net = Net(channels=channels, activation="lrelu")
    enc = PoolEncoder(shape, net, 5)
    dec = PoolDecoder(5, net, shape)
    x = torch.rand(2, *shape)
    z = enc(x)
    assert z.shape == (2, 5, *grid)
    assert dec(z).shape == (2, *shape)
    flat_enc, flat_dec = encoder_decoder("pool", shape, net, 3 * grid[0] * grid[1], 2 * grid[0] * grid[1])
    assert flat_enc(x).shape == (2, 3 * grid[0] * grid[1])
    assert flat_dec(torch.randn(2, 2 * grid[0] * grid[1])).shape == (2, shape[0] * shape[1] * shape[2])


def test_the_pool_family_refuses_codes_that_are_not_whole_grids_in_one_line():
    with pytest.raises(ConfigError, match="multiple of 4"):
        encoder_decoder("pool", (1, 32, 32), Net(channels=(16, 32, 64, 128), activation="lrelu"), 10, 10)
    with pytest.raises(ConfigError, match="at least 16x16"):
        build_model("acai", {"input_shape": (1, 8, 8), "channels": (4, 4, 4, 4), "latent_dim": 4})


def test_the_pool_padding_is_zero_and_centred():
    # 28 -> 32: the first layer sees the image in the middle and two rows and columns of zeros on each side
    net = Net(channels=(4, 8, 16), activation="lrelu")
    enc = PoolEncoder((1, 28, 28), net, 2)
    seen = []
    enc.net[0].register_forward_hook(lambda mod, inputs, out: seen.append(inputs[0]))
    x = torch.rand(3, 1, 28, 28) + 0.5  # no pixel is 0, so only padding can be
    enc(x)
    (padded,) = seen
    assert padded.shape == (3, 1, 32, 32)
    assert torch.equal(padded[..., 2:30, 2:30], x)
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:30, 2:30] = False
    assert torch.equal(padded[..., border], torch.zeros_like(padded[..., border]))
    # the decoder crops the same window back out of its 32x32 output
    dec = PoolDecoder(2, net, (1, 28, 28))
    z = torch.randn(1, 2, 4, 4)
    assert torch.equal(dec(z), dec.net(z)[..., 2:30, 2:30])


def test_a_vqvae_decodes_only_codebook_vectors_so_its_interpolations_jump():
    torch.manual_seed(0)  # a fixed codebook and images: the 0.01 nudge below stays inside its code's cell
    model = build_model("vqvae", {**presets("vqvae")["tiny"], "num_codes": 4})
    model.eval()
    with torch.no_grad():
        x = torch.rand(2, 1, 8, 8)
        za, zb = model.encode(x)
        frames = torch.stack([model.decode(((1 - t) * za + t * zb).unsqueeze(0))[0] for t in torch.linspace(0, 1, 9)])
        # every frame is the decoding of some grid of codes: the frames take few distinct values
        grids = [model.quantizer.nearest(((1 - t) * za + t * zb).unsqueeze(0)) for t in torch.linspace(0, 1, 9)]
        for f, g in zip(frames, grids):
            assert torch.allclose(f, model.decode_indices(g)[0], atol=1e-6)
        # a point off the codebook decodes as its nearest code does
        off = za + 0.01 * torch.randn_like(za)
        assert torch.allclose(model.decode(off.unsqueeze(0)), model.decode(za.unsqueeze(0)), atol=1e-6)
