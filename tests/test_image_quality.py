"""PSNR and SSIM (aelab.eval.image_quality) against the paper's formula, known values, and in the suite."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aelab.errors import ConfigError, DataError
from aelab.eval.image_quality import largest_window, psnr, ssim
from aelab.eval.suite import EvalOptions, evaluate_suite, metric_names
from aelab.models import build_model

AE = {"input_shape": [1, 8, 8], "hidden": [16], "latent_dim": 3}


def slow_ssim(x: np.ndarray, y: np.ndarray, window: int = 11, sigma: float = 1.5, k1: float = 0.01,
              k2: float = 0.03, data_range: float = 1.0) -> float:
    """Wang et al. 2004, eq. 13 with eqs. 14-16, window by window: the mean over valid positions, then over channels.

    x, y: (C, H, W). An independent path: a 2-D (not separable) Gaussian, and centred moments (eq. 15 as written).
    """
    r = window // 2
    i, j = np.mgrid[-r : r + 1, -r : r + 1]
    w = np.exp(-(i**2 + j**2) / (2 * sigma**2))
    w /= w.sum()
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    per_channel = []
    for xc, yc in zip(x, y):
        values = []
        for a in range(xc.shape[0] - window + 1):
            for b in range(xc.shape[1] - window + 1):
                px, py = xc[a : a + window, b : b + window], yc[a : a + window, b : b + window]
                mx, my = (w * px).sum(), (w * py).sum()
                vx, vy = (w * (px - mx) ** 2).sum(), (w * (py - my) ** 2).sum()
                cxy = (w * (px - mx) * (py - my)).sum()
                values.append((2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
        per_channel.append(np.mean(values))
    return float(np.mean(per_channel))


def structured_pair(h: int = 20, w: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """A smooth pattern and a brightened, contrast-reduced, lightly rippled copy of it."""
    i, j = np.mgrid[0:h, 0:w]
    c = 0.5 + 0.4 * np.sin(i / 3.0) * np.cos(j / 4.0)
    return c, 0.9 * c + 0.05 + 0.03 * np.cos(i + 2 * j)


def t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


def test_ssim_of_an_image_with_itself_is_one():
    x = torch.rand(4, 3, 16, 13)
    assert torch.allclose(ssim(x, x), torch.ones(4, dtype=torch.float64), atol=1e-12)
    assert ssim(x, x).dtype == torch.float64 and ssim(x, x).shape == (4,)
    assert (ssim(x, (x + 0.1 * torch.randn_like(x)).clamp(0, 1)) < 0.99).all()


def test_psnr_of_a_known_mse():
    x = torch.rand(5, 1, 8, 8, dtype=torch.float64) * 0.8  # float64: the offset stays exactly 0.1
    assert torch.allclose(psnr(x + 0.1, x), torch.full((5,), 20.0, dtype=torch.float64), atol=1e-9)  # MSE 0.01
    assert float(psnr(x + 0.1, x, data_range=2.0)[0]) == pytest.approx(10 * math.log10(4 / 0.01), abs=1e-9)
    flat = x.flatten(1)
    assert torch.allclose(psnr(flat + 0.1, flat), psnr(x + 0.1, x))  # (N, D) vectors as well
    y = x.clone()
    y[:, :, :4] += 0.2  # half the pixels off by 0.2: MSE 0.02
    assert torch.allclose(psnr(y, x), torch.full((5,), 10 * math.log10(1 / 0.02), dtype=torch.float64), atol=1e-9)
    assert torch.allclose(psnr(x, x), torch.full((5,), 100.0, dtype=torch.float64))  # MSE floor, as eval_terms


def test_psnr_is_the_one_eval_terms_reports():
    torch.manual_seed(0)
    model = build_model("ae", AE).eval()
    x = torch.rand(6, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(psnr(model(x), x).float(), model.eval_terms(x)["psnr"], rtol=1e-5)


@pytest.mark.parametrize("seed", [0, 1])
def test_ssim_matches_the_papers_formula_on_random_images(seed):
    rng = np.random.default_rng(seed)
    x = rng.random((3, 1, 15, 18))
    y = np.clip(x + 0.15 * rng.standard_normal(x.shape), 0, 1)
    got = ssim(t(x), t(y))
    for n in range(3):
        assert float(got[n]) == pytest.approx(slow_ssim(x[n], y[n]), abs=1e-6)


def test_ssim_matches_the_papers_formula_on_a_structured_image_and_other_settings():
    c, d = structured_pair()
    assert float(ssim(t(c)[None, None], t(d)[None, None])[0]) == pytest.approx(slow_ssim(c[None], d[None]), abs=1e-6)
    # another window, sigma, constants and peak: each parameter reaches the formula
    kw = dict(window=7, sigma=1.0, k1=0.02, k2=0.05, data_range=2.0)
    got = float(ssim(t(2 * c)[None, None], t(2 * d)[None, None], **kw)[0])
    assert got == pytest.approx(slow_ssim(2 * c[None], 2 * d[None], **kw), abs=1e-6)


def test_colour_ssim_is_the_mean_over_channels():
    rng = np.random.default_rng(5)
    x = rng.random((2, 3, 12, 14))
    y = np.clip(0.8 * x + 0.2 * rng.random(x.shape), 0, 1)
    got = ssim(t(x), t(y))
    for n in range(2):
        assert float(got[n]) == pytest.approx(slow_ssim(x[n], y[n]), abs=1e-6)
        per_channel = [float(ssim(t(x[n, k])[None, None], t(y[n, k])[None, None])[0]) for k in range(3)]
        assert float(got[n]) == pytest.approx(np.mean(per_channel), abs=1e-12)


def test_metrics_are_symmetric_batched_and_scale_free():
    torch.manual_seed(0)
    x, y = torch.rand(6, 2, 13, 11), torch.rand(6, 2, 13, 11)
    assert torch.allclose(ssim(x, y), ssim(y, x), atol=1e-14) and torch.allclose(psnr(x, y), psnr(y, x))
    one_by_one = torch.cat([ssim(x[i : i + 1], y[i : i + 1]) for i in range(6)])
    assert torch.allclose(ssim(x, y), one_by_one, atol=1e-14)  # no mixing between the images of a batch
    assert torch.allclose(ssim(255 * x, 255 * y, data_range=255.0), ssim(x, y), atol=1e-12)
    assert torch.allclose(psnr(255 * x, 255 * y, data_range=255.0), psnr(x, y), atol=1e-9)
    assert torch.allclose(ssim(x.float(), y.float()), ssim(x.double(), y.double()), atol=1e-6)  # float64 inside


def test_ssim_known_values_from_scikit_image():
    # Reference values from scikit-image 0.26.0 (numpy 2.4.6), computed once, not a dependency:
    #   skimage.metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
    #                                         use_sample_covariance=False, data_range=1.0)
    # on float64 arrays (channel_axis=0 for the colour pair).
    rng = np.random.default_rng(12)
    a = rng.random((16, 16))
    b = np.clip(a + 0.2 * rng.standard_normal((16, 16)), 0, 1)
    assert float(ssim(t(a)[None, None], t(b)[None, None])[0]) == pytest.approx(0.8315550297315527, abs=1e-9)
    c, d = structured_pair()
    assert float(ssim(t(c)[None, None], t(d)[None, None])[0]) == pytest.approx(0.9718919921521881, abs=1e-9)
    rng = np.random.default_rng(3)
    e = rng.random((3, 13, 17))
    f = np.clip(0.7 * e + 0.3 * rng.random((3, 13, 17)), 0, 1)
    assert float(ssim(t(e)[None], t(f)[None])[0]) == pytest.approx(0.893486983051066, abs=1e-9)


def test_images_smaller_than_the_window_are_refused_in_one_line():
    x = torch.rand(2, 1, 10, 12)
    with pytest.raises(DataError, match=r"11x11 window exceeds the 10x12 images; pass an odd window <= 10") as e:
        ssim(x, x)
    assert "\n" not in str(e.value)
    assert torch.allclose(ssim(x, x, window=9), torch.ones(2, dtype=torch.float64))
    with pytest.raises(ConfigError, match="odd"):
        ssim(x, x, window=8)
    with pytest.raises(DataError, match="one shape"):
        ssim(x, x[:, :, :9])
    with pytest.raises(DataError, match=r"\(N, C, H, W\)"):
        ssim(x[:, 0], x[:, 0])
    assert [largest_window(h, w) for h, w in [(8, 8), (7, 30), (10, 12), (11, 11), (28, 28)]] == [7, 7, 9, 11, 11]


def test_the_suite_reports_ssim_for_image_models(digits):
    _, test = digits
    x = test.x[:50]
    torch.manual_seed(0)
    ae = build_model("ae", AE)
    assert metric_names(ae, x) == ["per-example terms"]  # the same family, one more number in it
    metrics, _ = evaluate_suite(ae, x)
    with torch.no_grad():
        expected = ssim(ae.eval()(x), x, window=7).mean()  # 8x8 digits: the largest window that fits
    assert {"sq_err", "bce", "psnr", "ssim"} <= set(metrics)
    assert metrics["ssim"] == pytest.approx(float(expected), abs=1e-9) and -1 <= metrics["ssim"] < 1
    vae = build_model("vae", {"input_shape": [1, 8, 8], "hidden": [16], "latent_dim": 2})
    assert "ssim" in evaluate_suite(vae, x, EvalOptions(iw_samples=10))[0]
    tiny = build_model("ae", {"input_shape": [1, 6, 6], "hidden": [8], "latent_dim": 2})
    small = evaluate_suite(tiny, torch.rand(10, 1, 6, 6))[0]  # under 7 pixels a side: no SSIM, the rest as before
    assert "psnr" in small and "ssim" not in small
