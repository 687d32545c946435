"""Denoising and inpainting a user's photos: a patch data set, `aelab denoise` and `aelab inpaint` on odd sizes;
matching a photo's channels to the model's."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from aelab.cli import main
from aelab.errors import DataError
from aelab.restore import match_channels
from test_cli import one_line_error, run


def _photo(h: int, w: int, seed: int, grey: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([np.sin(x / 7.0 + seed), np.cos(y / 5.0), ((x + y) % 30) / 30.0], 2) * 0.4 + 0.5
    a += 0.05 * rng.standard_normal(a.shape)
    a = (np.clip(a, 0, 1) * 255).astype(np.uint8)
    return a.mean(2).astype(np.uint8) if grey else a


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    sizes = [(60, 80), (45, 70), (90, 50), (64, 64), (75, 75), (50, 90), (70, 40), (80, 60), (55, 65), (66, 77)]
    for i, (h, w) in enumerate(sizes):
        Image.fromarray(_photo(h, w, i)).save(folder / f"p{i}.png")
    return folder


@pytest.fixture(scope="module")
def denoiser(photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "dae"
    code = main(["train", "ae", "--data", f"patches:{photos}", "--patch", "12", "--patch-count", "1500",
                 "--corrupt", "gaussian:0.1+occlude:4", "--set", "hidden=64", "--set", "latent_dim=32",
                 "--set", "activation=elu", "--epochs", "2", "--out", str(out), "--no-progress"])
    assert code == 0
    return out


def test_a_patch_data_set_is_recorded_split_by_photo_and_refuses_changes(denoiser, photos, capsys):
    data = json.loads((denoiser / "config.json").read_text())["data"]
    assert data["name"] == f"patches:{photos}" and data["options"]["patch"] == 12
    assert data["fingerprint"]["shape"] == [3, 12, 12]
    report = (denoiser / "report.html").read_text()
    assert 'id="denoising"' in report and "clean, corrupted, restored, inpainted" in report
    assert "psnr_restored" in report and "ssim_inpainted" in report
    code, _, err = run(capsys, "train", "ae", "--data", f"patches:{photos}", "--patch", "16", "--out", denoiser,
                       "--resume", "--more-epochs", "1", "--no-progress")
    assert code == 2
    one_line_error(err, "--patch 16 (the run has 12)")
    code, _, err = run(capsys, "train", "ae", "--data", "digits", "--patch", "16", "--out", denoiser.parent / "x")
    assert code == 1
    one_line_error(err, "apply to photos read as patches")


@pytest.mark.parametrize("h, w, grey", [(37, 53, False), (9, 100, False), (41, 23, True)])
def test_denoise_keeps_size_and_channels_of_any_photo(denoiser, tmp_path, capsys, h, w, grey):
    src = tmp_path / "in.png"
    Image.fromarray(_photo(h, w, 99, grey)).save(src)
    code, out, err = run(capsys, "denoise", denoiser, src, "-o", tmp_path / "out.png")
    assert code == 0, err
    assert "denoised" in out
    got = Image.open(tmp_path / "out.png")
    assert got.size == (w, h) and got.mode == ("L" if grey else "RGB")


def test_inpaint_keeps_every_known_pixel_and_fills_the_box(denoiser, tmp_path, capsys):
    src = tmp_path / "in.png"
    pic = _photo(50, 70, 5)
    Image.fromarray(pic).save(src)
    code, _, err = run(capsys, "inpaint", denoiser, src, "--mask", "box:10,20,8,6+box:50,5,5,5", "-o",
                       tmp_path / "out.png", "--iterations", "2")
    assert code == 0, err
    got = np.asarray(Image.open(tmp_path / "out.png"))
    holes = np.zeros((50, 70), bool)
    holes[20:26, 10:18] = True
    holes[5:10, 50:55] = True
    assert np.array_equal(got[~holes], pic[~holes])  # known pixels exactly as given
    assert not np.array_equal(got[holes], pic[holes])
    mask = np.zeros((50, 70), np.uint8)
    mask[holes] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    code, _, err = run(capsys, "inpaint", denoiser, src, "--mask", tmp_path / "mask.png", "-o", tmp_path / "o2.png")
    assert code == 0, err
    assert np.array_equal(np.asarray(Image.open(tmp_path / "o2.png"))[~holes], pic[~holes])


def test_a_folder_is_restored_into_a_folder_with_the_same_names(denoiser, photos, tmp_path, capsys, monkeypatch):
    code, out, err = run(capsys, "denoise", denoiser, photos, "-o", tmp_path / "clean")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "clean").iterdir()) == sorted(p.name for p in photos.iterdir())
    code, _, err = run(capsys, "denoise", denoiser, photos, "-o", tmp_path / "clean")
    assert code == 1
    one_line_error(err, "--overwrite")
    monkeypatch.chdir(photos)  # "." names the folder: its restorations go beside it, '-denoised' added
    assert run(capsys, "denoise", denoiser, ".")[0] == 0
    beside = photos.parent / f"{photos.name}-denoised"
    assert sorted(p.name for p in beside.iterdir()) == sorted(p.name for p in photos.iterdir())


def test_bad_inputs_are_one_line_errors(denoiser, tmp_path, capsys):
    src = tmp_path / "in.png"
    Image.fromarray(_photo(30, 40, 1)).save(src)
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "small_mask.png")
    cases = [
        (["inpaint", denoiser, src, "--mask", tmp_path / "small_mask.png", "-o", tmp_path / "o.png"], "10x10"),
        (["inpaint", denoiser, src, "--mask", "box:50,0,3,3", "-o", tmp_path / "o.png"], "outside"),
        (["inpaint", denoiser, src, "--mask", "circle:3", "-o", tmp_path / "o.png"], "no such file"),
        (["denoise", denoiser, tmp_path / "missing.png", "-o", tmp_path / "o.png"], "no such file"),
        (["denoise", denoiser, src, "-o", tmp_path / "o.gif"], ".png, .jpg or .jpeg"),
        (["denoise", denoiser, src, tmp_path / "o.png", "-o", tmp_path / "p.png"], "give one"),
        (["denoise", denoiser, src, "-o", tmp_path / "o.png", "--stride", "13"], "stride"),
    ]
    for argv, words in cases:
        code, _, err = run(capsys, *argv)
        assert code != 0, argv
        one_line_error(err, words)
    assert not (tmp_path / "o.png").exists()


def test_a_users_files_keep_format_mode_alpha_and_orientation_and_are_never_overwritten(denoiser, tmp_path, capsys):
    pic = _photo(30, 50, 3)
    Image.fromarray(pic).save(tmp_path / "shot.jpg", quality=90)
    code, out, err = run(capsys, "denoise", denoiser, tmp_path / "shot.jpg")  # no output named: beside the input
    assert code == 0, err
    got = Image.open(tmp_path / "shot-denoised.jpg")
    assert got.format == "JPEG" and got.size == (50, 30) and got.mode == "RGB"
    Image.fromarray(_photo(30, 50, 4, grey=True)).save(tmp_path / "grey.png")
    assert run(capsys, "denoise", denoiser, tmp_path / "grey.png", tmp_path / "grey.jpg")[0] == 0  # OUT positional
    got = Image.open(tmp_path / "grey.jpg")
    assert got.format == "JPEG" and got.mode == "L" and got.size == (50, 30)
    alpha = np.tile(np.linspace(0, 255, 50).astype(np.uint8), (30, 1))
    Image.fromarray(np.dstack([pic, alpha])).save(tmp_path / "clear.png")
    assert run(capsys, "denoise", denoiser, tmp_path / "clear.png")[0] == 0
    got = Image.open(tmp_path / "clear-denoised.png")
    assert got.mode == "RGBA" and np.array_equal(np.asarray(got)[..., 3], alpha)  # alpha as it was
    # a phone's photo stored sideways with EXIF orientation 6 (turn 90 degrees clockwise to view): restored upright
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(pic).save(tmp_path / "phone.jpg", exif=exif.tobytes(), quality=95)
    assert run(capsys, "denoise", denoiser, tmp_path / "phone.jpg")[0] == 0
    got = Image.open(tmp_path / "phone-denoised.jpg")
    assert got.size == (30, 50) and got.getexif().get(0x0112, 1) == 1
    stored = Image.open(tmp_path / "phone.jpg")
    error = {turn: np.abs(np.asarray(got, np.float32) - np.asarray(stored.transpose(turn), np.float32)).mean()
             for turn in (Image.Transpose.ROTATE_270, Image.Transpose.ROTATE_90)}
    assert error[Image.Transpose.ROTATE_270] < error[Image.Transpose.ROTATE_90]  # the same picture, the same way up
    before = (tmp_path / "shot.jpg").read_bytes()
    for argv in (["denoise", denoiser, tmp_path / "shot.jpg", tmp_path / "shot.jpg", "--overwrite"],
                 ["inpaint", denoiser, tmp_path / "shot.jpg", "--mask", "box:1,1,3,3", "-o", tmp_path / "shot.jpg",
                  "--overwrite"]):
        code, _, err = run(capsys, *argv)
        assert code == 1
        one_line_error(err, "never replaces the photo it restores")
    assert (tmp_path / "shot.jpg").read_bytes() == before


def test_a_model_of_vectors_cannot_restore_photos(tmp_path, capsys):
    docs = tmp_path / "docs.tsv"
    words = ["apple", "river", "orbit", "engine", "garden", "violin", "planet", "coffee"]
    docs.write_text("label\ttext\n" + "".join(f"{i % 2}\t{words[i % 8]} {words[(i * 3) % 8]} {words[i % 5]}\n"
                                                 for i in range(40)))
    code = main(["train", "semhash", "--data", str(docs), "--set", "hidden=8", "--set", "latent_dim=4", "--epochs", "1",
                 "--out", str(tmp_path / "sh"), "--no-progress"])
    assert code == 0
    capsys.readouterr()
    src = tmp_path / "in.png"
    Image.fromarray(_photo(20, 20, 1)).save(src)
    code, _, err = run(capsys, "denoise", tmp_path / "sh", src, "-o", tmp_path / "o.png")
    assert code == 1
    one_line_error(err, "not images")


# ---------------------------------------------------------------- channels (restore/photos.py)


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
    msg = str(e.value)
    assert "\n" not in msg
    assert "photo.tif" in msg and f"{have} channel" in msg and f"takes {want}" in msg


def test_a_model_that_is_no_restorer_is_refused_in_one_line():
    from aelab.errors import ConfigError
    from aelab.models import build_model
    from aelab.recipes import presets
    from aelab.restore import denoise_image

    alae = build_model("alae", presets("alae")["tiny"])  # it never trains on corrupted inputs
    with pytest.raises(ConfigError, match="does not restore") as info:
        denoise_image(alae, np.zeros((1, 40, 40), np.float32))
    assert "\n" not in str(info.value)
