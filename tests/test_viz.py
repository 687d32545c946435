"""Tests for aelab.viz: image grids, PNG I/O, code maps, loss curves and the HTML report."""

from __future__ import annotations

import base64
import io
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from aelab.errors import AelabError, DataError
from aelab.models.base import Autoencoder
from aelab.viz import (
    code_map_png,
    load_image,
    loss_curves_png,
    make_grid,
    metrics_table_html,
    png_bytes,
    save_image,
    side_by_side_code_maps_png,
    write_report,
)
from aelab.fsio import atomic_write_bytes

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _open_png(data: bytes) -> Image.Image:
    assert data.startswith(PNG_MAGIC)
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


# ---------------------------------------------------------------- make_grid


def test_make_grid_gray_padding_scale_and_partial_last_row() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 1, 4, 3, generator=g)
    grid = make_grid(x, nrow=3, pad=2, pad_value=1.0, scale=2)
    h, w = 4 * 2, 3 * 2
    assert grid.dtype == np.uint8
    assert grid.shape == (2 * (h + 2) + 2, 3 * (w + 2) + 2, 1)
    expected = np.rint(x.numpy() * 255).astype(np.uint8).repeat(2, axis=2).repeat(2, axis=3)
    mask = np.zeros(grid.shape[:2], dtype=bool)
    for i in range(5):
        r, c = divmod(i, 3)
        top, left = 2 + r * (h + 2), 2 + c * (w + 2)
        np.testing.assert_array_equal(grid[top : top + h, left : left + w, 0], expected[i, 0])
        mask[top : top + h, left : left + w] = True
    # everything else (borders, gaps, the empty sixth cell) is the pad value
    assert (grid[~mask] == 255).all()
    empty = grid[2 + (h + 2) : 2 + (h + 2) + h, 2 + 2 * (w + 2) :, 0]
    assert (empty == 255).all()


def test_make_grid_rgb_numpy_no_pad_clips_and_single_row() -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(-0.5, 1.5, size=(3, 3, 2, 2)).astype(np.float32)
    x[0, 0, 0, 0] = np.nan
    grid = make_grid(x, nrow=8, pad=0, pad_value=0.0)
    assert grid.shape == (2, 6, 3)  # fewer images than nrow: one row, only as wide as needed
    clipped = np.clip(np.nan_to_num(x, nan=0.0), 0, 1)
    for i in range(3):
        np.testing.assert_array_equal(grid[:, 2 * i : 2 * i + 2], np.rint(clipped[i] * 255).astype(np.uint8).transpose(1, 2, 0))
    assert grid[0, 0, 0] == 0
    # pad value is used for borders
    g2 = make_grid(torch.zeros(2, 3, 2, 2), nrow=1, pad=1, pad_value=0.5)
    assert g2.shape == (2 * 3 + 1, 4, 3)
    assert (g2[0] == 128).all() and (g2[1:3, 1:3] == 0).all()


def test_make_grid_rejects_bad_input() -> None:
    with pytest.raises(DataError):
        make_grid(torch.zeros(2, 2, 4, 4))  # two channels
    with pytest.raises(DataError):
        make_grid(torch.zeros(4, 4))
    with pytest.raises(DataError):
        make_grid(torch.zeros(0, 1, 4, 4))
    with pytest.raises(AelabError):
        make_grid(torch.zeros(1, 1, 4, 4), nrow=0)
    # a single (C, H, W) image is accepted as a batch of one
    assert make_grid(torch.zeros(1, 4, 4), pad=0).shape == (4, 4, 1)


# ---------------------------------------------------------------- PNG I/O


def test_save_image_round_trip_rgb_gray_and_float(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    rgb = make_grid(torch.from_numpy(rng.random((7, 3, 5, 5), dtype=np.float32)), nrow=4, scale=3)
    out = save_image(rgb, tmp_path / "rgb.png")
    assert out == tmp_path / "rgb.png"
    with Image.open(out) as im:
        assert im.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(im), rgb)

    gray = make_grid(torch.from_numpy(rng.random((3, 1, 8, 8), dtype=np.float32)))
    save_image(gray, tmp_path / "sub" / "gray.png")  # parent folder is created
    with Image.open(tmp_path / "sub" / "gray.png") as im:
        assert im.mode == "L"
        np.testing.assert_array_equal(np.asarray(im), gray[:, :, 0])

    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    save_image(x, tmp_path / "float.png", nrow=2, scale=2)
    with Image.open(tmp_path / "float.png") as im:
        np.testing.assert_array_equal(np.asarray(im), make_grid(x, nrow=2, scale=2)[:, :, 0])

    # no temporary files are left behind
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["float.png", "gray.png", "rgb.png", "sub"]


def test_png_bytes_matches_grid() -> None:
    x = torch.rand(10, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    img = _open_png(png_bytes(x, nrow=5, scale=2))
    np.testing.assert_array_equal(np.asarray(img), make_grid(x, nrow=5, scale=2))


def test_atomic_write_keeps_old_file_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "a.png"
    target.write_bytes(b"old")

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_load_image_modes_resize_and_errors(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, size=(6, 10, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    t = load_image(tmp_path / "rgb.png")
    assert t.dtype == torch.float32 and t.shape == (3, 6, 10)
    np.testing.assert_allclose(t.numpy(), rgb.transpose(2, 0, 1) / 255.0, atol=1e-6)
    g = load_image(tmp_path / "rgb.png", grayscale=True)
    assert g.shape == (1, 6, 10)
    small = load_image(tmp_path / "rgb.png", size=(3, 5))  # (height, width)
    assert small.shape == (3, 3, 5) and 0.0 <= small.min() and small.max() <= 1.0

    gray = rng.integers(0, 256, size=(4, 4), dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    assert load_image(tmp_path / "gray.png").shape == (1, 4, 4)
    assert load_image(tmp_path / "gray.png", grayscale=False).shape == (3, 4, 4)

    deep = np.array([[0, 65535], [32768, 1000]], dtype=np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    d = load_image(tmp_path / "deep.png")
    assert d.shape == (1, 2, 2)
    np.testing.assert_allclose(d[0].numpy(), deep / 65535.0, atol=1e-4)

    (tmp_path / "broken.png").write_bytes(b"not an image at all")
    with pytest.raises(DataError, match="broken.png") as e:
        load_image(tmp_path / "broken.png")
    assert "\n" not in str(e.value)
    with pytest.raises(DataError, match="missing.png"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(AelabError):
        load_image(tmp_path / "rgb.png", size=(0, 4))


def test_load_image_is_the_data_layers_decoder(tmp_path: Path) -> None:
    from aelab.data import read_image

    assert load_image is read_image  # one decoder: the folder loader uses it too (see test_data.py)
    small = np.array([[0, 255], [1000, 65535]], dtype=np.uint16)
    # 32-bit "I" and big-endian 16-bit TIFFs: always / 65535, whatever the largest value is
    for mode, name in (("I", "i32.tif"), ("I;16B", "i16b.tif")):
        img = Image.fromarray(small).convert(mode) if mode == "I" else Image.frombytes(mode, (2, 2), small.astype(">u2").tobytes())
        img.save(tmp_path / name)
        with Image.open(tmp_path / name) as im:
            assert im.mode == mode
        t = load_image(tmp_path / name)
        assert t.shape == (1, 2, 2)
        np.testing.assert_allclose(t[0].numpy(), small / 65535.0, atol=1e-7)
        dark = load_image(tmp_path / name, grayscale=False)
        assert dark.shape == (3, 2, 2) and torch.equal(dark[0], dark[2])
    Image.fromarray(np.array([[0, 255]], dtype=np.uint16)).convert("I").save(tmp_path / "dark.tif")
    assert float(load_image(tmp_path / "dark.tif").max()) == pytest.approx(255 / 65535)  # not stretched to 1
    # float images are taken as they are, clipped to [0, 1], NaN -> 0
    f = np.array([[-0.5, 0.25], [np.nan, 3.0]], dtype=np.float32)
    Image.fromarray(f, mode="F").save(tmp_path / "f.tif")
    np.testing.assert_array_equal(load_image(tmp_path / "f.tif")[0].numpy(), [[0.0, 0.25], [0.0, 1.0]])
    big = np.full((8, 8), 0.75, dtype=np.float32)
    Image.fromarray(big, mode="F").save(tmp_path / "big.tif")
    assert torch.allclose(load_image(tmp_path / "big.tif", size=(3, 2)), torch.full((1, 3, 2), 0.75))
    # a palette of greys stays one channel; a square size may be given as one int
    pal = Image.fromarray(np.array([[0, 1], [1, 0]], dtype=np.uint8), mode="P")
    pal.putpalette([0, 0, 0, 200, 200, 200])
    pal.save(tmp_path / "pal.png")
    t = load_image(tmp_path / "pal.png")
    np.testing.assert_allclose(t.numpy(), [[[0, 200 / 255], [200 / 255, 0]]], atol=1e-7)
    assert load_image(tmp_path / "pal.png", size=5).shape == (1, 5, 5)
    with pytest.raises(DataError, match="image_size must be"):
        load_image(tmp_path / "pal.png", size=(2, -1))


# ---------------------------------------------------------------- plots


@pytest.mark.parametrize("d", [1, 2, 5])
def test_code_map_png_for_code_widths(d: int) -> None:
    rng = np.random.default_rng(d)
    codes = rng.normal(size=(300, d))
    labels = rng.integers(0, 3, size=300)
    img = _open_png(code_map_png(codes, labels, f"codes <{d}>", class_names=["a", "b", "c"]))
    assert img.size[0] > 200 and img.size[1] > 200


def test_code_map_subsamples_deterministically_and_handles_odd_input() -> None:
    rng = np.random.default_rng(6)
    codes = torch.from_numpy(rng.normal(size=(400, 3, 1)))  # tensors and extra dims are flattened
    assert code_map_png(codes, None, "t", max_points=50) == code_map_png(codes, None, "t", max_points=50)
    codes2 = rng.normal(size=(40, 2))
    codes2[3] = np.nan
    many = np.arange(40) % 25  # more classes than tab20 has colours: no legend, still draws
    _open_png(code_map_png(codes2, many, "t"))
    _open_png(code_map_png(codes2, rng.normal(size=40), "continuous labels"))
    with pytest.raises(DataError):
        code_map_png(codes2, np.zeros(7), "t")
    with pytest.raises(DataError):
        code_map_png(np.zeros((0, 2)), None, "t")


def test_side_by_side_code_maps_png() -> None:
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 10, size=200)
    pair = _open_png(
        side_by_side_code_maps_png(
            [("autoencoder", rng.normal(size=(200, 2)), labels), ("PCA", rng.normal(size=(200, 8)), labels)]
        )
    )
    assert pair.size[0] > 2 * pair.size[1]  # two panels side by side
    with pytest.raises(DataError):
        side_by_side_code_maps_png([])


def _records() -> list[dict]:
    recs = []
    for step in range(0, 101, 10):
        recs.append(
            {"step": step, "epoch": step / 50, "split": "train", "time": step * 0.1,
             "model/loss": 100.0 / (1 + step), "model/bce": 0.5 + 1 / (1 + step)}
        )
        if step % 50 == 0:
            recs.append({"step": step, "epoch": step / 50, "split": "test", "time": step * 0.1,
                         "sq_err": 3.1 - step / 100, "bce": 70.2 - step / 10})
    recs[3]["model/bce"] = float("nan")  # a bad value is skipped, not fatal
    return recs


def test_loss_curves_png_train_and_test() -> None:
    img = _open_png(loss_curves_png(_records()))
    assert img.size[0] > 600  # four metrics: a grid of panels
    _open_png(loss_curves_png([]))  # nothing recorded: still a picture


# ---------------------------------------------------------------- report


@dataclass
class TinyConfig:
    input_shape: tuple[int, ...] = (1, 8, 8)
    code_dim: int = 2


class TinyAE(Autoencoder):
    """Linear 64 -> code -> 64 with a sigmoid, for tests only (not registered)."""

    name = "tiny-ae"
    Config = TinyConfig

    def __init__(self, config: TinyConfig) -> None:
        super().__init__(config)
        self.enc = nn.Linear(64, config.code_dim)
        self.dec = nn.Linear(config.code_dim, 64)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        assert not torch.is_grad_enabled() and not self.training
        return self.enc(x.flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.dec(z)).view(-1, *self.input_shape)


class TinyGen(TinyAE):  # a Sampler: it has sample()
    name = "tiny-gen"

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.decode(torch.randn(n, self.config.code_dim, generator=generator))


def _data(n: int = 120, labels: bool = True) -> SimpleNamespace:
    g = torch.Generator().manual_seed(8)
    return SimpleNamespace(
        x=torch.rand(n, 1, 8, 8, generator=g),
        y=torch.randint(0, 10, (n,), generator=g) if labels else None,
        name="random-8x8",
        classes=[f"digit {i}" for i in range(10)] if labels else None,
    )


def _images(doc: str) -> list[str]:
    return re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', doc)


def test_write_report_plain_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pyplot_before = "matplotlib.pyplot" in sys.modules
    torch.manual_seed(0)
    model = TinyAE(TinyConfig())
    model.train()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    run = tmp_path / "run"
    run.mkdir()
    title = 'Tiny <AE> & "friends"'
    config = {"model": {"name": "tiny-ae", "config": {"code_dim": 2, "input_shape": [1, 8, 8]}},
              "train": {"lr": 0.001, "optimizer": "adam<script>"}, "seed": 0}
    extra = [("Retrieval <extra>", "<p id='raw'>raw <b>html</b></p>")]
    path = write_report(run, model, _data(), _records(), title=title, config=config, extra_sections=extra)

    assert path == run / "report.html" and path.is_file()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["cwd", "report.html", "run"]
    assert model.training  # the mode is restored
    if not pyplot_before:  # figures are drawn without pyplot's global state
        assert "matplotlib.pyplot" not in sys.modules
    doc = path.read_text(encoding="utf-8")
    imgs = _images(doc)
    assert len(imgs) == 4  # curves, reconstructions, interpolations, code map; no samples for a plain AE
    assert 'id="interpolations"' in doc
    for b64 in imgs:
        _open_png(base64.b64decode(b64))
    assert "Tiny &lt;AE&gt; &amp; &quot;friends&quot;" in doc and title not in doc
    assert "adam&lt;script&gt;" in doc and "<script>" not in doc
    assert "train.lr" in doc and "model.config.code_dim" in doc
    # final metrics: last record of each split, a training term in the row of its name ("model/loss" -> "loss")
    assert "<td>loss</td>" in doc and "<td>sq_err</td>" in doc and "<td>bce</td>" in doc
    assert f"{100.0 / 101:.4g}" in doc and f"{3.1 - 1.0:.4g}" in doc and f"{70.2 - 10:.4g}" in doc
    assert 'id="samples"' not in doc
    assert "<h2>Retrieval &lt;extra&gt;</h2>" in doc and "<p id='raw'>raw <b>html</b></p>" in doc
    assert "http://" not in doc and "https://" not in doc  # self-contained
    # reconstruction grid: 16 originals above 16 reconstructions
    recon = np.asarray(_open_png(base64.b64decode(imgs[1])))
    cell = 8 * 8 + 2
    assert recon.shape[:2] == (2 * cell + 2, 16 * cell + 2)


def test_write_report_generative_model_has_samples(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = TinyGen(TinyConfig(code_dim=5))  # 5-D codes: PCA map
    data = _data(n=70, labels=False)
    run = tmp_path / "run"  # created by write_report
    p1 = write_report(run, model, data, [], n_recon=20, max_map_points=50)
    doc = p1.read_text(encoding="utf-8")
    assert 'id="samples"' in doc and "64 samples" in doc
    imgs = _images(doc)
    assert len(imgs) == 4  # reconstructions, interpolations, code map, samples (no records: no curves image)
    assert "No metrics recorded" in doc
    assert "tiny-gen on random-8x8" in doc  # default title
    assert "tiny-gen" in doc and "code_dim" in doc  # default config: the model's own
    recon = np.asarray(_open_png(base64.b64decode(imgs[0])))
    assert recon.shape[0] == 4 * (8 * 8 + 2) + 2  # 20 images: two pairs of rows, 16 wide
    strip = np.asarray(_open_png(base64.b64decode(imgs[1])))
    assert strip.shape[:2] == (4 * (8 * 8 + 2) + 2, 12 * (8 * 8 + 2) + 2)  # 4 pairs: both ends + 10 steps
    samples = np.asarray(_open_png(base64.b64decode(imgs[3])))
    assert samples.shape[:2] == (8 * (8 * 8 + 2) + 2,) * 2
    # samples are seeded: a second report draws the same ones
    p2 = write_report(run, model, data, [], n_recon=20, max_map_points=50)
    assert _images(p2.read_text(encoding="utf-8"))[2] == imgs[2]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["report.html", "run"]


def test_metrics_table_html_formats_and_escapes() -> None:
    out = metrics_table_html(
        [{"model": "vae<1>", "nll": 86.123456, "bits": 1, "note": None}, {"model": "ae", "nll": float("nan")}],
        ["model", "nll", "bits", "note"],
    )
    assert "<th>model</th>" in out and "vae&lt;1&gt;" in out and "86.12" in out and "nan" in out
    assert out.count("<tr>") == 3
