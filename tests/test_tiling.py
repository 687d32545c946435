"""Tiling for inference (restore/tiling.py): exact tile/untile round trips on any size, a grid that ends at the
image's edges, reflection padding of small images, and seamless blending of patches processed independently."""

from __future__ import annotations

import numpy as np
import pytest

from aelab.errors import ConfigError, DataError
from aelab.restore.tiling import PatchLayout, blend_window, patch_starts, tile, untile

SIZES = [(1, 1), (7, 5), (33, 65), (100, 37), (16, 16), (17, 200)]
PATCH = 16


def one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert msg and "\n" not in msg
    return msg


def max_jump(image: np.ndarray) -> float:
    """The largest difference between two vertically or horizontally neighbouring pixels."""
    dy = np.abs(np.diff(image, axis=1)).max() if image.shape[1] > 1 else 0.0
    dx = np.abs(np.diff(image, axis=2)).max() if image.shape[2] > 1 else 0.0
    return float(max(dy, dx))


# ---------------------------------------------------------------- tile / untile


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("stride", [PATCH // 2, PATCH // 4, PATCH - 1, PATCH])
@pytest.mark.parametrize("channels", [1, 3])
def test_untile_of_tile_is_the_image(size, stride, channels):
    x = np.random.default_rng(hash((size, stride, channels)) % 2**32).random((channels, *size)).astype(np.float32)
    patches, layout = tile(x, PATCH, stride)
    assert patches.shape == (layout.count, channels, PATCH, PATCH) and patches.dtype == np.float32
    for window in ("hann", "flat"):
        y = untile(patches, layout, window)
        assert y.shape == x.shape and y.dtype == np.float32
        np.testing.assert_allclose(y, x, rtol=0, atol=1e-6)


def test_round_trip_at_patch_32_on_a_photo_sized_image():
    x = np.random.default_rng(0).random((3, 241, 333)).astype(np.float32)
    for stride in (16, 8, 31):
        patches, layout = tile(x, 32, stride)
        np.testing.assert_allclose(untile(patches, layout), x, rtol=0, atol=1e-6)


@pytest.mark.parametrize("size", [(33, 65), (100, 37), (16, 16), (48, 40)])
@pytest.mark.parametrize("stride", [PATCH // 2, PATCH // 4, PATCH - 1])
def test_patches_are_crops_on_a_grid_that_ends_at_the_image_edge(size, stride):
    h, w = size
    x = np.arange(2 * h * w, dtype=np.float32).reshape(2, h, w)
    patches, layout = tile(x, PATCH, stride)
    assert layout.size == layout.padded == size  # an image as large as a patch is never padded
    for axis_starts, length in ((layout.rows, h), (layout.cols, w)):
        assert axis_starts[0] == 0 and axis_starts[-1] == length - PATCH  # the last patch ends at the edge, not past it
        steps = np.diff(axis_starts)
        assert np.all(steps >= 1) and np.all(steps <= stride)  # overlapping, strictly increasing
        assert np.all(steps[:-1] == stride)  # a regular grid except for the patch aligned to the edge
    covered = np.zeros((h, w), dtype=int)
    for n, (top, left) in enumerate(layout.positions):
        np.testing.assert_array_equal(patches[n], x[:, top : top + PATCH, left : left + PATCH])
        covered[top : top + PATCH, left : left + PATCH] += 1
    assert covered.min() >= 1


def test_an_image_smaller_than_the_patch_is_padded_by_reflection():
    x = np.arange(7 * 5, dtype=np.float32).reshape(1, 7, 5)
    patches, layout = tile(x, PATCH, PATCH // 2)
    assert layout.size == (7, 5) and layout.padded == (PATCH, PATCH) and layout.count == 1
    np.testing.assert_array_equal(patches[0], np.pad(x, ((0, 0), (0, PATCH - 7), (0, PATCH - 5)), mode="reflect"))
    assert patches[0, 0, 7, 0] == x[0, 5, 0]  # mirrored about the last row, which is not repeated

    one = np.full((3, 1, 1), 0.25, dtype=np.float32)  # a single pixel fills its patch
    patches, layout = tile(one, PATCH, 4)
    assert patches.shape == (1, 3, PATCH, PATCH) and np.all(patches == 0.25)

    tall = np.random.default_rng(1).random((1, 50, 3)).astype(np.float32)  # small in one direction only
    patches, layout = tile(tall, PATCH, 8)
    assert layout.padded == (50, PATCH) and layout.cols == (0,) and layout.rows[-1] == 50 - PATCH
    np.testing.assert_allclose(untile(patches, layout), tall, rtol=0, atol=1e-6)


def test_bad_patch_sizes_strides_and_shapes_are_refused():
    x = np.zeros((1, 20, 20), dtype=np.float32)
    for patch, stride in ((0, 1), (8, 0), (8, 9), (8, 2.5), (True, 1)):
        with pytest.raises(ConfigError) as e:
            tile(x, patch, stride)
        one_line(e)
    with pytest.raises(ValueError):
        tile(np.zeros((20, 20), dtype=np.float32), 8, 4)  # (H, W): the caller forgot the channel axis
    with pytest.raises(DataError):
        tile(np.zeros((1, 0, 5), dtype=np.float32), 8, 4)
    patches, layout = tile(x, 8, 4)
    with pytest.raises(ValueError):
        untile(patches[:-1], layout)
    with pytest.raises(ConfigError):
        untile(patches, layout, window="gauss")  # type: ignore[arg-type]


def test_the_hann_window_is_positive_smooth_and_peaks_in_the_middle():
    for patch in (1, 2, 7, 16, 32):
        w = blend_window(patch)
        assert w.shape == (patch, patch) and w.min() > 0 and w.max() <= 1
    w = blend_window(32)[16]
    assert w[0] < 0.01 and w[16] > 0.99  # fades out towards the edges, where neighbours take over
    assert np.all(blend_window(32, "flat") == 1)


# ---------------------------------------------------------------- no seams


@pytest.mark.parametrize("size", [(100, 37), (130, 97), (33, 65), (64, 64), (47, 200)])
@pytest.mark.parametrize("stride", [16, 8])
def test_patches_changed_independently_blend_without_seams(size, stride):
    # the worst case of independent processing: each patch shifted by its own offset, 0 or 1
    patches, layout = tile(np.zeros((1, *size), dtype=np.float32), 32, stride)
    offsets = np.random.default_rng(stride).choice([0.0, 1.0], size=(layout.count, 1, 1, 1))
    offsets[:2] = [[[[0.0]]], [[[1.0]]]]  # at least one step of the full offset between neighbours
    shifted = (patches + offsets).astype(np.float32)
    blended = untile(shifted, layout, "hann")
    assert 0.0 <= blended.min() and blended.max() <= 1.0  # a weighted average of the offsets
    assert max_jump(blended) < 0.15  # a smooth ramp: about pi/32 per pixel, far below the offset of 1
    assert max_jump(untile(shifted, layout, "flat")) >= 0.4  # averaging without a window leaves a step (a seam)


def test_a_smooth_image_stays_smooth_when_patches_are_processed_independently():
    yy, xx = np.mgrid[0:90, 0:120].astype(np.float32)
    x = (0.5 + 0.4 * np.sin(yy / 15.0) * np.cos(xx / 20.0))[None].repeat(3, axis=0)
    patches, layout = tile(x, 32, 16)
    # a per-patch gain and offset, as a model's small per-patch biases would be
    rng = np.random.default_rng(3)
    processed = patches * rng.uniform(0.9, 1.1, (layout.count, 1, 1, 1)) + rng.uniform(-0.1, 0.1, (layout.count, 1, 1, 1))
    out = untile(processed.astype(np.float32), layout)
    assert max_jump(out) < max_jump(x) + 0.03


def test_patch_starts_step_by_the_stride_and_end_at_the_edge():
    assert patch_starts(40, 16, 8).tolist() == [0, 8, 16, 24]
    assert patch_starts(41, 16, 8).tolist() == [0, 8, 16, 24, 25]
    assert patch_starts(16, 16, 4).tolist() == [0]
    with pytest.raises(ValueError):
        patch_starts(10, 16, 4)  # pad first: tile() does
    assert isinstance(tile(np.zeros((1, 8, 8), np.float32), 4, 2)[1], PatchLayout)
