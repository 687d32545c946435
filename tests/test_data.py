"""Tests for aelab.data: IDX files, named datasets, image folders, .npy arrays, and fetch."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import importlib
import struct
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from aelab.data import (
    Dataset,
    data_search_dirs,
    dataset_names,
    describe_datasets,
    fetch,
    load_dataset,
    read_idx,
    write_idx,
)
from aelab.errors import AelabError, DataError

fetch_module = importlib.import_module("aelab.data.fetch")  # aelab.data.fetch is also the function's name

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MNIST_DIR = SHARED / "mnist"
needs_mnist = pytest.mark.skipif(
    not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(), reason=f"MNIST files not found in {MNIST_DIR}"
)
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
IDX_NAMES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


@pytest.fixture(autouse=True)
def isolated(tmp_path_factory, monkeypatch):
    """No test sees the real ~/.cache/aelab, $AELAB_DATA or a proxy."""
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.delenv("AELAB_DATA", raising=False)
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


def one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg and msg
    return msg


# ---------------------------------------------------------------- IDX


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("shape", [(0,), (7,), (3, 4), (2, 3, 5), (2, 1, 3, 2), (1, 1, 1, 1, 2, 1, 1, 3)])
def test_idx_round_trip(tmp_path, suffix, dtype, shape):
    rng = np.random.default_rng(1)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "ui" else None
    if info is not None:
        a = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    else:
        a = rng.normal(size=shape).astype(dtype) * 1e3
    path = tmp_path / f"a.idx{suffix}"
    write_idx(path, a)
    b = read_idx(path)
    assert b.dtype == a.dtype and b.dtype.isnative and b.shape == a.shape
    np.testing.assert_array_equal(a, b)
    raw = gzip.decompress(path.read_bytes()) if suffix else path.read_bytes()
    code = {"uint8": 8, "int8": 9, "int16": 11, "int32": 12, "float32": 13, "float64": 14}[dtype]
    assert raw[:4] == bytes([0, 0, code, len(shape)])
    assert struct.unpack(f">{len(shape)}I", raw[4 : 4 + 4 * len(shape)]) == shape
    assert raw[4 + 4 * len(shape) :] == a.astype(np.dtype(dtype).newbyteorder(">")).tobytes()


def test_idx_write_refuses_unsupported(tmp_path):
    for bad in (np.zeros(3, np.int64), np.zeros(3, np.uint16), np.zeros(3, bool), np.float32(1.0)):
        with pytest.raises(DataError) as e:
            write_idx(tmp_path / "x.idx", bad)
        one_line(e)


def header(code: int, dims: tuple[int, ...]) -> bytes:
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


@pytest.mark.parametrize(
    "content, raw_expect, gz_expect",
    [
        (b"", "empty file", "empty file"),
        (b"\x00\x00", "shorter than", "shorter than"),
        (b"\x08\x03\x00\x00" + b"\x00" * 20, "magic", "magic"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "dtype code 0x07", "dtype code 0x07"),
        (b"\x00\x00\x08\x00", "0 dimensions", "0 dimensions"),
        (b"\x00\x00\x08\x0c" + b"\x00" * 48, "12 dimensions", "12 dimensions"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated IDX header", "truncated IDX header"),
        (header(8, (2, 3)) + b"\x01" * 5, "truncated: header says 6 bytes of data, file has 5",
         "truncated: header says 6 bytes of data, file has 5"),
        (header(12, (2,)) + b"\x01" * 9, "1 trailing bytes: header says 8 bytes of data, file has 9",
         "trailing bytes: header says 8 bytes of data"),
    ],
    ids=["empty", "short", "magic", "dtype", "ndim0", "ndim12", "dims-cut", "truncated", "trailing"],
)  # fmt: skip
@pytest.mark.parametrize("gz", [False, True])
def test_idx_corrupt_inputs(tmp_path, content, raw_expect, gz_expect, gz):
    path = tmp_path / ("bad.idx.gz" if gz else "bad.idx")
    path.write_bytes(gzip.compress(content) if gz and content else content)
    with pytest.raises(DataError) as e:
        read_idx(path)
    msg = one_line(e)
    assert msg.startswith(f"{path}: ")
    assert (gz_expect if gz else raw_expect) in msg


def test_idx_trailing_and_truncated_messages(tmp_path):
    p = tmp_path / "t.idx"
    p.write_bytes(header(8, (4,)) + b"abcdef")
    with pytest.raises(DataError, match=r"2 trailing bytes: header says 4 bytes of data, file has 6"):
        read_idx(p)
    p.write_bytes(header(11, (4,)) + b"ab")
    with pytest.raises(DataError, match=r"truncated: header says 8 bytes of data, file has 2"):
        read_idx(p)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_absurd_header_fails_fast_without_allocating(tmp_path, gz):
    content = header(0x0E, (10**6, 10**6)) + b"\x00" * 64  # claims 8 * 10^12 bytes
    path = tmp_path / ("huge.idx.gz" if gz else "huge.idx")
    path.write_bytes(gzip.compress(content) if gz else content)
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(DataError, match="truncated: header says 8000000000000 bytes"):
            read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 1.0
    assert peak < 2**20


def test_idx_bad_gzip(tmp_path):
    p = tmp_path / "x.idx.gz"
    p.write_bytes(header(8, (3,)) + b"abc")  # raw bytes under a .gz name
    with pytest.raises(DataError, match="not a gzip file") as e:
        read_idx(p)
    assert str(p) in one_line(e)
    good = gzip.compress(header(8, (3000,)) + bytes(range(256)) * 12)
    p.write_bytes(good[:-30])  # cut inside the stream
    with pytest.raises(DataError) as e:
        read_idx(p)
    assert str(p) in one_line(e)
    broken = bytearray(good)
    broken[-6] ^= 0xFF  # CRC / length trailer damaged
    p.write_bytes(bytes(broken))
    with pytest.raises(DataError, match="gzip|truncated"):
        read_idx(p)


def test_idx_missing_file_and_folder(tmp_path):
    with pytest.raises(DataError, match="no such file") as e:
        read_idx(tmp_path / "nope.idx")
    assert "nope.idx" in one_line(e)
    with pytest.raises(DataError, match="folder"):
        read_idx(tmp_path)


_ITEMSIZE = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}


def _mutated(code: int, dims: list[int], edit: str, where: int, fill: int) -> bytes:
    """A valid IDX file, then cut, extended or with one byte changed."""
    data = bytearray(header(code, tuple(dims)) + bytes([fill]) * (_ITEMSIZE[code] * int(np.prod(dims))))
    where %= len(data)
    if edit == "cut":
        del data[where:]
    elif edit == "extend":
        data += bytes([fill]) * (where % 7 + 1)
    elif edit == "flip":
        data[where] ^= fill or 1
    return bytes(data)


idx_like = st.one_of(
    st.binary(max_size=64),
    st.builds(
        _mutated,
        st.sampled_from(sorted(_ITEMSIZE)),
        st.lists(st.integers(0, 3), min_size=1, max_size=4),
        st.sampled_from(["none", "cut", "extend", "flip"]),
        st.integers(0, 10**6),
        st.integers(0, 255),
    ),
    st.builds(
        lambda code, dims, tail: bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + tail,
        st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0xFF]),
        st.lists(st.one_of(st.integers(0, 4), st.integers(0, 2**32 - 1)), min_size=0, max_size=9),
        st.binary(max_size=80),
    ),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=idx_like, gz=st.sampled_from(["raw", "gz-of-data", "raw-named-gz"]))
def test_idx_property_parse_or_dataerror(tmp_path, data, gz):
    path = tmp_path / ("p.idx" if gz == "raw" else "p.idx.gz")
    path.write_bytes(gzip.compress(data) if gz == "gz-of-data" else data)
    try:
        arr = read_idx(path)
    except DataError as e:
        assert "\n" not in str(e)
        return
    assert isinstance(arr, np.ndarray) and arr.dtype.isnative
    assert 4 + 4 * arr.ndim + arr.nbytes == len(data)


# ---------------------------------------------------------------- digits and names


def test_dataset_names_and_search_dirs(tmp_path, monkeypatch):
    assert dataset_names() == ["20newsgroups", "digits", "fashion-mnist", "lines", "mnist"]
    home = Path.home()
    assert data_search_dirs() == [home / ".cache" / "aelab"]
    monkeypatch.setenv("AELAB_DATA", str(tmp_path / "env"))
    assert data_search_dirs(tmp_path / "d") == [tmp_path / "d", tmp_path / "env", home / ".cache" / "aelab"]
    assert issubclass(DataError, AelabError)


def test_digits_splits():
    tr, te, al = (load_dataset("digits", s) for s in ("train", "test", "all"))
    assert isinstance(tr, Dataset) and tr.name == "digits"
    assert tr.x.shape == (1500, 1, 8, 8) and te.x.shape == (297, 1, 8, 8) and al.x.shape == (1797, 1, 8, 8)
    assert len(tr) == 1500 and tr.x.dtype == torch.float32 and tr.y.dtype == torch.int64
    assert float(al.x.min()) == 0.0 and float(al.x.max()) == 1.0
    assert set(al.y.tolist()) == set(range(10)) and tr.classes == [str(i) for i in range(10)]
    # train and test are a partition of all
    rows = {r.numpy().tobytes() + bytes([int(c)]) for r, c in zip(al.x, al.y)}
    both = [r.numpy().tobytes() + bytes([int(c)]) for d in (tr, te) for r, c in zip(d.x, d.y)]
    assert len(both) == 1797 and set(both) <= rows
    again = load_dataset("digits", "train")
    assert torch.equal(again.x, tr.x) and torch.equal(again.y, tr.y)
    # facts of sklearn.datasets.load_digits() (checked against it; importing sklearn here costs seconds)
    assert al.y[:5].tolist() == [0, 1, 2, 3, 4]
    assert torch.bincount(al.y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert (al.x[0, 0, :2] * 16).tolist() == [[0, 0, 5, 13, 9, 1, 0, 0], [0, 0, 13, 15, 10, 15, 5, 0]]
    assert float(al.x.double().sum() * 16) == 561718.0


def test_digits_resize_and_channels():
    d = load_dataset("Digits", "test", image_size=(16, 12), grayscale=False)
    assert d.x.shape == (297, 3, 16, 12) and 0.0 <= float(d.x.min()) and float(d.x.max()) <= 1.0
    assert torch.equal(d.x[:, 0], d.x[:, 2])
    assert load_dataset("digits", "test", image_size=4).x.shape == (297, 1, 4, 4)


def test_bad_split_and_unknown_name(tmp_path):
    with pytest.raises(DataError, match="unknown split 'val'"):
        load_dataset("digits", "val")
    with pytest.raises(DataError) as e:
        load_dataset("nosuchset")
    assert one_line(e) == (
        "unknown dataset 'nosuchset'; known: 20newsgroups, digits, fashion-mnist, lines, mnist, "
        "or a folder of images or text files / a .npy file / a text table (.tsv, .csv, .jsonl)"
    )
    f = tmp_path / "x.dat"
    f.write_text("1,2\n")
    with pytest.raises(DataError, match="not a .npy"):
        load_dataset(str(f))
    f = tmp_path / "x.csv"
    f.write_text("1,2\n")
    with pytest.raises(DataError, match="names no 'text' column"):
        load_dataset(str(f))
    with pytest.raises(DataError, match="image_size"):
        load_dataset("digits", image_size=(0, 3))


def test_describe_datasets(tmp_path):
    rows = {r["name"]: r for r in describe_datasets(tmp_path)}
    assert list(rows) == ["20newsgroups", "digits", "fashion-mnist", "lines", "mnist"]
    assert rows["digits"]["available"] and rows["digits"]["shape"] == (1, 8, 8)
    assert (rows["digits"]["train"], rows["digits"]["test"]) == (1500, 297)
    assert rows["mnist"]["available"] is False and rows["mnist"]["location"] is None
    assert {"name", "description", "available", "location", "shape", "train", "test"} <= set(rows["mnist"])
    if MNIST_DIR.is_dir():
        rows = {r["name"]: r for r in describe_datasets(SHARED)}
        assert rows["mnist"]["available"] and Path(rows["mnist"]["location"]) == MNIST_DIR
        assert not rows["fashion-mnist"]["available"]  # MNIST files are not mistaken for Fashion-MNIST


# ---------------------------------------------------------------- MNIST from disk


@needs_mnist
def test_mnist_train_and_test():
    tr = load_dataset("mnist", "train", data_dir=SHARED)
    assert tr.x.shape == (60000, 1, 28, 28) and tr.x.dtype == torch.float32
    assert tr.y.shape == (60000,) and tr.y.dtype == torch.int64
    assert float(tr.x.min()) == 0.0 and float(tr.x.max()) == 1.0
    assert tr.name == "mnist" and tr.classes == [str(i) for i in range(10)]
    del tr
    te = load_dataset("mnist", "test", data_dir=MNIST_DIR)
    assert te.x.shape == (10000, 1, 28, 28)
    assert torch.bincount(te.y, minlength=10).tolist() == MNIST_TEST_COUNTS


@needs_mnist
def test_mnist_env_var(monkeypatch):
    monkeypatch.setenv("AELAB_DATA", str(SHARED))
    te = load_dataset("mnist", "test")
    assert te.x.shape == (10000, 1, 28, 28)
    # the shared MNIST folder must not be served as Fashion-MNIST
    with pytest.raises(DataError, match="holds mnist, not fashion-mnist"):
        load_dataset("fashion-mnist", "test", data_dir=MNIST_DIR)


def test_missing_dataset_message(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset("fashion-mnist", data_dir=tmp_path / "nowhere")
    msg = one_line(e)
    assert "aelab data fetch fashion-mnist" in msg
    assert "train-images-idx3-ubyte" in msg and "train-labels-idx1-ubyte" in msg
    assert str(tmp_path / "nowhere") in msg and str(Path.home() / ".cache" / "aelab") in msg


def fake_mnist(folder: Path, n_train=6, n_test=3, gz=True, labels_off=0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train + labels_off, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    arrays["train-images-idx3-ubyte"][0, 0, 0] = 255
    for stem, a in arrays.items():
        write_idx(folder / (stem + (".gz" if gz else "")), a)
    return arrays


def test_idx_dataset_layouts_and_splits(tmp_path, monkeypatch):
    arrays = fake_mnist(tmp_path / "base" / "fashion-mnist", gz=False)
    d = load_dataset("fashion-mnist", "all", data_dir=tmp_path / "base", image_size=(14, 14))
    assert d.x.shape == (9, 1, 14, 14) and d.classes[0] == "T-shirt/top" and d.classes[9] == "Ankle boot"
    tr = load_dataset("fashion_mnist", "train", data_dir=tmp_path / "base" / "fashion-mnist")
    np.testing.assert_array_equal((tr.x[:, 0].numpy() * 255).round(), arrays["train-images-idx3-ubyte"])
    assert tr.y.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    fake_mnist(tmp_path / "home" / ".cache" / "aelab" / "mnist")
    assert len(load_dataset("mnist", "test")) == 3  # ~/.cache/aelab/mnist is searched last


def test_idx_dataset_label_count_mismatch(tmp_path):
    fake_mnist(tmp_path, labels_off=-1)
    with pytest.raises(DataError, match="has 5 labels but train-images-idx3-ubyte.gz has 6 images"):
        load_dataset("mnist", "train", data_dir=tmp_path)
    assert len(load_dataset("mnist", "test", data_dir=tmp_path)) == 3  # the test files are fine


def test_idx_dataset_partial_folder(tmp_path):
    fake_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as e:
        load_dataset("mnist", "test", data_dir=tmp_path)
    assert f"{tmp_path} lacks t10k-labels-idx1-ubyte" in one_line(e)


# ---------------------------------------------------------------- folders of images


def save(path: Path, img: Image.Image) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def test_image_folder_with_classes(tmp_path):
    root = tmp_path / "imgs"
    save(root / "cat" / "a.png", Image.new("RGB", (10, 12), (255, 0, 0)))
    save(root / "cat" / "b.png", Image.new("L", (8, 8), 128))
    save(root / "dog" / "c.bmp", Image.new("RGB", (6, 6), (0, 0, 255)))
    save(root / "dog" / "deep" / "d.gif", Image.new("L", (5, 9), 255))
    (root / "dog" / "notes.txt").write_text("ignored")  # images found: a folder of images, notes and all
    d = load_dataset(str(root), "all")
    assert d.name == str(root) and d.classes == ["cat", "dog"] and d.y.tolist() == [0, 0, 1, 1]
    assert d.x.shape == (4, 3, 12, 10) and d.x.dtype == torch.float32
    assert torch.allclose(d.x[0, :, 5, 5], torch.tensor([1.0, 0.0, 0.0]))
    assert torch.allclose(d.x[1, :, 4, 4], torch.full((3,), 128 / 255), atol=1e-6)
    assert torch.allclose(d.x[2, :, 3, 3], torch.tensor([0.0, 0.0, 1.0]))
    assert 0.0 <= float(d.x.min()) and float(d.x.max()) <= 1.0
    small = load_dataset(str(root), "all", image_size=(5, 7), grayscale=True)
    assert small.x.shape == (4, 1, 5, 7)
    assert torch.allclose(small.x[0, 0, 2, 3], torch.tensor(0.299), atol=3 / 255)  # red -> luma
    tr, te = load_dataset(str(root), "train"), load_dataset(str(root), "test")
    assert (len(tr), len(te)) == (3, 1)
    seen = sorted(map(tuple, torch.cat([tr.x, te.x]).flatten(1).tolist()))
    assert seen == sorted(map(tuple, d.x.flatten(1).tolist()))


def test_image_folder_grey_and_unlabelled(tmp_path):
    root = tmp_path / "g"
    for i in range(20):
        save(root / f"{i:02d}.png", Image.new("L", (4, 6), i * 10))
    pal = Image.new("P", (4, 6))
    pal.putpalette([v for g in range(256) for v in (g, g, g)])
    save(root / "zz_palette.png", pal)
    wide = Image.fromarray(np.full((6, 4), 65535, dtype=np.uint16))  # 16-bit grey
    save(root / "zz_wide.png", wide)
    d = load_dataset(root, "all")
    assert d.y is None and d.classes is None and d.x.shape == (22, 1, 6, 4)
    assert float(d.x[-1].min()) == 1.0 and float(d.x[0].max()) == 0.0
    tr, te = load_dataset(root, "train"), load_dataset(root, "test")
    assert (len(tr), len(te)) == (19, 3)
    assert torch.equal(load_dataset(root, "train").x, tr.x)  # deterministic
    assert load_dataset(root, "test", grayscale=False).x.shape == (3, 3, 6, 4)


def test_image_folder_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.md").write_text("no images")
    with pytest.raises(DataError, match="no images found"):
        load_dataset(str(empty))
    (empty / "readme.txt").write_text("no images")  # .txt files alone are an unlabelled corpus: its one document is
    with pytest.raises(DataError, match="no document is left"):  # too short
        load_dataset(str(empty))
    bad = tmp_path / "bad"
    save(bad / "ok.png", Image.new("L", (3, 3)))
    (bad / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(DataError) as e:
        load_dataset(str(bad), "all")
    assert str(bad / "broken.png") in one_line(e)
    trunc = tmp_path / "trunc"
    save(trunc / "a.png", Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40), dtype=np.uint8)))
    data = (trunc / "a.png").read_bytes()
    (trunc / "a.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="a.png: not a readable image"):
        load_dataset(str(trunc), "all")
    single = tmp_path / "single"
    save(single / "a.png", Image.new("L", (3, 3)))
    assert len(load_dataset(str(single), "train")) == 1
    with pytest.raises(DataError, match="'test' split is empty"):
        load_dataset(str(single), "test")


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


def decoder_cases(root: Path) -> dict[str, tuple[Path, np.ndarray]]:
    """One file per mode Pillow opens it in, with the (C, H, W) pixels the decoding rules promise."""
    rng = np.random.default_rng(7)
    cases: dict[str, tuple[Path, np.ndarray]] = {}
    root.mkdir(parents=True, exist_ok=True)

    def add(key: str, img: Image.Image, expect: np.ndarray, suffix: str = ".png", **save) -> None:
        path = root / f"{key}{suffix}"
        img.save(path, **save)
        cases[key] = (path, np.asarray(expect, dtype=np.float32))

    grey = rng.integers(0, 256, (4, 6), dtype=np.uint8)
    rgb = rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (4, 6), dtype=np.uint8)
    add("L", Image.fromarray(grey), grey[None] / 255)
    add("LA", Image.fromarray(np.dstack([grey, alpha]), mode="LA"), grey[None] / 255)  # alpha dropped
    add("1", Image.fromarray(grey > 127), (grey[None] > 127).astype(np.float32))
    add("RGB", Image.fromarray(rgb), rgb.transpose(2, 0, 1) / 255)
    add("RGBA", Image.fromarray(np.dstack([rgb, alpha])), rgb.transpose(2, 0, 1) / 255)  # not composited
    add("BMP", Image.fromarray(rgb), rgb.transpose(2, 0, 1) / 255, suffix=".bmp")
    index = rng.integers(0, 4, (4, 6), dtype=np.uint8)
    colours = np.array([[255, 0, 0], [0, 128, 0], [10, 20, 30], [200, 200, 200]], dtype=np.uint8)
    pal = Image.fromarray(index, mode="P")
    pal.putpalette(colours.flatten().tolist())
    add("P", pal, colours[index].transpose(2, 0, 1) / 255)  # palette colours, not the indices
    add("P-transparent", pal, colours[index].transpose(2, 0, 1) / 255, transparency=0)
    add("GIF", pal, colours[index].transpose(2, 0, 1) / 255, suffix=".gif")
    greys = np.array([[0, 0, 0], [90, 90, 90], [180, 180, 180], [255, 255, 255], [255, 0, 0]], dtype=np.uint8)
    grey_pal = Image.fromarray(index, mode="P")  # red is in the palette but no pixel uses it
    grey_pal.putpalette(greys.flatten().tolist())
    add("P-grey", grey_pal, greys[index][None, :, :, 0] / 255)  # only grey colours used: one channel
    deep = rng.integers(0, 65536, (4, 6), dtype=np.uint16)
    deep[0, :3] = [0, 32768, 65535]
    add("I;16", Image.fromarray(deep), deep[None] / 65535)  # a 16-bit grey PNG
    cmyk = Image.fromarray(rgb).convert("CMYK")
    path = root / "CMYK.jpg"
    cmyk.save(path, quality=95)
    with Image.open(path) as im:
        assert im.mode == "CMYK"
        cases["CMYK"] = (path, np.asarray(im.convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / 255)
    # EXIF orientation 6: stored 4x6, shown upright as 6x4 (turned 90 degrees clockwise)
    add("EXIF", Image.fromarray(grey), np.rot90(grey, k=-1)[None] / 255, exif=_exif(6))
    return cases


DECODER_KEYS = ["L", "LA", "1", "RGB", "RGBA", "BMP", "P", "P-transparent", "GIF", "P-grey", "I;16", "CMYK", "EXIF"]


@pytest.mark.parametrize("key", DECODER_KEYS)
def test_folder_loader_and_load_image_decode_alike(tmp_path, key):
    from aelab.viz import load_image

    path, expect = decoder_cases(tmp_path / "files")[key]
    folder = tmp_path / "one"
    folder.mkdir()
    (folder / path.name).write_bytes(path.read_bytes())
    with Image.open(path) as im:
        assert im.mode == {"BMP": "RGB", "GIF": "P", "P-transparent": "P", "P-grey": "P", "EXIF": "L"}.get(key, key)
    single = load_image(path)
    tol = 1e-6 if key != "CMYK" else 2 / 255  # JPEG: the pixels Pillow decodes, whatever the encoder did
    np.testing.assert_allclose(single.numpy(), expect, atol=tol, rtol=0)
    assert single.dtype == torch.float32 and single.is_contiguous()
    for kwargs in ({}, {"grayscale": True}, {"grayscale": False}, {"image_size": (3, 5)}, {"image_size": (9, 2), "grayscale": False}):
        d = load_dataset(folder, "all", **kwargs)
        one = load_image(path, size=kwargs.get("image_size"), grayscale=kwargs.get("grayscale"))
        assert torch.equal(d.x[0], one), kwargs  # the same pixels, bit for bit
        assert 0.0 <= float(one.min()) and float(one.max()) <= 1.0
    c = load_image(path).shape[0]
    assert load_image(path, grayscale=True).shape[0] == 1 and load_image(path, grayscale=False).shape[0] == 3
    assert c == (1 if key in ("L", "LA", "1", "P-grey", "I;16", "EXIF") else 3)


def test_mixed_folder_matches_load_image_file_by_file(tmp_path):
    from aelab.viz import load_image

    cases = decoder_cases(tmp_path / "files")
    d = load_dataset(tmp_path / "files", "all", image_size=(4, 6))
    paths = sorted(p for p, _ in cases.values())
    assert d.x.shape == (len(cases), 3, 4, 6)  # one colour file makes the whole folder colour
    assert torch.equal(d.x, torch.stack([load_image(p, size=(4, 6), grayscale=False) for p in paths]))
    grey_only = {k: v for k, v in cases.items() if k in ("L", "LA", "1", "P-grey", "I;16")}
    for k in set(cases) - set(grey_only):
        cases[k][0].unlink()
    g = load_dataset(tmp_path / "files", "all")
    assert g.x.shape == (5, 1, 4, 6)  # all grey: one channel, the first file's size
    assert torch.equal(g.x, torch.stack([load_image(p) for p in sorted(p for p, _ in grey_only.values())]))


def test_exif_orientation_sets_the_folder_size(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(4, 6) * 10
    Image.fromarray(a).save(tmp_path / "a.png", exif=_exif(8))  # turned 90 degrees counter-clockwise
    Image.fromarray(a.T.copy()).save(tmp_path / "b.png")
    d = load_dataset(tmp_path, "all")
    assert d.x.shape == (2, 1, 6, 4)
    np.testing.assert_allclose(d.x[0, 0].numpy(), np.rot90(a) / 255, atol=1e-6)


def test_unreadable_image_messages_agree(tmp_path):
    from aelab.viz import load_image

    folder = tmp_path / "f"
    folder.mkdir()
    good = rng_png(folder / "a.png")
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as from_folder:
        load_dataset(folder, "all")
    with pytest.raises(DataError) as from_file:
        load_image(good)
    assert one_line(from_folder) == one_line(from_file)
    assert one_line(from_file).startswith(f"{good}: not a readable image (")
    with pytest.raises(DataError) as e:
        load_image(tmp_path / "nope.png")
    assert one_line(e) == f"{tmp_path / 'nope.png'}: no such file"
    with pytest.raises(DataError) as e:
        load_image(folder)
    assert one_line(e) == f"{folder}: a folder, not an image file"


def rng_png(path: Path) -> Path:
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(path)
    return path


# ---------------------------------------------------------------- .npy arrays


@pytest.mark.parametrize(
    "shape, nchw",
    [((10, 7), (10, 1, 1, 7)), ((10, 4, 6), (10, 1, 4, 6)), ((10, 3, 4, 6), (10, 3, 4, 6)),
     ((10, 1, 4, 6), (10, 1, 4, 6)), ((10, 4, 6, 3), (10, 3, 4, 6)), ((10, 4, 6, 1), (10, 1, 4, 6))],
)  # fmt: skip
def test_npy_shapes(tmp_path, shape, nchw):
    a = np.random.default_rng(0).random(shape)
    np.save(tmp_path / "a.npy", a)
    d = load_dataset(str(tmp_path / "a.npy"), "all")
    assert d.x.shape == nchw and d.x.dtype == torch.float32 and d.y is None
    expect = a.reshape(nchw) if len(shape) < 4 or shape[1] in (1, 3) else a.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(d.x.numpy(), expect, rtol=1e-6)
    assert (len(load_dataset(str(tmp_path / "a.npy"), "train")), len(load_dataset(tmp_path / "a.npy", "test"))) == (9, 1)


def test_npy_uint8_and_labels(tmp_path):
    a = np.arange(12 * 5 * 5, dtype=np.uint8).reshape(12, 5, 5)
    a[0, 0, 0] = 255
    np.save(tmp_path / "d.npy", a)
    labels = np.arange(12) % 3
    np.save(tmp_path / "d.labels.npy", labels)
    d = load_dataset(str(tmp_path / "d.npy"), "all")
    assert float(d.x.max()) == 1.0 and torch.allclose(d.x[0, 0, 0, 1], torch.tensor(1 / 255))
    assert d.y.dtype == torch.int64 and d.y.tolist() == labels.tolist()
    tr = load_dataset(str(tmp_path / "d.npy"), "train")
    first = np.random.default_rng(0).permutation(12)[:10]  # the documented seed-0 split
    assert len(tr) == 10 and torch.equal(tr.x, d.x[first]) and torch.equal(tr.y, d.y[first])
    np.save(tmp_path / "d.labels.npy", labels[:-1])
    with pytest.raises(DataError, match="11 labels for 12 samples"):
        load_dataset(str(tmp_path / "d.npy"))
    np.save(tmp_path / "d.labels.npy", labels.astype(np.float32))
    with pytest.raises(DataError, match="integer labels"):
        load_dataset(str(tmp_path / "d.npy"))


@pytest.mark.parametrize(
    "array, match",
    [
        (np.array([[0.5, np.nan]] * 3), "NaN or infinite"),
        (np.array([[0.5, np.inf]] * 3, dtype=np.float32), "NaN or infinite"),
        (np.array([[0.0, 1.5]] * 3), r"values range from 0 to 1.5; float64 data must be scaled to \[0, 1\]"),
        (np.array([[-1, 1]] * 3, dtype=np.int64), r"scaled to \[0, 1\]"),
        (np.zeros((0, 4, 4)), "empty array"),
        (np.zeros(5), "shape"),
        (np.zeros((3, 5, 5, 5)), "shape"),
        (np.zeros((3, 2), dtype=np.complex64), "dtype complex64"),
    ],
)
def test_npy_errors(tmp_path, array, match):
    np.save(tmp_path / "e.npy", array)
    with pytest.raises(DataError, match=match) as e:
        load_dataset(str(tmp_path / "e.npy"))
    one_line(e)


def test_npy_object_and_corrupt(tmp_path):
    obj = np.empty(3, dtype=object)
    obj[:] = [1, "a", None]
    np.save(tmp_path / "o.npy", obj, allow_pickle=True)
    with pytest.raises(DataError, match="object"):
        load_dataset(str(tmp_path / "o.npy"))
    (tmp_path / "c.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DataError, match="c.npy") as e:
        load_dataset(str(tmp_path / "c.npy"))
    one_line(e)
    assert load_dataset(str(_save(tmp_path / "b.npy", np.ones((4, 2, 2), bool))), "all").x.sum() == 16


def _save(path: Path, a: np.ndarray) -> Path:
    np.save(path, a)
    return path


# ---------------------------------------------------------------- fetch


class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        type(self).requests.append(self.path)
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    """A loopback HTTP server over tmp_path/www; yields (base URL, folder, request log)."""
    www = tmp_path / "www"
    www.mkdir()
    _Handler.requests = []
    handler = lambda *a, **k: _Handler(*a, directory=str(www), **k)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", www, _Handler.requests
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _checksums(www: Path) -> dict[str, str]:
    """SHA-256 of each served .gz file, as a download is checked."""
    return {s: hashlib.sha256((www / f"{s}.gz").read_bytes()).hexdigest() for s in IDX_NAMES}


def test_fetch_downloads_verifies_and_skips(server, tmp_path):
    url, www, requests = server
    arrays = fake_mnist(www)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "t10k-labels-idx1-ubyte").write_bytes(b"stale")  # an invalid raw copy would shadow the .gz
    out = fetch("mnist", dest=dest, mirrors=["http://127.0.0.1:9/", url + "missing/", url], checksums=_checksums(www))
    assert out == dest
    expected = sorted([f"{s}.gz" for s in IDX_NAMES] + ["t10k-labels-idx1-ubyte.invalid"])
    assert sorted(p.name for p in dest.iterdir()) == expected  # no temporary left; the stale copy moved aside
    assert len([r for r in requests if r.startswith("/missing/")]) == 4  # a 404 moves on to the next mirror
    np.testing.assert_array_equal(read_idx(dest / "t10k-images-idx3-ubyte.gz"), arrays["t10k-images-idx3-ubyte"])
    assert len(load_dataset("mnist", "all", data_dir=dest)) == 9
    n = len(requests)
    fetch("mnist", dest=dest, mirrors=[url], checksums=_checksums(www))
    assert len(requests) == n  # all present and valid: nothing downloaded


def test_fetch_checksum_mismatch_keeps_nothing(server, tmp_path):
    url, www, _ = server
    fake_mnist(www)
    sums = _checksums(www)
    sums["train-labels-idx1-ubyte"] = "0" * 64
    dest = tmp_path / "dest"
    with pytest.raises(DataError) as e:
        fetch("mnist", dest=dest, mirrors=[url], checksums=sums)
    msg = one_line(e)
    assert msg == (f"checksum mismatch for train-labels-idx1-ubyte.gz downloaded from {url}train-labels-idx1-ubyte.gz: "
                   f"its SHA-256 is not {'0' * 64}; the file was not kept")
    names = sorted(p.name for p in dest.iterdir())
    assert names == ["train-images-idx3-ubyte.gz"]  # the verified first file stays; the bad one, no (nor a temporary)


def test_fetch_checks_downloads_against_the_built_in_digests(server, tmp_path):
    url, www, requests = server
    fake_mnist(www)  # not the real files: every download is refused, and nothing is kept
    for name in ("mnist", "fashion-mnist"):
        dest = tmp_path / name
        with pytest.raises(DataError) as e:
            fetch(name, dest=dest, mirrors=[url])
        assert one_line(e).startswith("checksum mismatch for train-images-idx3-ubyte.gz")
        assert list(dest.iterdir()) == []
    assert requests == ["/train-images-idx3-ubyte.gz"] * 2


def test_fetch_stops_a_download_past_the_size_cap(server, tmp_path, monkeypatch):
    url, www, _ = server
    fake_mnist(www)
    monkeypatch.setattr(fetch_module, "MAX_DOWNLOAD_BYTES", 100)  # the fake train images are larger
    dest = tmp_path / "dest"
    with pytest.raises(DataError) as e:
        fetch("mnist", dest=dest, mirrors=[url], checksums=_checksums(www))
    assert "more than 100 bytes, stopped" in one_line(e)
    assert list(dest.iterdir()) == []


def test_fetch_writes_to_the_cache_folder_by_default(server, tmp_path, monkeypatch, capsys):
    url, www, _ = server
    fake_mnist(www)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    out = fetch("mnist", mirrors=[url], checksums=_checksums(www))
    assert out == tmp_path / "home" / ".cache" / "aelab" / "mnist"
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{s}.gz" for s in IDX_NAMES)
    assert capsys.readouterr().err == ""  # pooch's own log lines are kept quiet


def test_data_fetch_command_downloads_and_says_where(server, tmp_path, monkeypatch, capsys):
    from aelab.cli.main import main

    url, www, _ = server
    fake_mnist(www)
    monkeypatch.setitem(fetch_module.MIRRORS, "mnist", [url])
    sums = _checksums(www)
    monkeypatch.setitem(fetch_module.DOWNLOAD_SHA256, "mnist", sums)
    monkeypatch.setitem(fetch_module.CHECKS, "mnist", {s: [fetch_module.Check("gz", "sha256", h)] for s, h in sums.items()})
    dest = tmp_path / "dest"
    assert main(["data", "fetch", "mnist", "--dest", str(dest)]) == 0
    out, err = capsys.readouterr()
    assert out == f"mnist: files are in {dest}\n" and err == ""
    assert sorted(p.name for p in dest.iterdir()) == sorted(f"{s}.gz" for s in IDX_NAMES)
    monkeypatch.setitem(fetch_module.DOWNLOAD_SHA256, "mnist", {s: "0" * 64 for s in IDX_NAMES})
    (dest / "t10k-labels-idx1-ubyte.gz").unlink()  # the three valid files stay; the missing one is refused
    assert main(["data", "fetch", "mnist", "--dest", str(dest)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("aelab: error: checksum mismatch for t10k-labels-idx1-ubyte.gz") and err.count("\n") == 1
    assert len(list(dest.iterdir())) == 3


def test_fetch_no_connection(tmp_path):
    dest = tmp_path / "d"
    t0 = time.perf_counter()
    with pytest.raises(DataError) as e:
        fetch("mnist", dest=dest, mirrors=["http://127.0.0.1:9/", "http://127.0.0.1:9/other/"], timeout=5)
    assert time.perf_counter() - t0 < 5
    msg = one_line(e)
    assert msg.startswith("could not download mnist (no connection?); put train-images-idx3-ubyte.gz, ")
    assert str(dest) in msg and "--data-dir / $AELAB_DATA" in msg
    assert list(dest.iterdir()) == []
    with pytest.raises(DataError, match="needs no download"):
        fetch("digits")
    with pytest.raises(DataError, match="cannot fetch 'cifar'"):
        fetch("cifar")


def test_fetch_default_dest_message(monkeypatch):
    with pytest.raises(DataError, match=r"into ~/.cache/aelab/fashion-mnist \(or a folder"):
        fetch("fashion-mnist", mirrors=["http://127.0.0.1:9/"])


@needs_mnist
def test_fetch_builtin_checksums_accept_shared_mnist():
    # every file is present and matches the hard-coded SHA-256: no network is touched
    assert fetch("mnist", dest=MNIST_DIR, mirrors=["http://127.0.0.1:9/"]) == MNIST_DIR
