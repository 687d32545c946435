"""Overlapping patches (data/patches.py): exact tile/untile round trips, seamless blending, channel matching,
random training crops from photos of differing sizes, and the patch data set of a folder of photos."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from aelab.data.images import read_image
from aelab.data.patches import (
    PatchLayout,
    blend_window,
    load_patch_folder,
    match_channels,
    patch_counts,
    patch_folder_of,
    random_patches,
    tile,
    untile,
)
from aelab.errors import ConfigError, DataError

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


# ---------------------------------------------------------------- channels


def test_match_channels_converts_grey_colour_and_rgba(capsys):
    rng = np.random.default_rng(0)
    grey = rng.random((1, 4, 5)).astype(np.float32)
    rgb = rng.random((3, 4, 5)).astype(np.float32)
    rgba = np.concatenate([rgb, np.ones((1, 4, 5), np.float32)])

    np.testing.assert_array_equal(match_channels(grey, 3), np.repeat(grey, 3, axis=0))
    luma = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    np.testing.assert_allclose(match_channels(rgb, 1), luma[None], rtol=1e-6)
    assert match_channels(rgb, 3) is rgb and match_channels(grey, 1) is grey
    assert capsys.readouterr().err == ""

    np.testing.assert_array_equal(match_channels(rgba, 3, name="cat.png"), rgb)
    np.testing.assert_allclose(match_channels(rgba, 1), luma[None], rtol=1e-6)
    err = capsys.readouterr().err
    assert "cat.png" in err and "alpha" in err

    batch = rng.random((2, 3, 4, 5)).astype(np.float32)  # a batch (N, C, H, W) works too
    assert match_channels(batch, 1).shape == (2, 1, 4, 5)


@pytest.mark.parametrize("have, want", [(2, 3), (5, 1), (3, 4), (1, 2)])
def test_channels_that_cannot_match_are_one_line_naming_both_counts(have, want):
    with pytest.raises(DataError) as e:
        match_channels(np.zeros((have, 4, 4), dtype=np.float32), want, name="photo.tif")
    msg = one_line(e)
    assert "photo.tif" in msg and f"{have} channel" in msg and f"takes {want}" in msg


# ---------------------------------------------------------------- random patches


def _images() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.random((3, h, w)).astype(np.float32) for h, w in ((64, 64), (128, 64), (10, 300))]


def test_random_patches_are_crops_of_their_images_and_repeat_with_the_seed():
    images = _images()
    a = random_patches(images, 16, 500, np.random.default_rng(7))
    b = random_patches(images, 16, 500, np.random.default_rng(7))
    c = random_patches(images, 16, 500, np.random.default_rng(8))
    assert a.patches.shape == (500, 3, 16, 16) and a.patches.dtype == np.float32
    assert a.skipped == 1 and not np.any(a.sources == 2)  # 10 pixels high: smaller than the patch
    for field in ("patches", "sources", "positions"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.positions, c.positions)
    for n in range(0, 500, 37):
        (top, left), im = a.positions[n], images[a.sources[n]]
        np.testing.assert_array_equal(a.patches[n], im[:, top : top + 16, left : left + 16])
    assert len(set(a.sources[:50].tolist())) == 2  # shuffled: a prefix is not one image's crops


def test_random_patches_share_the_count_in_proportion_to_area():
    images = _images()  # areas 4096 and 8192 (the third is too small): shares 1/3 and 2/3
    s = random_patches(images, 16, 6000, np.random.default_rng(1))
    share = float(np.mean(s.sources == 1))
    assert abs(share - 2 / 3) < 0.03  # about 5 standard deviations of a binomial share
    tops = s.positions[s.sources == 1, 0]
    assert tops.min() == 0 and tops.max() == 128 - 16  # every position, edges included, is drawn
    assert abs(tops.mean() - (128 - 16) / 2) < 5  # uniform over the valid positions

    counts, skipped = patch_counts([(64, 64), (128, 64), (10, 300)], 16, 1000, np.random.default_rng(0))
    assert counts.sum() == 1000 and counts[2] == 0 and skipped == 1


def test_random_patches_refuse_images_that_are_all_too_small_or_of_mixed_channels():
    rng = np.random.default_rng(0)
    with pytest.raises(DataError) as e:
        random_patches([np.zeros((1, 10, 40), np.float32), np.zeros((1, 31, 31), np.float32)], 32, 10, rng)
    assert "32x32" in one_line(e)
    with pytest.raises(DataError) as e:
        random_patches([np.zeros((1, 40, 40), np.float32), np.zeros((3, 40, 40), np.float32)], 32, 10, rng)
    assert "1, 3" in one_line(e)
    with pytest.raises(ConfigError):
        random_patches([np.zeros((1, 40, 40), np.float32)], 32, 0, rng)


# ---------------------------------------------------------------- the patch data set of a folder of photos


def _photos(folder, grey: bool = False) -> None:
    """Six photos of different sizes (one smaller than a 16-pixel patch), in two sub-folders."""
    rng = np.random.default_rng(5)
    sizes = [(40, 60), (80, 50), (16, 16), (12, 100), (64, 64), (50, 90)]
    for i, (h, w) in enumerate(sizes):
        (folder / f"set{i % 2}").mkdir(parents=True, exist_ok=True)
        shape = (h, w) if grey else (h, w, 3)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / f"set{i % 2}" / f"p{i}.png")


def test_the_patch_data_set_splits_by_photo(tmp_path, capsys):
    _photos(tmp_path)
    parts = {s: load_patch_folder(tmp_path, s, patch=16, count=400) for s in ("all", "train", "test")}
    everything, train, test = parts["all"], parts["train"], parts["test"]
    assert everything.x.shape == (400, 3, 16, 16) and everything.x.dtype == torch.float32
    assert 0.0 <= float(everything.x.min()) and float(everything.x.max()) <= 1.0
    assert everything.y is None and everything.name == f"patches:{tmp_path}"
    assert "1 of 6 photos are smaller than 16x16" in capsys.readouterr().err
    assert "set1/p3.png" not in everything.files  # 12 pixels high: no patch

    assert len(train) + len(test) == 400
    assert not set(train.files) & set(test.files)  # test patches come from photos never trained on
    np.testing.assert_array_equal(np.sort(np.concatenate([train.index, test.index])), np.arange(400))
    for part in (train, test):  # each row is the row of the "all" split its index says
        assert torch.equal(everything.x[torch.from_numpy(part.index)], part.x)
        assert [everything.files[i] for i in part.index] == part.files

    again = load_patch_folder(tmp_path, "train", patch=16, count=400)  # a fixed draw
    assert torch.equal(again.x, train.x)

    # a crop is a crop of its photo, as read_image reads it
    row = 0
    photo = read_image(tmp_path / train.files[row]).numpy()
    hits = [
        (t, l)
        for t in range(photo.shape[1] - 15)
        for l in range(photo.shape[2] - 15)
        if np.array_equal(photo[:, t : t + 16, l : l + 16], train.x[row].numpy())
    ]
    assert hits


def test_the_patch_data_set_of_grey_photos_has_one_channel_and_can_be_forced_to_three(tmp_path):
    _photos(tmp_path, grey=True)
    assert load_patch_folder(tmp_path, "all", patch=16, count=50).x.shape == (50, 1, 16, 16)
    assert load_patch_folder(tmp_path, "all", patch=16, count=50, grayscale=False).x.shape == (50, 3, 16, 16)


def test_the_patch_data_set_reads_rotated_photos(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # turned 90 degrees: 20 wide, 70 high once upright
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 70, 3), dtype=np.uint8)).save(
        tmp_path / "turned.jpg", exif=exif
    )
    ds = load_patch_folder(tmp_path, "all", patch=16, count=30)
    assert ds.x.shape == (30, 3, 16, 16)


def test_the_patch_data_set_refuses_what_it_cannot_do(tmp_path):
    _photos(tmp_path)
    with pytest.raises(DataError) as e:
        load_patch_folder(tmp_path, "train", patch=200, count=10)
    assert "200x200" in one_line(e)
    with pytest.raises(DataError) as e:
        load_patch_folder(tmp_path, "test", patch=16, count=10, val_fraction=0)
    one_line(e)
    with pytest.raises(DataError) as e:
        load_patch_folder(tmp_path / "nowhere", "train")
    one_line(e)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as e:
        load_patch_folder(tmp_path / "empty", "train")
    one_line(e)


def test_patches_names_parse_to_their_folder(tmp_path):
    assert patch_folder_of(f"patches:{tmp_path}") == tmp_path
    assert patch_folder_of("PATCHES:photos") is not None
    assert patch_folder_of("mnist") is None and patch_folder_of(str(tmp_path)) is None
    with pytest.raises(DataError):
        patch_folder_of("patches:")
    assert isinstance(tile(np.zeros((1, 8, 8), np.float32), 4, 2)[1], PatchLayout)
