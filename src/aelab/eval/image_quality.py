"""Image-quality metrics, per image and batched: PSNR, and SSIM (Wang, Bovik, Sheikh & Simoncelli 2004).

Both compute in float64 (on the CPU where the device has no float64, e.g. MPS) and return one value per
image, shape (N,). SSIM follows the paper as scikit-image does with `gaussian_weights=True, sigma=1.5,
use_sample_covariance=False`: the same numbers, without depending on it (the tests hold known values).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..errors import ConfigError, DataError

PSNR_MSE_FLOOR = 1e-10  # MSE floor, a share of data_range**2: identical images give 100 dB, not inf (as eval_terms)


def _float64_pair(x: Tensor, y: Tensor, what: str) -> tuple[Tensor, Tensor]:
    """`x` and `y` checked for one shape with a batch axis, in float64 (on the CPU where the device lacks float64)."""
    if x.shape != y.shape:
        raise DataError(f"{what} compares images of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.dim() < 2:
        raise DataError(f"{what} wants a batch (N, ...) of images or vectors, got shape {tuple(x.shape)}")
    if x.device.type == "mps" or y.device.type == "mps":  # MPS has no float64
        x, y = x.cpu(), y.cpu()
    return x.to(torch.float64), y.to(torch.float64)


def psnr(x: Tensor, y: Tensor, data_range: float = 1.0) -> Tensor:
    """Peak signal-to-noise ratio in dB per example, 10 log10(L^2 / MSE), of (N, C, H, W) images or (N, D) rows."""
    x, y = _float64_pair(x, y, "PSNR")
    mse = (x - y).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(data_range**2 / mse.clamp_min(PSNR_MSE_FLOOR * data_range**2))


def gaussian_window(size: int, sigma: float, dtype: torch.dtype = torch.float64) -> Tensor:
    """The 1-D Gaussian of `size` taps and standard deviation `sigma`, normalised to unit sum (the paper's w_i)."""
    t = torch.arange(size, dtype=dtype) - (size - 1) / 2
    w = torch.exp(-0.5 * (t / sigma) ** 2)
    return w / w.sum()


def _valid_filter(g: Tensor, n: int) -> Tensor:
    """The (n, n - len(g) + 1) matrix whose column j holds `g` at rows j ... j + len(g) - 1: a valid 1-D filter."""
    offset = torch.arange(n, device=g.device)[:, None] - torch.arange(n - len(g) + 1, device=g.device)[None, :]
    inside = (offset >= 0) & (offset < len(g))
    return torch.where(inside, g[offset.clamp(0, len(g) - 1)], torch.zeros((), dtype=g.dtype, device=g.device))


def ssim(x: Tensor, y: Tensor, data_range: float = 1.0, window: int = 11, sigma: float = 1.5,
         k1: float = 0.01, k2: float = 0.03) -> Tensor:
    """Mean SSIM per image of (N, C, H, W) images: Wang et al. 2004 (IEEE TIP 13(4)), eq. 13 with eqs. 14-16.

    A `window` x `window` Gaussian of std `sigma` normalised to unit sum (the paper's 11x11, 1.5) weighs the
    local means, variances and covariance (population moments); C1 = (k1 L)^2, C2 = (k2 L)^2, L = `data_range`.
    The SSIM map covers the positions where the whole window fits (no padding); its mean per channel is averaged
    over channels. Images smaller than the window are refused, as scikit-image refuses them ("win_size exceeds
    image extent"): pass a smaller odd `window` for them (values then not comparable with 11x11 SSIM).
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 1 or window % 2 == 0:
        raise ConfigError(f"the SSIM window must be an odd whole number of pixels, got {window!r}")
    if not sigma > 0 or not data_range > 0:
        raise ConfigError(f"SSIM needs sigma > 0 and data_range > 0, got sigma={sigma} and data_range={data_range}")
    if x.dim() != 4:
        raise DataError(f"SSIM wants images shaped (N, C, H, W), got shape {tuple(x.shape)}")
    x, y = _float64_pair(x, y, "SSIM")
    h, w = x.shape[2:]
    if h < window or w < window:
        raise DataError(f"SSIM's {window}x{window} window exceeds the {h}x{w} images; "
                        f"pass an odd window <= {min(h, w)}")
    g = gaussian_window(window, sigma).to(x.device)
    # the five local moments of eqs. 14-16 at once, E[x], E[y], E[x^2], E[y^2], E[xy], by the separable Gaussian
    # as two banded matrices (a valid convolution: a tenth of conv2d's time in float64 on a CPU)
    maps = torch.stack([x, y, x * x, y * y, x * y])
    mu_x, mu_y, e_xx, e_yy, e_xy = _valid_filter(g, h).T @ maps @ _valid_filter(g, w)
    var_x, var_y, cov = e_xx - mu_x * mu_x, e_yy - mu_y * mu_y, e_xy - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))
    return s.mean((2, 3)).mean(1)


def largest_window(h: int, w: int, window: int = 11) -> int:
    """The paper's `window`, or the largest odd one that fits an h x w image when that is smaller."""
    side = min(window, h, w)
    return side if side % 2 else side - 1

