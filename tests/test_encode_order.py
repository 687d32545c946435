"""`aelab encode` keeps the user's order: every row of --data in file order, with what each row is beside the codes.

Also Dataset.index / Dataset.files, which say where each row of any split came from.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import aelab
from aelab.cli.main import main
from aelab.data import load_dataset, write_idx

N = 2000


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def npy_run(tmp_path_factory):
    """A tiny ae trained one epoch on 2,000 labelled 8x8 rows of a .npy file; (folder, run, images, labels)."""
    folder = tmp_path_factory.mktemp("npy")
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (N, 8, 8), dtype=np.uint8)
    labels = rng.integers(0, 5, N).astype(np.int64)
    np.save(folder / "items.npy", images)
    np.save(folder / "items.labels.npy", labels)
    out = folder / "run"
    code = main(["train", "ae", "--preset", "tiny", "--epochs", "1", "--data", str(folder / "items.npy"),
                 "--out", str(out), "--no-progress", "--no-report"])
    assert code == 0
    return folder, out, images, labels


def expected_codes(run_dir: Path, images: np.ndarray) -> np.ndarray:
    """The codes of the given uint8 rows, in that order, straight from the model."""
    model = aelab.load(run_dir)
    model.eval()
    with torch.no_grad():
        x = torch.from_numpy(images[:, None].astype(np.float32) / np.float32(255.0))
        return model.encode(x).flatten(1).numpy()


def test_encode_with_data_writes_every_row_in_file_order(npy_run, tmp_path, capsys):
    folder, run_dir, images, labels = npy_run
    code, out, err = run(capsys, "encode", run_dir, "--data", folder / "items.npy", "-o", tmp_path / "codes.npz",
                         "--no-progress")
    assert code == 0, err
    assert out.strip().count("\n") == 0 and "2000 codes of dimension" in out and "all split" in out
    z = np.load(tmp_path / "codes.npz", allow_pickle=False)
    assert sorted(z.files) == ["codes", "index", "labels"]
    assert z["codes"].shape[0] == N and z["index"].dtype == np.int64 and z["labels"].dtype == np.int64
    np.testing.assert_array_equal(z["index"], np.arange(N))
    np.testing.assert_array_equal(z["labels"], labels)  # joined back to the source rows by position
    np.testing.assert_allclose(z["codes"], expected_codes(run_dir, images), rtol=1e-5, atol=1e-6)


def test_a_split_is_written_in_source_order_and_joins_back(npy_run, tmp_path, capsys):
    folder, run_dir, images, labels = npy_run
    code, out, err = run(capsys, "encode", run_dir, "-o", tmp_path / "test.npz", "--no-progress")  # the run's own data
    assert code == 0, err
    assert "200 codes" in out and "test split" in out
    z = np.load(tmp_path / "test.npz", allow_pickle=False)
    held_out = np.random.default_rng(0).permutation(N)[N * 9 // 10:]  # the documented 90/10 split, unchanged
    np.testing.assert_array_equal(z["index"], np.sort(held_out))
    np.testing.assert_array_equal(z["labels"], labels[z["index"]])
    np.testing.assert_allclose(z["codes"], expected_codes(run_dir, images[z["index"]]), rtol=1e-5, atol=1e-6)

    code, _, err = run(capsys, "encode", run_dir, "--data", folder / "items.npy", "--split", "train",
                       "-o", tmp_path / "train.npz", "--no-progress")
    assert code == 0, err
    tr = np.load(tmp_path / "train.npz", allow_pickle=False)
    assert len(tr["index"]) == 1800 and np.all(np.diff(tr["index"]) > 0)
    assert set(tr["index"].tolist()).isdisjoint(z["index"].tolist())


def test_npy_output_has_a_csv_sidecar_and_neither_is_overwritten(npy_run, tmp_path, capsys):
    folder, run_dir, images, labels = npy_run
    out = tmp_path / "codes.npy"
    code, stdout, err = run(capsys, "encode", run_dir, "--data", folder / "items.npy", "-o", out, "--no-progress")
    assert code == 0, err
    assert "codes.index.csv" in stdout
    codes = np.load(out, allow_pickle=False)
    with open(tmp_path / "codes.index.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["index", "label"] and len(rows) == N + 1
    assert [int(r[0]) for r in rows[1:]] == list(range(N)) and [int(r[1]) for r in rows[1:]] == labels.tolist()
    np.testing.assert_allclose(codes, expected_codes(run_dir, images), rtol=1e-5, atol=1e-6)

    # a sidecar of the user's own is not replaced silently, and nothing is written then
    other = tmp_path / "again.npy"
    (tmp_path / "again.index.csv").write_text("mine\n")
    code, _, err = run(capsys, "encode", run_dir, "-o", other, "--no-progress")
    assert code == 1 and "again.index.csv already exists" in err and "--overwrite" in err
    assert err.strip().count("\n") == 0
    assert not other.exists() and (tmp_path / "again.index.csv").read_text() == "mine\n"
    code, _, err = run(capsys, "encode", run_dir, "-o", other, "--no-progress", "--overwrite")
    assert code == 0, err
    assert (tmp_path / "again.index.csv").read_text().startswith("index,label\n")


def test_bad_output_suffix_is_one_line(npy_run, tmp_path, capsys):
    _, run_dir, _, _ = npy_run
    code, _, err = run(capsys, "encode", run_dir, "-o", tmp_path / "codes.csv")
    assert code == 1 and err.strip().count("\n") == 0 and ".npz" in err and ".npy" in err


def test_folder_codes_carry_file_names(tmp_path, capsys):
    rng = np.random.default_rng(1)
    root = tmp_path / "imgs"
    names = []
    for cls in ("b_cls", "a_cls"):
        (root / cls).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(root / cls / f"img,{i:02d}.png")
            names.append(f"{cls}/img,{i:02d}.png")
    code, _, err = run(capsys, "train", "ae", "--preset", "tiny", "--epochs", "1", "--data", root,
                       "--out", tmp_path / "run", "--no-progress", "--no-report")
    assert code == 0, err
    code, _, err = run(capsys, "encode", tmp_path / "run", "-o", tmp_path / "c.npz", "--no-progress")
    assert code == 0, err
    z = np.load(tmp_path / "c.npz", allow_pickle=False)
    assert z["files"].dtype.kind == "U"  # fixed-width unicode: np.load needs no pickle
    ordered = sorted(names)
    held_out = np.sort(np.random.default_rng(0).permutation(20)[18:])
    np.testing.assert_array_equal(z["index"], held_out)
    assert z["files"].tolist() == [ordered[i] for i in held_out]
    assert z["labels"].tolist() == [0 if ordered[i].startswith("a_cls") else 1 for i in held_out]
    assert z["classes"].tolist() == ["a_cls", "b_cls"]

    code, _, err = run(capsys, "encode", tmp_path / "run", "--data", root, "-o", tmp_path / "c.npy", "--no-progress")
    assert code == 0, err
    with open(tmp_path / "c.index.csv", newline="") as f:
        rows = list(csv.reader(f))  # a comma in a file name is quoted, not a new column
    assert rows[0] == ["index", "file", "label"] and [r[1] for r in rows[1:]] == ordered


def test_dataset_index_names_the_source_row_in_every_loader(tmp_path):
    al = load_dataset("digits", "all")
    np.testing.assert_array_equal(al.index, np.arange(1797))
    for split in ("train", "test"):
        d = load_dataset("digits", split)
        assert d.index.dtype == np.int64 and d.files is None
        assert torch.equal(d.x, al.x[torch.from_numpy(d.index)]) and torch.equal(d.y, al.y[torch.from_numpy(d.index)])
    assert sorted(load_dataset("digits", "train").index.tolist() + load_dataset("digits", "test").index.tolist()) \
        == list(range(1797))

    a = np.random.default_rng(0).random((30, 4, 4))
    np.save(tmp_path / "a.npy", a)
    te = load_dataset(tmp_path / "a.npy", "test")
    np.testing.assert_allclose(te.x[:, 0].numpy(), a[te.index].astype(np.float32))

    folder = tmp_path / "base" / "mnist"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for stem, n in (("train", 5), ("t10k", 3)):
        write_idx(folder / f"{stem}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{stem}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
    for split, index in (("train", [0, 1, 2, 3, 4]), ("test", [60000, 60001, 60002]),
                         ("all", [0, 1, 2, 3, 4, 60000, 60001, 60002])):
        assert load_dataset("mnist", split, data_dir=tmp_path / "base").index.tolist() == index
