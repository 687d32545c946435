"""Training data read from disk batch by batch (data/stream.py): the same numbers, the same training, exact resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import aelab
from aelab.api.data import fingerprint
from aelab.data import load_dataset
from aelab.data.stream import StreamedImages, is_streamed
from aelab.errors import AelabError, DataError
from aelab.train.callbacks import StopAt


@pytest.fixture
def images(tmp_path):
    """300 random 8x8 images in each layout and type a user might save, with labels."""
    g = np.random.default_rng(0)
    u8 = g.integers(0, 256, size=(300, 8, 8), dtype=np.uint8)
    files = {
        "u8.npy": u8,
        "f32.npy": (u8 / 255.0).astype(np.float32),
        "f64_flat.npy": (u8 / 255.0).reshape(300, 64),
        "rgb_last.npy": g.integers(0, 256, size=(300, 8, 8, 3), dtype=np.uint8),
        "rgb_first.npy": g.integers(0, 256, size=(300, 3, 8, 8), dtype=np.uint8),
    }
    for name, arr in files.items():
        np.save(tmp_path / name, arr)
    np.save(tmp_path / "u8.labels.npy", g.integers(0, 10, size=300))
    return tmp_path


@pytest.mark.parametrize("name", ["u8.npy", "f32.npy", "f64_flat.npy", "rgb_last.npy", "rgb_first.npy"])
def test_streamed_rows_are_the_in_memory_rows_bit_for_bit(images, name):
    path = images / name
    held = load_dataset(str(path), "train")
    streamed = load_dataset(str(path), "train", stream=True)
    assert is_streamed(streamed.x) and not is_streamed(held.x)
    assert streamed.x.shape == held.x.shape and len(streamed) == len(held)
    assert np.array_equal(streamed.index, held.index)
    idx = torch.tensor([5, 3, 3, 250, 0, 1, 2, 269])  # unsorted, repeated, runs of neighbours
    assert torch.equal(streamed.x[idx], held.x[idx])
    assert torch.equal(streamed.x[10:40], held.x[10:40]) and torch.equal(streamed.x[7], held.x[7])
    assert torch.equal(torch.cat(list(streamed.x.chunks())), held.x)
    assert fingerprint(streamed.x) == fingerprint(held.x)
    sub = streamed.x.take(torch.tensor([9, 1, 4]))
    assert torch.equal(sub[:], held.x[[9, 1, 4]])
    # a prefetched batch is the batch asked for; a different one asked for instead is read anew
    streamed.x.prefetch(torch.tensor([8, 2]))
    assert torch.equal(streamed.x[torch.tensor([8, 2])], held.x[[8, 2]])
    streamed.x.prefetch(torch.tensor([8, 2]))
    assert torch.equal(streamed.x[torch.tensor([2, 8])], held.x[[2, 8]])
    # scattered rows, read by several threads at once
    many = torch.randperm(len(held), generator=torch.Generator().manual_seed(0))[:200]
    assert torch.equal(streamed.x[many], held.x[many])
    # the test split is read into memory either way
    assert not is_streamed(load_dataset(str(path), "test", stream=True).x)


def test_training_from_disk_is_training_from_memory_and_resumes_exactly(images, tmp_path):
    path = str(images / "u8.npy")
    spec = dict(preset="tiny", config={"input_shape": (1, 8, 8)},
                train={"epochs": 3, "batch_size": 32, "binarize": True, "checkpoint_every": 5})
    held = aelab.fit("vae", path, out=tmp_path / "held", progress=False, **spec)
    streamed = aelab.fit("vae", path, out=tmp_path / "streamed", data_options={"stream": True}, progress=False,
                         **spec)
    stopped = tmp_path / "stopped"
    aelab.fit("vae", path, out=stopped, data_options={"stream": True}, progress=False,
              callbacks={"model": [StopAt(12)]}, **spec)
    resumed = aelab.fit(out=stopped, resume=True, progress=False)
    ref = held.model.state_dict()
    for run in (streamed, resumed):
        got = run.model.state_dict()
        assert all(torch.equal(ref[k], got[k]) for k in ref)
    assert resumed.spec.data_options["stream"] is True


def test_what_streamed_data_cannot_do_is_refused_in_one_line(images, tmp_path):
    with pytest.raises(DataError, match="--image-size and --grayscale"):
        load_dataset(str(images / "u8.npy"), "train", image_size=4, stream=True)
    with pytest.raises(DataError, match="stream applies to a .npy file or a folder of images"):
        load_dataset("digits", "train", stream=True)
    # a model that looks at its whole training set as it starts (a GMM's k-means initialisation)
    with pytest.raises(AelabError, match="reads its whole training set"):
        aelab.fit("gmm", str(images / "u8.npy"), out=tmp_path / "gmm", data_options={"stream": True}, progress=False)
    with pytest.raises(DataError, match="C-ordered"):
        np.save(images / "fortran.npy", np.asfortranarray(np.zeros((10, 8, 8), dtype=np.uint8)))
        StreamedImages(images / "fortran.npy")


def test_large_data_is_fingerprinted_by_a_sample_of_rows_and_still_told_apart(images, monkeypatch):
    """Past 1 GiB as float32 (here: past 10 KB) the checksum reads 4,096 rows spread over the data, not all of it;
    a recorded fingerprint of either kind is checked as it was made."""
    from aelab.api import data as api_data

    path = str(images / "u8.npy")
    streamed, held = load_dataset(path, "train", stream=True), load_dataset(path, "train")
    full = fingerprint(held.x)
    monkeypatch.setattr(api_data, "SAMPLED_BYTES", 10_000)
    monkeypatch.setattr(api_data, "SAMPLE_ROWS", 16)
    read: list[int] = []
    real_read = StreamedImages._read
    monkeypatch.setattr(StreamedImages, "_read", lambda self, rows: read.append(len(rows)) or real_read(self, rows))
    sampled = fingerprint(streamed.x)
    assert "sample_sha256" in sampled and "sha256" not in sampled and sum(read) == 16
    assert fingerprint(held.x) == sampled
    assert fingerprint(streamed.x, like=full) == full  # a run recorded with the full checksum keeps it
    other = held.x.clone()
    other[0, 0, 0, 0] = 1 - other[0, 0, 0, 0]  # row 0 is always among the sampled rows
    assert fingerprint(other) != sampled


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """60 PNGs in two labelled subfolders (grey and colour 8-bit), the decoded cache in tmp_path."""
    from PIL import Image

    monkeypatch.setenv("AELAB_CACHE", str(tmp_path / "cache"))
    g = np.random.default_rng(1)
    root = tmp_path / "photos"
    for i in range(60):
        sub = root / ("cats" if i % 2 else "dogs")
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(g.integers(0, 256, size=(10, 12, 3), dtype=np.uint8)).save(sub / f"{i:02d}.png")
    return root


def _cached(tmp_path):
    return sorted((tmp_path / "cache" / "image-folders").glob("*.npy"))


def test_a_folder_streams_from_one_decoding_the_in_memory_rows_bit_for_bit(folder, tmp_path):
    for options in ({}, {"image_size": 6, "grayscale": True}):
        held = load_dataset(folder, "train", **options)
        streamed = load_dataset(folder, "train", stream=True, **options)
        assert is_streamed(streamed.x) and not is_streamed(held.x)
        assert torch.equal(torch.cat(list(streamed.x.chunks())), held.x)
        assert torch.equal(streamed.y, held.y) and streamed.classes == held.classes == ["cats", "dogs"]
        assert streamed.files == held.files and np.array_equal(streamed.index, held.index)
        assert not is_streamed(load_dataset(folder, "test", stream=True, **options).x)
    first, second = _cached(tmp_path)  # one decoding per size and channels, each uint8 (8-bit files)
    assert np.load(first, mmap_mode="r").dtype == np.uint8 == np.load(second, mmap_mode="r").dtype
    stamp = first.stat().st_mtime_ns, second.stat().st_mtime_ns
    load_dataset(folder, "train", stream=True)  # unchanged folder: reused
    assert (first.stat().st_mtime_ns, second.stat().st_mtime_ns) == stamp and len(_cached(tmp_path)) == 2
    from PIL import Image

    Image.fromarray(np.zeros((10, 12, 3), dtype=np.uint8)).save(folder / "dogs" / "00.png")  # a changed file
    changed = load_dataset(folder, "train", stream=True)
    assert torch.equal(torch.cat(list(changed.x.chunks())), load_dataset(folder, "train").x)
    # the changed folder's new decoding replaced its old one at that size; the other size's is kept
    now = set(_cached(tmp_path))
    assert len(now) == 2 and len(now & {first, second}) == 1
    assert not list((tmp_path / "cache").rglob("*.partial.npy"))


def test_a_folder_of_16_bit_images_streams_as_float32(tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.setenv("AELAB_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "deep"
    root.mkdir()
    g = np.random.default_rng(2)
    for i in range(12):
        Image.fromarray(g.integers(0, 65536, size=(6, 6)).astype(np.uint16)).save(root / f"{i}.png")
    held = load_dataset(root, "train")
    streamed = load_dataset(root, "train", stream=True)
    assert torch.equal(torch.cat(list(streamed.x.chunks())), held.x)
    (cache,) = _cached(tmp_path)
    assert np.load(cache, mmap_mode="r").dtype == np.float32


def test_training_from_a_streamed_folder_is_training_from_memory(folder, tmp_path):
    spec = dict(preset="tiny", train={"epochs": 2, "batch_size": 16})
    grey8 = {"image_size": 8, "grayscale": True}
    held = aelab.fit("ae", str(folder), out=tmp_path / "held", data_options=grey8, progress=False, **spec)
    streamed = aelab.fit("ae", str(folder), out=tmp_path / "streamed", data_options={**grey8, "stream": True},
                         progress=False, **spec)
    ref, got = held.model.state_dict(), streamed.model.state_dict()
    assert all(torch.equal(ref[k], got[k]) for k in ref) and streamed.spec.data_options["stream"] is True
    with pytest.raises(DataError, match="folder of text documents"):
        (tmp_path / "texts" / "a").mkdir(parents=True)
        (tmp_path / "texts" / "a" / "1.txt").write_text("some words here")
        load_dataset(tmp_path / "texts", "train", stream=True)
