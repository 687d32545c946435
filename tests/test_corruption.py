"""Corruption specs and their application: exact fractions, seeded draws, masks, inpainting, one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aelab.corruption import Corruption, SeededDraws, inpaint, parse_corruption
from aelab.errors import AelabError, ConfigError, DataError
from aelab.models.base import Batch, Noise
from aelab.recipes import presets
from aelab.recipes.train import TrainConfig
from aelab.train.callbacks import StopAt


def _x(n=6, c=1, h=12, w=10, seed=0):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed)) * 0.8 + 0.1  # never 0 or 1


def test_spec_round_trip_and_canonical_text():
    spec = parse_corruption(" Masking:0.30 + gaussian:0.5+occlude:8x12+occlude:4 ")
    assert spec.text() == "masking:0.3+gaussian:0.5+occlude:8x12+occlude:4"
    assert parse_corruption(spec.text()) == spec
    assert parse_corruption("") is None and parse_corruption(None) is None
    assert spec.destroys and spec.inpainting
    assert not parse_corruption("gaussian:0.2").destroys


@pytest.mark.parametrize("text, words", [
    ("blur:3", "unknown corruption 'blur'"),
    ("masking", "needs a value"),
    ("masking:1.5", "(0, 1]"),
    ("masking:0", "(0, 1]"),
    ("gaussian:abc", "must be a number"),
    ("gaussian:0.3-0.1", "from a low >= 0 to a higher high"),
    ("gaussian:0.1-x", "two numbers, low-high"),
    ("occlude:3x", "occlude"),
    ("occlude:0", "side >= 1"),
    ("masking:0.3+", "empty term"),
    ("mask:/no/such/mask.png", "no such file"),
])
def test_bad_specs_are_one_line_errors(text, words):
    with pytest.raises(ConfigError) as e:
        parse_corruption(text)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_masking_and_salt_pepper_destroy_exactly_the_fraction():
    x = _x()
    d = 12 * 10
    for p in (0.25, 0.5):
        c = Corruption(f"masking:{p}")(x, SeededDraws(1, len(x)))
        per = c.missing.flatten(1).sum(1)
        assert (per == round(p * d)).all()  # a fixed number per example (Vincent et al. 2008)
        assert (c.x[c.missing] == 0).all() and torch.equal(c.x[~c.missing], x[~c.missing])
        assert c.holes is None  # the places are not known to a user: no inpainting composite
    sp = Corruption("saltpepper:0.2")(x, SeededDraws(2, len(x)))
    vals = sp.x[sp.missing]
    assert ((vals == 0) | (vals == 1)).all() and 0.3 < vals.mean() < 0.7
    assert (sp.missing.flatten(1).sum(1) == round(0.2 * d)).all()


def test_gaussian_is_clipped_noise_and_destroys_nothing():
    x = _x()
    c = Corruption("gaussian:0.5")(x, SeededDraws(3, len(x)))
    assert c.missing is None and c.x.min() >= 0 and c.x.max() <= 1
    assert 0.2 < (c.x - x).abs().mean() < 0.5


def test_a_range_of_sigmas_gives_each_example_its_own_from_the_range():
    spec = parse_corruption("gaussian:0-0.2+occlude:3")
    assert spec.text() == "gaussian:0-0.2+occlude:3" and parse_corruption(spec.text()) == spec
    x = torch.full((500, 1, 32, 32), 0.5)
    c = Corruption("gaussian:0.02-0.2")(x, SeededDraws(5, len(x)))
    sigma = (c.x - x).flatten(1).std(1)  # nothing clipped: 0.5 +- 3 sigma stays inside [0, 1]
    assert c.missing is None and 0.017 < sigma.min() < 0.03 and 0.19 < sigma.max() < 0.21
    assert abs(sigma.mean() - 0.11) < 0.01  # uniform over the range
    again = Corruption("gaussian:0.02-0.2")(x, SeededDraws(5, len(x)))
    assert torch.equal(again.x, c.x)  # the same draws, the same sigmas


def test_occluder_is_one_box_of_the_given_size_inside_the_image():
    x = _x(n=50, c=3)
    c = Corruption("occlude:4x6")(x, SeededDraws(4, len(x)))
    assert torch.equal(c.holes, c.missing)
    for i in range(len(x)):
        m = c.holes[i]
        assert torch.equal(m[0], m[1]) and torch.equal(m[0], m[2])  # the same box in every channel
        rows, cols = m[0].any(1).nonzero()[:, 0], m[0].any(0).nonzero()[:, 0]
        assert len(rows) == 4 and len(cols) == 6 and int(m[0].sum()) == 24
        assert rows[-1] - rows[0] == 3 and cols[-1] - cols[0] == 5
    tops = {int(c.holes[i, 0].any(1).nonzero()[0]) for i in range(len(x))}
    assert len(tops) > 3  # placed at random, every row position possible
    with pytest.raises(ConfigError, match="does not fit"):
        Corruption("occlude:13").check((1, 12, 10))
    with pytest.raises(ConfigError, match="needs images"):
        Corruption("occlude:3").check((120,))


def test_user_masks_from_image_folder_and_npy(tmp_path):
    from PIL import Image

    a = np.zeros((12, 10), np.uint8)
    a[2:5, 3:7] = 255
    Image.fromarray(a).save(tmp_path / "one.png")
    c = Corruption(f"mask:{tmp_path / 'one.png'}")(_x(), SeededDraws(0, 6))
    assert (c.holes[:, 0].sum((1, 2)) == 12).all() and c.holes[:, 0, 2:5, 3:7].all()
    two = np.zeros((2, 12, 10), bool)
    two[0, 0, 0] = True
    two[1, :, :5] = True
    np.save(tmp_path / "two.npy", two)
    c = Corruption(f"mask:{tmp_path / 'two.npy'}")(_x(n=40), SeededDraws(0, 40))
    sizes = set(c.holes[:, 0].sum((1, 2)).tolist())
    assert sizes == {1, 60}  # each example draws one of the masks
    with pytest.raises(DataError, match="12x10"):
        Corruption(f"mask:{tmp_path / 'one.png'}").check((1, 8, 8))


def test_same_seed_same_corruption_and_noise_rows_match_the_global_batch():
    x = _x(n=8)
    c = Corruption("masking:0.3+gaussian:0.2+occlude:3")
    a = c(x, SeededDraws(5, 8)).x
    assert torch.equal(a, c(x, SeededDraws(5, 8)).x)
    assert not torch.equal(a, c(x, SeededDraws(6, 8)).x)
    # two processes holding rows 0-3 and 4-7 of one global batch corrupt exactly as one process
    whole = c(x, Noise(0, 7, 1000, (0, 8), 8)).x
    parts = torch.cat([c(x[:4], Noise(0, 7, 1000, (0, 4), 8)).x, c(x[4:], Noise(0, 7, 1000, (4, 8), 8)).x])
    assert torch.equal(whole, parts)


def test_inpainting_keeps_known_pixels_and_iterates():
    x = _x()
    holes = Corruption("occlude:5")(x, SeededDraws(0, len(x))).holes
    calls = []

    def model(inp):
        calls.append(inp.clone())
        return torch.full_like(inp, 0.5) + 0.1 * len(calls)

    out = inpaint(model, x, holes, iterations=3)
    assert torch.equal(out[~holes], x[~holes])
    assert torch.allclose(out[holes], torch.tensor(0.8))
    assert len(calls) == 3 and (calls[0][holes] == 0).all()
    assert torch.allclose(calls[1][holes], torch.tensor(0.6))  # the second pass sees the first fill


def test_emphasis_weighs_destroyed_inputs():
    x = _x(n=2)
    c = Corruption("masking:0.5", emphasis=3.0)(x, SeededDraws(0, 2))
    b = Batch(c.x, clean=x, missing=c.missing, emphasis=3.0)
    w = b.input_weights()
    assert torch.equal(w, torch.where(c.missing.flatten(1), 3.0, 1.0))
    assert torch.equal(b.target, x) and Batch(x).input_weights() is None and Batch(x).target is x


def test_train_config_checks_corruption_and_emphasis():
    assert TrainConfig(corrupt="Masking:0.50").corrupt == "masking:0.5"
    with pytest.raises(ConfigError, match="emphasis weighs"):
        TrainConfig(corrupt="gaussian:0.3", emphasis=2.0)
    with pytest.raises(ConfigError, match="unknown corruption"):
        TrainConfig(corrupt="jpeg:10")


def test_models_without_a_reconstruction_refuse_to_denoise(tmp_path):
    from aelab.models.base import build_model
    from aelab.train.trainer import Trainer

    x = _x(n=20, h=8, w=8)
    for name, emphasis, words in (("rbm", 1.0, "cannot train as a denoiser"), ("vaegan", 2.0, "no per-input loss")):
        cfg = {k: v for k, v in presets(name)["tiny"].items() if k != "train"}
        model = build_model(name, {**cfg, "input_shape": (1, 8, 8)})
        with pytest.raises(AelabError, match=words):
            Trainer(model, x, TrainConfig(epochs=1, corrupt="masking:0.3", emphasis=emphasis), tmp_path / name)


@pytest.mark.parametrize("name, corrupt", [("ae", "masking:0.4+occlude:3"), ("vae", "masking:0.4+occlude:3"),
                                           ("dncnn", "masking:0.4+occlude:3"),  # its batch norm's statistics too
                                           ("dncnn", "gaussian:0.05-0.3+occlude:3")])  # a sigma per example
def test_a_denoiser_resumes_exactly_and_learns_from_the_corrupted_input(tmp_path, name, corrupt):
    from aelab.models.base import build_model
    from aelab.train.trainer import Trainer

    cfg = {**{k: v for k, v in presets(name)["tiny"].items() if k != "train"}, "input_shape": (1, 8, 8)}
    x = _x(n=60, h=8, w=8)
    tc = TrainConfig(epochs=3, batch_size=20, checkpoint_every=4, schedule="constant", corrupt=corrupt, emphasis=2.0)

    def run(folder, resume=False, callbacks=()):
        torch.manual_seed(0)
        model = build_model(name, cfg)
        Trainer(model, x, tc, tmp_path / folder, device="cpu", callbacks=callbacks).fit(resume=resume)
        return model

    full = run("full")
    run("cut", callbacks=[StopAt(5)])
    resumed = run("cut", resume=True)
    a, b = full.state_dict(), resumed.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    torch.manual_seed(0)
    plain = build_model(name, cfg)
    Trainer(plain, x, TrainConfig(epochs=3, batch_size=20, schedule="constant"), tmp_path / "plain",
            device="cpu").fit()
    assert any(not torch.equal(plain.state_dict()[k], a[k]) for k in a)  # the corruption reached the loss


def test_the_suite_scores_a_denoiser_on_its_corruption():
    from aelab.eval.suite import EvalOptions, evaluate_suite
    from aelab.models.base import build_model

    cfg = {**{k: v for k, v in presets("ae")["tiny"].items() if k != "train"}, "input_shape": (1, 8, 8)}
    model = build_model("ae", cfg).eval()
    x = _x(n=30, h=8, w=8)
    plain, _ = evaluate_suite(model, x)
    assert not any(k.endswith("_restored") for k in plain)
    m, _ = evaluate_suite(model, x, EvalOptions(corruption="gaussian:0.2+occlude:3"))
    assert {"psnr_corrupted", "psnr_restored", "ssim_corrupted", "ssim_restored", "psnr_inpainted"} <= set(m)
    again, _ = evaluate_suite(model, x, EvalOptions(corruption="gaussian:0.2+occlude:3"))
    assert again == m  # the evaluation's corruption is seeded: the same numbers every time
    from aelab.eval.image_quality import psnr

    c = Corruption("gaussian:0.2+occlude:3")(x, SeededDraws(1, len(x)))
    assert m["psnr_corrupted"] == pytest.approx(float(psnr(c.x, x).mean()))
    with torch.no_grad():
        filled = torch.where(c.holes, model(c.x).reshape(x.shape), c.x)
    assert m["psnr_inpainted"] == pytest.approx(float(psnr(filled, x).mean()), rel=1e-6)
