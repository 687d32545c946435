"""Gated PixelCNN prior (van den Oord et al. 2016): causality, no blind spot, likelihood, sampling, errors."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from aelab.errors import ConfigError, DataError
from aelab.nn import pixelcnn
from aelab.nn.pixelcnn import GatedPixelCNN

torch.set_num_threads(1)

H, W = 6, 7


def _dependence(logits_of, emb: torch.Tensor) -> torch.Tensor:
    """dep[i, j, a, b]: whether the logits at (i, j) have a non-zero gradient w.r.t. the input at (a, b)."""
    emb = emb.clone().requires_grad_(True)
    logits = logits_of(emb)
    _, k, h, w = logits.shape
    r = torch.randn(logits.shape[0], k, generator=torch.Generator().manual_seed(1), dtype=logits.dtype)
    dep = torch.zeros(h, w, h, w, dtype=torch.bool)
    for i in range(h):
        for j in range(w):
            # a random projection of the K logits, so that no lucky cancellation hides a dependence
            (g,) = torch.autograd.grad((logits[:, :, i, j] * r).sum(), emb, retain_graph=True)
            dep[i, j] = g.abs().sum(dim=(0, 1)) > 0
    return dep


def _earlier(h: int, w: int) -> torch.Tensor:
    """earlier[i, j, a, b]: (a, b) comes strictly before (i, j) in raster order."""
    order = torch.arange(h * w).view(h, w)  # raster position of each cell
    return order[None, None] < order[:, :, None, None]


def _model_dependence(model: GatedPixelCNN, seed: int = 0, h: int = H, w: int = W, labels=None) -> torch.Tensor:
    torch.manual_seed(seed)
    emb = torch.randn(2, model.embed_dim, h, w, dtype=torch.float64)
    return _dependence(lambda e: model.forward_embedded(e, labels), emb)


def _model(seed: int = 0, **kw) -> GatedPixelCNN:
    torch.manual_seed(seed)
    cfg = {"num_classes": 5, "channels": 8, "layers": 4, "kernel": 5, "embed_dim": 6, **kw}
    return GatedPixelCNN(**cfg).double()


# 1. causality ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kernel,layers", [(3, 6), (5, 4), (7, 2)])
def test_logits_depend_on_no_later_position(kernel, layers):
    dep = _model_dependence(_model(kernel=kernel, layers=layers))
    leaks = (dep & ~_earlier(H, W)).nonzero().tolist()
    assert not leaks, f"(i, j, a, b) with (a, b) not before (i, j) yet seen: {leaks[:5]}"
    assert dep.any()


def test_changing_later_codes_leaves_earlier_logits_unchanged():
    model = _model(kernel=3, layers=6)  # 6 layers of kernel 3 reach (i-1, j+6): the whole past of a 6x7 grid
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 5, (3, H, W), generator=g)
    base = model(x)
    for i, j in [(0, 0), (0, 6), (2, 3), (5, 0), (5, 6)]:
        y = x.clone().view(3, -1)
        pos = i * W + j
        y[:, pos:] = (y[:, pos:] + torch.randint(1, 5, y[:, pos:].shape, generator=g)) % 5  # every later code changes
        changed = model(y.view(3, H, W))
        assert torch.allclose(changed[:, :, i, j], base[:, :, i, j], atol=1e-12, rtol=0)
        if pos > 0:  # and the comparison can fail: changing only the code just before (i, j) does change them
            y2 = x.clone().view(3, -1)
            y2[:, pos - 1] = (y2[:, pos - 1] + 1) % 5
            assert ((model(y2.view(3, H, W))[:, :, i, j] - base[:, :, i, j]).abs() > 1e-9).any()


@pytest.mark.parametrize("broken", ["_down_shift", "_right_shift"])
def test_causality_check_catches_a_missing_shift(monkeypatch, broken):
    # without the down-shift of the vertical link the current row leaks; without the right shift, the code itself
    monkeypatch.setattr(pixelcnn, broken, lambda x: x)
    dep = _model_dependence(_model(kernel=3, layers=3))
    assert (dep & ~_earlier(H, W)).any()


# 2. no blind spot ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_receptive_field_is_exactly_every_earlier_position(seed):
    # 4 layers of kernel 5 reach 8 columns right and 9 rows up: the whole 6x7 past, with no blind spot
    dep = _model_dependence(_model(seed, kernel=5, layers=4), seed=seed)
    missing = (_earlier(H, W) & ~dep).nonzero().tolist()
    assert not missing, f"(i, j, a, b) with (a, b) before (i, j) but unseen: {missing[:5]}"


class _NaiveMaskedStack(nn.Module):
    """PixelCNN's plain masked 3x3 convolutions (van den Oord et al. 2016a): the stack with the blind spot."""

    def __init__(self, c: int, layers: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(c, c, 3, padding=1) for _ in range(layers))
        self.masks = []
        for n in range(layers):
            m = torch.ones(3, 3)
            m[1, 1 + (n > 0):] = 0  # 'A' hides the centre, 'B' keeps it
            m[2:] = 0
            self.masks.append(m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv, m in zip(self.convs, self.masks):
            x = torch.tanh(F.conv2d(x, conv.weight * m, conv.bias, padding=1))
        return x


def test_blind_spot_check_catches_a_naive_masked_stack():
    torch.manual_seed(0)
    naive = _NaiveMaskedStack(4, layers=8).double()
    dep = _dependence(naive, torch.randn(2, 4, H, W, dtype=torch.float64))
    assert not (dep & ~_earlier(H, W)).any()  # causal,
    assert (_earlier(H, W) & ~dep).any()  # but blind to the upper right


# 3. the first position ------------------------------------------------------------------------------------------

def test_first_position_ignores_every_input():
    model = _model(kernel=3, layers=4)
    x = torch.randint(0, 5, (16, H, W), generator=torch.Generator().manual_seed(0))
    first = model(x)[:, :, 0, 0]
    assert torch.equal(first, first[:1].expand_as(first))
    assert not torch.equal(model(x)[:, :, 0, 1], model(x)[:1, :, 0, 1].expand(16, -1))  # (0, 1) does see (0, 0)


def test_conditioning_reaches_every_position_including_the_first():
    model = _model(kernel=3, layers=3, conditional_classes=3)
    x = torch.randint(0, 5, (3, H, W), generator=torch.Generator().manual_seed(0))
    a, b = model(x, torch.tensor([0, 1, 2])), model(x, torch.tensor([1, 2, 0]))
    assert ((a - b).abs().amax(dim=1) > 1e-6).all()
    first = model(torch.randint(0, 5, (3, H, W)), torch.tensor([2, 2, 2]))[:, :, 0, 0]
    assert torch.equal(first, first[:1].expand_as(first))
    dep = _model_dependence(model, labels=torch.tensor([0, 1]))
    assert not (dep & ~_earlier(H, W)).any()


# 4. likelihood and learning -------------------------------------------------------------------------------------

def test_log_prob_is_the_sum_of_log_softmax_at_the_true_codes():
    model = _model()
    x = torch.randint(0, 5, (4, H, W), generator=torch.Generator().manual_seed(0))
    logp = model.log_prob(x)
    manual = model(x).log_softmax(dim=1).gather(1, x[:, None]).squeeze(1).sum(dim=(1, 2))
    assert logp.shape == (4,)
    assert torch.allclose(logp, manual)
    assert torch.allclose(model.nll_bits_per_code(x), -manual / (H * W * math.log(2)))


def _copy_rows(n: int, k: int, h: int, w: int, g: torch.Generator) -> torch.Tensor:
    """Grids whose first row is uniform on {0..k-1}^w and every later row copies the one above."""
    return torch.randint(0, k, (n, 1, w), generator=g).expand(n, h, w).clone()


def test_training_learns_rows_that_copy_the_row_above():
    k, h, w = 4, 4, 4
    torch.manual_seed(0)
    model = GatedPixelCNN(k, channels=16, layers=2, kernel=3, embed_dim=8)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(60):
        loss = -model.log_prob(_copy_rows(32, k, h, w, g)).mean() / (h * w)
        opt.zero_grad()
        loss.backward()
        opt.step()
    test = _copy_rows(256, k, h, w, g)
    with torch.no_grad():
        nats = -model.log_prob(test).mean().item() / (h * w)
        bits = model.nll_bits_per_code(test).mean().item()
    # the entropy is w log k for the first row alone: log(k) / h per code, against log(k) for no structure
    assert nats < 0.3 * math.log(k), nats
    assert bits == pytest.approx(nats / math.log(2), rel=1e-5)
    samples = model.sample(200, (h, w), generator=torch.Generator().manual_seed(1))
    copies = (samples[:, 1:] == samples[:, :1]).all(dim=(1, 2)).float().mean().item()
    assert copies > 0.9, copies
    assert len(samples[:, 0].unique(dim=0)) > 50  # the first row is still drawn, not memorised


def test_conditional_model_learns_its_labels():
    k = 3
    torch.manual_seed(0)
    model = GatedPixelCNN(k, channels=8, layers=1, kernel=3, conditional_classes=k)
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    labels = torch.arange(k).repeat(10)
    grids = labels[:, None, None].expand(-1, 3, 3)  # label c: every code is c
    for _ in range(60):
        loss = -model.log_prob(grids, labels).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    out = model.sample(6, (3, 3), generator=torch.Generator().manual_seed(0), labels=torch.tensor([0, 1, 2] * 2))
    assert torch.equal(out, torch.tensor([0, 1, 2] * 2)[:, None, None].expand(6, 3, 3))


# 5. sampling ---------------------------------------------------------------------------------------------------

def test_sample_is_deterministic_given_a_generator_and_in_range():
    model = _model(kernel=3, layers=3).float()
    a = model.sample(8, (3, 4), generator=torch.Generator().manual_seed(7))
    b = model.sample(8, (3, 4), generator=torch.Generator().manual_seed(7))
    c = model.sample(8, (3, 4), generator=torch.Generator().manual_seed(8))
    assert a.shape == (8, 3, 4) and a.dtype == torch.long
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() < 5


def test_sample_draws_from_the_model_distribution():
    model = _model(kernel=3, layers=2)
    for p in model.head[-1].parameters():  # spread the first position's distribution out
        p.data.normal_(0, 1.0)
    probs = model(torch.zeros(1, 1, 1, dtype=torch.long))[0, :, 0, 0].softmax(0)
    n = 20000
    draws = model.sample(n, (1, 1), generator=torch.Generator().manual_seed(0))[:, 0, 0]
    freq = torch.bincount(draws, minlength=5).double() / n
    assert torch.allclose(freq, probs, atol=4 * math.sqrt(0.25 / n)), (freq, probs)


def test_low_temperature_sampling_is_greedy_decoding():
    model = _model(kernel=3, layers=3)
    greedy = torch.zeros(4, 3, 4, dtype=torch.long)
    with torch.no_grad():
        for i in range(3):
            for j in range(4):
                greedy[:, i, j] = model(greedy)[:, :, i, j].argmax(1)
    cold = model.sample(4, (3, 4), generator=torch.Generator().manual_seed(0), temperature=1e-6)
    assert torch.equal(cold, greedy)


# 6. errors ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw", [{"num_classes": 1}, {"num_classes": 2.0}, {"channels": 0}, {"layers": 0},
                                {"kernel": 4}, {"kernel": 1}, {"kernel": True}, {"embed_dim": 0},
                                {"conditional_classes": -1}])
def test_bad_arguments_are_one_line_config_errors(kw):
    with pytest.raises(ConfigError) as e:
        GatedPixelCNN(**{"num_classes": 4, **kw})
    assert "\n" not in str(e.value)


def test_bad_inputs_are_one_line_errors():
    model = GatedPixelCNN(4, channels=4, layers=1, kernel=3)
    bad = [(torch.full((1, 2, 2), 4), DataError, "[0, 3]"), (torch.full((1, 2, 2), -1), DataError, "[0, 3]"),
           (torch.zeros(1, 2, 2), DataError, "integer"), (torch.zeros(2, 2, dtype=torch.long), DataError, "(B, H, W)")]
    for x, err, words in bad:
        with pytest.raises(err) as e:
            model.log_prob(x)
        assert words in str(e.value) and "\n" not in str(e.value)
    x = torch.zeros(1, 2, 2, dtype=torch.long)
    with pytest.raises(ConfigError, match="unconditional"):
        model(x, torch.tensor([0]))
    cond = GatedPixelCNN(4, channels=4, layers=1, kernel=3, conditional_classes=2)
    with pytest.raises(ConfigError, match="pass labels"):
        cond(x)
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        cond(x, torch.tensor([2]))
    with pytest.raises(DataError, match=r"shape \(1,\)"):
        cond(x, torch.tensor([0, 1]))
    for kw in [{"temperature": 0.0}, {"temperature": float("nan")}, {"shape": (0, 3)}, {"shape": (3,)}, {"n": 0}]:
        args = {"n": 2, "shape": (2, 2), **kw}
        with pytest.raises(ConfigError):
            model.sample(args.pop("n"), args.pop("shape"), **args)
