"""How data is read: mixed image sizes, --image-size, TIFF/WebP, EXIF on JPEG, --val-fraction, memory limits."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from aelab.cli.common import data_options
from aelab.cli.main import build_parser, main
from aelab.data import Dataset, load_dataset, read_image, register_dataset, unregister_dataset
from aelab.data.dataset import finish, split_indices
from aelab.data.stream import is_streamed
from aelab.errors import DataError


def one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert msg and "\n" not in msg
    return msg


def grey(h: int, w: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8))


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


# ---------------------------------------------------------------- sizes


def test_mixed_sizes_warn_once_and_resize_to_the_first_files_size(tmp_path, capsys):
    grey(6, 4, 0).save(tmp_path / "a.png")
    grey(10, 12, 1).save(tmp_path / "b.png")
    grey(6, 4, 2).save(tmp_path / "c.png")
    grey(3, 3, 3).save(tmp_path / "d.png")
    d = load_dataset(tmp_path, "all")
    assert d.x.shape == (4, 1, 6, 4)
    assert torch.equal(d.x[1], read_image(tmp_path / "b.png", (6, 4)))
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("aelab: warning: ")
    assert "2 of 4 images" in err and "6x4" in err and "--image-size" in err
    load_dataset(tmp_path, "all", image_size=(5, 5))  # the user chose: nothing to warn about
    assert capsys.readouterr().err == ""


def test_same_sizes_after_exif_rotation_do_not_warn(tmp_path, capsys):
    a = np.arange(24, dtype=np.uint8).reshape(4, 6) * 10
    Image.fromarray(a).save(tmp_path / "a.jpg", exif=_exif(6), quality=100)  # shown upright as 6x4
    Image.fromarray(a.T.copy()).save(tmp_path / "b.png")
    assert load_dataset(tmp_path, "all").x.shape == (2, 1, 6, 4)
    assert capsys.readouterr().err == ""


def test_exif_orientation_of_a_jpeg(tmp_path):
    stored = np.zeros((8, 16), dtype=np.uint8)
    stored[:, :4] = 255  # a white bar on the left edge of the stored pixels
    Image.fromarray(stored).save(tmp_path / "p.jpg", exif=_exif(6), quality=100)
    x = read_image(tmp_path / "p.jpg")
    assert x.shape == (1, 16, 8)  # orientation 6: turned 90 degrees clockwise to show it
    np.testing.assert_allclose(x[0].numpy(), np.rot90(stored, k=-1) / 255, atol=8 / 255)  # the bar is now on top
    assert float(x[0, :4].mean()) > 0.9 and float(x[0, 4:].mean()) < 0.1
    d = load_dataset(tmp_path, "all")
    assert torch.equal(d.x[0], x)


def test_image_size_flag_resizes_and_is_recorded(tmp_path):
    grey(6, 4).save(tmp_path / "a.png")
    grey(9, 9, 1).save(tmp_path / "b.png")
    for flag, size in (("5", [5, 5]), ("3,7", [3, 7]), ("3x7", [3, 7])):
        args = build_parser().parse_args(["encode", "run", "-o", "c.npz", "--image-size", flag])
        options = data_options(args)
        assert options == {"image_size": size, "val_fraction": None}
        json.dumps(options)  # a run's config can hold it as it is
        assert load_dataset(tmp_path, "all", None, **options).x.shape == (2, 1, *size)
    args = build_parser().parse_args(["encode", "run", "-o", "c.npz"])
    assert data_options(args) == {"image_size": None, "val_fraction": None}
    assert load_dataset("digits", "test", **data_options(args)).x.shape == (297, 1, 8, 8)  # today's defaults


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--image-size", "0,3"], "--image-size: expected N or H,W with positive integers, got '0,3'"),
        (["--image-size", "big"], "--image-size: expected N or H,W"),
        (["--image-size", "2,3,4"], "--image-size: expected N or H,W"),
        (["--val-fraction", "1"], "--val-fraction: expected a number >= 0 and < 1, got 1"),
        (["--val-fraction", "-0.5"], "--val-fraction: expected a number >= 0 and < 1"),
        (["--val-fraction", "nan"], "--val-fraction: expected a number >= 0 and < 1"),
        (["--val-fraction", "a tenth"], "--val-fraction: expected a number >= 0 and < 1, got 'a tenth'"),
    ],
)
def test_bad_flag_values_are_one_line(tmp_path, capsys, flags, message):
    for command in (["encode", str(tmp_path), "-o", str(tmp_path / "c.npz")], ["eval", str(tmp_path)]):
        assert main([*command, *flags]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err and message in err, err


def test_bad_option_values_in_load_dataset_are_one_line(tmp_path):
    for value in (1.0, -0.1, float("nan"), "0.1", True):
        with pytest.raises(DataError, match="held-out fraction") as e:
            load_dataset("digits", "train", val_fraction=value)
        one_line(e)
    with pytest.raises(DataError, match="image_size") as e:
        load_dataset("digits", image_size=[4, 0])
    one_line(e)


# ---------------------------------------------------------------- formats


def test_tiff_and_webp_are_read(tmp_path):
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.tif")
    Image.fromarray(rgb).save(tmp_path / "b.tiff", compression="tiff_lzw")
    Image.fromarray(rgb).save(tmp_path / "c.webp", lossless=True)
    Image.new("RGB", (7, 5), (200, 40, 90)).save(tmp_path / "d.WEBP", quality=90)  # lossy: a flat colour, near
    deep = rng.integers(0, 65536, (5, 7), dtype=np.uint16)
    Image.fromarray(deep).save(tmp_path / "grey16.tif")  # a 16-bit grey TIFF
    expect = rgb.transpose(2, 0, 1) / 255
    for name in ("a.tif", "b.tiff", "c.webp"):
        np.testing.assert_allclose(read_image(tmp_path / name).numpy(), expect, atol=1e-6, rtol=0)
    flat = np.array([200, 40, 90], dtype=np.float32)[:, None, None] / 255
    np.testing.assert_allclose(read_image(tmp_path / "d.WEBP").numpy(), np.broadcast_to(flat, (3, 5, 7)), atol=0.05)
    np.testing.assert_allclose(read_image(tmp_path / "grey16.tif").numpy(), deep[None] / 65535, atol=1e-6, rtol=0)
    d = load_dataset(tmp_path, "all")
    assert d.files == ["a.tif", "b.tiff", "c.webp", "d.WEBP", "grey16.tif"]
    assert d.x.shape == (5, 3, 5, 7)


# ---------------------------------------------------------------- held-out fraction


def test_val_fraction_sizes_for_npy_and_folders(tmp_path, capsys):
    np.save(tmp_path / "a.npy", np.random.default_rng(0).random((40, 3, 3)))
    path = tmp_path / "a.npy"
    sizes = {vf: (len(load_dataset(path, "train", val_fraction=vf)), len(load_dataset(path, "all", val_fraction=vf)))
             for vf in (None, 0.1, 0.25, 0.0)}
    assert sizes == {None: (36, 40), 0.1: (36, 40), 0.25: (30, 40), 0.0: (40, 40)}
    tr, te = load_dataset(path, "train", val_fraction=0.25), load_dataset(path, "test", val_fraction=0.25)
    assert len(te) == 10 and sorted([*tr.index, *te.index]) == list(range(40))
    default = load_dataset(path, "test")  # the default is today's split, row for row
    np.testing.assert_array_equal(default.index, np.random.default_rng(0).permutation(40)[36:])
    with pytest.raises(DataError) as e:
        load_dataset(path, "test", val_fraction=0)
    assert "held-out fraction (--val-fraction) is 0" in one_line(e)

    for i in range(8):
        grey(4, 4, i).save(tmp_path / f"{i}.png")
    assert [len(load_dataset(tmp_path, s, val_fraction=0.5)) for s in ("train", "test")] == [4, 4]
    assert len(load_dataset(tmp_path, "train", val_fraction=0)) == 8
    with pytest.raises(DataError, match="held-out fraction") as e:
        load_dataset(tmp_path, "test", val_fraction=0)
    one_line(e)
    assert capsys.readouterr().err == ""


def test_val_fraction_of_registered_sets(tmp_path):
    assert (len(load_dataset("digits", "train")), len(load_dataset("digits", "test"))) == (1500, 297)
    tr, te = load_dataset("digits", "train", val_fraction=0.25), load_dataset("digits", "test", val_fraction=0.25)
    assert (len(tr), len(te)) == (1347, 450)
    np.testing.assert_array_equal(tr.index[:1347], np.random.default_rng(0).permutation(1797)[:1347])
    assert len(load_dataset("digits", "train", val_fraction=0)) == 1797
    with pytest.raises(DataError, match="digits: the held-out fraction") as e:
        load_dataset("digits", "test", val_fraction=0)
    one_line(e)
    for name in ("mnist", "fashion-mnist"):  # official test files: refused before any file is looked for
        with pytest.raises(DataError, match=f"{name} has an official test split") as e:
            load_dataset(name, "train", data_dir=tmp_path, val_fraction=0.2)
        one_line(e)


def test_a_registered_loader_gets_val_fraction_only_if_it_takes_it():
    calls = []

    def held_out(split, data_dir, image_size, grayscale, val_fraction=None) -> Dataset:
        calls.append(val_fraction)
        idx = split_indices(10, split, val_fraction=val_fraction)
        return finish(torch.zeros(len(idx), 1, 2, 2), None, "x", None, split, image_size, grayscale, index=idx)

    def fixed(split, data_dir, image_size, grayscale) -> Dataset:
        return finish(torch.zeros(3, 1, 2, 2), None, "x", None, split, image_size, grayscale)

    register_dataset("held-out-set", description="ten zeros", loader=held_out)
    register_dataset("fixed-set", description="three zeros", loader=fixed)
    try:
        assert len(load_dataset("held-out-set", "test", val_fraction=0.5)) == 5
        assert len(load_dataset("held-out-set", "test")) == 1 and calls == [0.5, None]
        assert load_dataset("fixed-set", "test").index is None  # a loader that does not say
        with pytest.raises(DataError, match="fixed-set has an official test split"):
            load_dataset("fixed-set", "test", val_fraction=0.5)
    finally:
        unregister_dataset("held-out-set")
        unregister_dataset("fixed-set")


# ---------------------------------------------------------------- memory


def test_data_too_large_for_memory_is_one_line_with_the_size(tmp_path, monkeypatch):
    np.save(tmp_path / "a.npy", np.zeros((100, 8, 8), dtype=np.uint8))
    for i in range(3):
        grey(8, 8, i).save(tmp_path / f"{i}.png")
    monkeypatch.setattr("aelab.data.dataset.physical_memory", lambda: 10_000)
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path / "a.npy", "train")
    assert "90 samples of 1x8x8 as float32 need 22.5 KiB, more than this machine's 9.8 KiB" in one_line(e)
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path, "all", image_size=(64, 64))
    assert "3 images of 1x64x64 as float32 need 48.0 KiB" in one_line(e)
    with pytest.raises(DataError) as e:
        load_dataset("digits", "test", image_size=8)
    assert "297 images of 1x8x8 as float32 need" in one_line(e)


def test_npy_larger_than_memory_streams_its_training_split_and_refuses_a_test_split_that_cannot_fit(tmp_path):
    """A 1 TiB sparse .npy: mapped, never read; its training split stays on disk (read as it trains), and its test
    split, which is read into memory, is refused naming what it would need as float32."""
    path = tmp_path / "huge.npy"
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 1), dtype=np.uint8))
    header["shape"] = (4096, 1, 16384, 16384)
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        try:
            f.truncate(f.tell() + 4096 * 16384 * 16384)
        except OSError:
            pytest.skip("this file system has no sparse files")
    train = load_dataset(path, "train")
    assert is_streamed(train.x) and tuple(train.x.shape) == (3686, 1, 16384, 16384)
    with pytest.raises(DataError) as e:
        load_dataset(path, "test")
    assert "410 samples of 1x16384x16384 as float32 need 410.0 GiB" in one_line(e)
