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
    with pytest.raises(DataError, match="stream applies to a .npy file"):
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
