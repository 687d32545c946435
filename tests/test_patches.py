"""Training patches (data/patches.py): random crops from photos of differing sizes, and the patch data set of a
folder of photos, split by photo."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from aelab.data.images import read_image
from aelab.data.patches import (
    check_image,
    check_patch,
    load_patch_folder,
    patch_counts,
    patch_folder_of,
    random_patches,
)
from aelab.errors import ConfigError, DataError


def one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert msg and "\n" not in msg
    return msg


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


def test_patch_sizes_and_images_are_checked_in_one_line():
    for patch in (0, -3, 2.5, True, "8"):
        with pytest.raises(ConfigError) as e:
            check_patch(patch)  # type: ignore[arg-type]
        assert "patch size must be a positive integer" in one_line(e)
    check_patch(np.int64(8))
    assert check_image(np.zeros((1, 2, 3), np.uint8)).dtype == np.float32
    with pytest.raises(DataError):
        check_image(np.zeros((1, 0, 3)))
    with pytest.raises(ValueError):
        check_image(np.zeros((2, 3)))  # (H, W): the caller forgot the channel axis
