"""DnCNN (models/dncnn.py): trains on patches of photos with --corrupt, saves and loads, restores photos of any size
and channel count whole or by tiles overlapping by its receptive field (the same result, so tile borders leave no
trace), keeps every known pixel when inpainting, and refuses what it cannot do in one line. Its exact resume, batch
norm statistics included, is tests/test_corruption.py's denoiser resume test."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import aelab
from aelab.errors import ConfigError
from aelab.models.base import Batch, build_model
from aelab.recipes.train import TrainConfig
from aelab.restore import denoise_image, halo_tiles, inpaint_image, whole_image
from aelab.train.trainer import Trainer
from test_cli import one_line_error, run
from test_restore import _photo

SMALL = {"depth": 5, "width": 16}  # a 11x11 receptive field: seconds to train on a CPU


def _image(h: int, w: int, seed: int, grey: bool = False) -> np.ndarray:
    """A (C, H, W) float photo in [0, 1]."""
    a = _photo(h, w, seed, grey).astype(np.float32) / 255
    return a[None] if grey else a.transpose(2, 0, 1).copy()


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(-10 * np.log10(np.mean((a.astype(np.float64) - b) ** 2)))


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for i, (h, w) in enumerate([(40, 30), (45, 60), (52, 38), (36, 50)]):
        Image.fromarray(_photo(h, w, i)).save(folder / f"p{i}.png")
    return folder


@pytest.fixture(scope="module")
def trained(photos, tmp_path_factory):
    """A small DnCNN trained through aelab.fit on 16x16 crops of the photos, Gaussian noise of sigma 0.1."""
    out = tmp_path_factory.mktemp("runs") / "dncnn"
    result = aelab.fit("dncnn", f"patches:{photos}", out=out, config=SMALL,
                       data_options={"patch": 16, "patch_count": 600},
                       train={"epochs": 4, "batch_size": 16, "lr": 3e-3, "corrupt": "gaussian:0.1"}, progress=False,
                       report=True)
    return result, out


def test_it_trains_on_photos_with_corrupt_and_loads_to_the_same_outputs(trained):
    result, out = trained
    spec = json.loads((out / "config.json").read_text())
    main = next(s for s in spec["stages"] if s["name"] == "model")
    assert main["model"]["name"] == "dncnn" and main["train"]["corrupt"] == "gaussian:0.1"
    assert main["model"]["config"] == {"depth": 5, "width": 16, "norm": "batch", "input_shape": [3, 16, 16]}
    saved = load_file(str(out / "model.safetensors"))
    assert any(k.endswith("running_var") for k in saved)  # batch norm's statistics live with the weights
    assert result.metrics["psnr_restored"] > result.metrics["psnr_corrupted"] + 1  # it learnt to denoise
    report = (out / "report.html").read_text()
    assert 'id="denoising"' in report and "psnr_restored" in report

    loaded = aelab.load(out)
    x = torch.from_numpy(_image(30, 40, 7))[None]
    noisy = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    with torch.no_grad():
        assert torch.equal(result.model.restore(noisy), loaded.restore(noisy))


def test_a_photo_of_any_size_and_channel_count_keeps_its_size(trained):
    model = aelab.load(trained[1])
    for h, w, grey in [(37, 53, False), (41, 23, True), (9, 100, False), (1, 1, True)]:
        image = _image(h, w, 3, grey)
        out = denoise_image(model, image)
        assert out.shape == image.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    torch.manual_seed(0)
    grey_model = build_model("dncnn", {**SMALL, "input_shape": (1, 16, 16)}).eval()
    for shape in [(1, 29, 31), (3, 17, 40)]:  # a grey model restores colour photos through their luma and back
        image = np.random.default_rng(1).random(shape, dtype=np.float32)
        assert denoise_image(grey_model, image).shape == shape


def test_the_receptive_field_is_the_halo():
    """One changed input pixel changes outputs up to `halo` pixels away and none further: tiles need that overlap."""
    torch.manual_seed(0)
    model = build_model("dncnn", {"input_shape": (1, 8, 8), "depth": 4, "width": 8}).eval()
    x = torch.rand(1, 1, 21, 21, generator=torch.Generator().manual_seed(2))
    y = x.clone()
    y[0, 0, 10, 10] += 0.5
    with torch.no_grad():
        changed = (model(x) - model(y)).abs()[0, 0] > 0
    rows, cols = np.nonzero(changed.numpy())
    assert model.halo == 4 and rows.min() == cols.min() == 10 - 4 and rows.max() == cols.max() == 10 + 4


def test_halo_tiles_partition_the_image_into_cores_read_through_wider_windows():
    cover = np.zeros((23, 31), int)
    for t in halo_tiles((23, 31), 7, 3):
        cover[t.core] += 1
        wy, wx = t.window
        assert wy.start == max(0, t.core[0].start - 3) and wy.stop == min(23, t.core[0].stop + 3)
        assert (t.inner[0].start + wy.start, t.inner[1].start + wx.start) == (t.core[0].start, t.core[1].start)
    assert (cover == 1).all()
    with pytest.raises(ConfigError):
        halo_tiles((10, 10), 0, 2)


@pytest.mark.parametrize("holes", [False, True])
def test_tiles_give_the_whole_photo(trained, holes):
    """Tiles of 11 pixels (windows overlapping by the 5-pixel halo) against one pass over the whole 45x61 photo."""
    model = aelab.load(trained[1])
    noisy = _image(45, 61, 4)
    mask = np.zeros((45, 61), bool)
    mask[10:20, 30:38] = True
    whole = whole_image(model, noisy, mask if holes else None)
    tiled = whole_image(model, noisy, mask if holes else None, tile_size=11)
    assert len(halo_tiles((45, 61), 11, model.halo)) == 5 * 6
    np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-5)


def test_tile_borders_leave_no_trace_in_psnr(trained):
    """The issue's measure: PSNR against the clean photo in a band of 2 pixels either side of every tile border
    (tiles of 11, about half the pixels) within 0.1 dB of the rest. Content alone moves that difference by about
    0.1 dB on photos this small (band and interior see different parts of the pattern), so the test that isolates
    the tiling is the one before it, and here the difference the tiling adds to the untiled photo's (~0 dB)."""
    model = aelab.load(trained[1])
    clean = _image(99, 132, 4)
    noisy = (clean + 0.1 * np.random.default_rng(5).standard_normal(clean.shape)).clip(0, 1).astype(np.float32)
    near = np.zeros((99, 132), bool)
    for edge in range(11, 99, 11):
        near[edge - 2 : edge + 2] = True
    for edge in range(11, 132, 11):
        near[:, edge - 2 : edge + 2] = True

    def band_less_interior(restored: np.ndarray) -> float:
        return _psnr(restored[:, near], clean[:, near]) - _psnr(restored[:, ~near], clean[:, ~near])

    tiled = whole_image(model, noisy, tile_size=11)
    assert _psnr(tiled, clean) > _psnr(noisy, clean) + 1  # denoised
    assert abs(band_less_interior(tiled)) < 0.1
    assert abs(band_less_interior(tiled) - band_less_interior(whole_image(model, noisy))) < 1e-3


def test_inpainting_keeps_every_known_pixel_exactly(trained, tmp_path, capsys):
    model = aelab.load(trained[1])
    image = _image(37, 45, 6)
    holes = np.zeros((37, 45), bool)
    holes[5:12, 8:20] = True
    holes[30:, 40:] = True
    out = inpaint_image(model, image, holes)
    assert np.array_equal(out[:, ~holes], image[:, ~holes])
    assert not np.array_equal(out[:, holes], image[:, holes]) and out[:, holes].min() >= 0
    x, known = torch.from_numpy(image)[None], torch.from_numpy(~holes)[None, None].expand(1, 3, 37, 45)
    with torch.no_grad():
        restored = model.restore(x, known)
    assert torch.equal(restored[known], x[known])  # the Restorer contract, element by element

    src = tmp_path / "in.png"
    pic = _photo(33, 47, 8)
    Image.fromarray(pic).save(src)
    code, _, err = run(capsys, "inpaint", trained[1], src, "--mask", "box:10,5,9,7", "-o", tmp_path / "o.png")
    assert code == 0, err
    got = np.asarray(Image.open(tmp_path / "o.png"))
    box = np.zeros((33, 47), bool)
    box[5:12, 10:19] = True
    assert got.shape == pic.shape and np.array_equal(got[~box], pic[~box])


def test_the_holes_reach_the_loss_as_the_mask_channel(tmp_path):
    """Occlusion's holes ride in the batch (Batch.holes) and change what the network sees."""
    torch.manual_seed(0)
    model = build_model("dncnn", {"input_shape": (1, 12, 12), "depth": 3, "width": 8})
    x = torch.rand(32, 1, 12, 12, generator=torch.Generator().manual_seed(3))
    trainer = Trainer(model, x, TrainConfig(epochs=1, batch_size=16, corrupt="gaussian:0.05+occlude:4"), tmp_path,
                      device="cpu")
    seen: list[Batch] = []
    loss = trainer.updates[0].loss
    trainer.updates[0].loss = lambda batch, progress: (seen.append(batch), loss(batch, progress))[1]
    trainer.fit()
    assert seen and all(b.holes is not None and int(b.holes.sum()) == 16 * 16 for b in seen)
    b = seen[0]
    with torch.no_grad():
        assert not torch.equal(model.residual(b.x, b.holes), model.residual(b.x))


def test_restore_uses_the_running_statistics_in_any_mode():
    """A photo's restoration never depends on what else is in its batch: batch norm keeps to its saved statistics."""
    torch.manual_seed(0)
    model = build_model("dncnn", {"input_shape": (1, 8, 8), "depth": 4, "width": 8})
    x = torch.rand(3, 1, 13, 17, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        trained_mode = model.train().restore(x)
        assert model.training  # left as it was
        alone = model.eval().restore(x[:1])
        batch_statistics = model.train()(x).clamp(0, 1)[:1]
    torch.testing.assert_close(trained_mode[:1], alone, rtol=0, atol=1e-6)
    assert (batch_statistics - alone).abs().max() > 1e-3  # what the batch's own statistics would have given
    plain = build_model("dncnn", {"input_shape": (1, 8, 8), "depth": 4, "width": 8, "norm": "none"})
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())


def test_what_it_cannot_do_is_one_line(trained, tmp_path, capsys):
    out = trained[1]
    src = tmp_path / "in.png"
    Image.fromarray(_photo(20, 24, 1)).save(src)
    cases = [
        (["sample", out, "-o", tmp_path / "s.png"], "cannot sample"),
        (["encode", out, "-o", tmp_path / "c.npy"], "cannot encode"),
        (["interpolate", out, "--from", "0", "--to", "1", "-o", tmp_path / "i.png"], "cannot interpolate"),
        (["denoise", out, src, "-o", tmp_path / "d.png", "--stride", "4"], "restores the whole photo"),
    ]
    for argv, words in cases:
        code, _, err = run(capsys, *argv)
        assert code == 1, (argv, err)
        one_line_error(err, words)
    model = aelab.load(out)
    for bad in (torch.rand(1, 1, 9, 9), torch.rand(3, 9, 9)):  # a colour model given grey, an unbatched image
        with pytest.raises(ConfigError, match="restores images shaped"):
            model.restore(bad)
    for bad_config in ({"depth": 1}, {"width": 0}, {"norm": "layer"}):
        with pytest.raises(ConfigError):
            build_model("dncnn", bad_config)
