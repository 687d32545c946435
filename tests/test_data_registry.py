"""Tests for the dataset registry: a registered source is seen by load_dataset, dataset_names and describe_datasets."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from PIL import Image

from aelab.data import (
    Dataset,
    DatasetSource,
    dataset_names,
    dataset_source,
    describe_datasets,
    load_dataset,
    register_dataset,
    unregister_dataset,
)
from aelab.data.dataset import finish
from aelab.errors import DataError

BUILTIN = ["20newsgroups", "digits", "fashion-mnist", "lines", "mnist"]
ROW_KEYS = {"name", "description", "available", "location", "shape", "train", "test"}


@pytest.fixture(autouse=True)
def isolated(tmp_path_factory, monkeypatch):
    """No test sees the real ~/.cache/aelab or $AELAB_DATA."""
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.delenv("AELAB_DATA", raising=False)


@pytest.fixture
def tiny():
    """A 2x3 grey dataset registered as "tiny-set" (aliases tiny, wee_set) for one test; yields the loader's calls."""
    calls: list[tuple] = []

    def load(split, data_dir, image_size, grayscale) -> Dataset:
        calls.append((split, data_dir, image_size, grayscale))
        n = {"train": 4, "test": 2, "all": 6}[split]
        x = torch.arange(n * 6, dtype=torch.float32).view(n, 1, 2, 3) / (n * 6)
        return finish(x, torch.arange(n) % 2, "whatever the loader calls it", ["a", "b"], split, image_size, grayscale)

    def probe(data_dir):
        return (data_dir is not None, None if data_dir is None else f"{data_dir}/tiny")

    register_dataset(
        "tiny-set",
        description="six 2x3 ramps, for tests",
        loader=load,
        aliases=("tiny", "wee_set"),
        shape=(1, 2, 3),
        train=4,
        test=2,
        probe=probe,
    )
    try:
        yield calls
    finally:
        if "tiny-set" in dataset_names():
            unregister_dataset("tiny-set")


def test_builtin_sources_and_aliases():
    assert dataset_names() == BUILTIN
    for alias in ("fashion", "fashionmnist", "Fashion_MNIST", " FASHION-mnist "):
        assert dataset_source(alias).name == "fashion-mnist"
    assert dataset_source("MNIST").name == "mnist" and dataset_source("Digits").name == "digits"
    # each built-in registers itself in its own module
    assert {n: dataset_source(n).loader.__module__ for n in BUILTIN} == {
        "20newsgroups": "aelab.data.text",
        "digits": "aelab.data.digits",
        "fashion-mnist": "aelab.data.mnist",  # the shared IDX loader, registered from fashion_mnist.py
        "lines": "aelab.data.lines",
        "mnist": "aelab.data.mnist",
    }
    assert dataset_source("fashion").aliases == ("fashion", "fashionmnist")
    assert dataset_source("digits").probe is None  # embedded: always available, no location


def test_registered_dataset_is_loaded_listed_and_described(tiny, tmp_path):
    assert dataset_names() == sorted([*BUILTIN, "tiny-set"])  # aliases are not names
    d = load_dataset("tiny-set", "TEST", data_dir=tmp_path, image_size=4, grayscale=False)
    assert isinstance(d, Dataset) and d.x.shape == (2, 3, 4, 4) and d.classes == ["a", "b"]
    assert d.name == "tiny-set"  # named by the registry, so `aelab train` knows it is a name, not a path
    assert tiny == [("test", tmp_path, (4, 4), False)]  # split and size arrive checked and normalised
    for alias in ("tiny", "TINY", "wee-set", "Wee_Set", "tiny_set"):
        assert len(load_dataset(alias, "all")) == 6
    assert dataset_source("wee_set") is dataset_source("tiny-set")

    rows = {r["name"]: r for r in describe_datasets(tmp_path)}
    assert list(rows) == sorted([*BUILTIN, "tiny-set"]) and set(rows["tiny-set"]) == ROW_KEYS
    assert rows["tiny-set"] == {
        "name": "tiny-set", "description": "six 2x3 ramps, for tests", "available": True,
        "location": f"{tmp_path}/tiny", "shape": (1, 2, 3), "train": 4, "test": 2,
    }  # fmt: skip
    row = next(r for r in describe_datasets() if r["name"] == "tiny-set")
    assert (row["available"], row["location"]) == (False, None)


def test_unknown_names_give_one_line_listing_known(tiny):
    with pytest.raises(DataError) as e:
        load_dataset("nosuchset")
    assert str(e.value) == (
        "unknown dataset 'nosuchset'; known: 20newsgroups, digits, fashion-mnist, lines, mnist, tiny-set, "
        "or a folder of images or text files / a .npy file / a text table (.tsv, .csv, .jsonl)"
    )
    with pytest.raises(DataError) as e:
        dataset_source("nosuchset")
    assert str(e.value) == "unknown dataset 'nosuchset'; known: 20newsgroups, digits, fashion-mnist, lines, mnist, tiny-set"
    with pytest.raises(DataError, match="unknown dataset 'nope'"):
        unregister_dataset("nope")


def test_unregister_removes_name_and_aliases(tiny):
    source = unregister_dataset("tiny")  # by alias
    assert isinstance(source, DatasetSource) and source.name == "tiny-set"
    assert dataset_names() == BUILTIN
    for name in ("tiny-set", "tiny", "wee_set"):
        known = "known: 20newsgroups, digits, fashion-mnist, lines, mnist,"
        with pytest.raises(DataError, match=f"unknown dataset '{name}'; {known}"):
            load_dataset(name)
    assert [r["name"] for r in describe_datasets()] == BUILTIN


def test_registered_name_wins_over_folder_of_that_name(tiny, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny-set").mkdir()
    Image.new("L", (5, 5), 7).save(tmp_path / "tiny-set" / "a.png")
    assert load_dataset("tiny-set", "all").x.shape == (6, 1, 2, 3)
    folder = load_dataset("./tiny-set", "all")  # a path is not a name
    assert folder.x.shape == (1, 1, 5, 5) and folder.name == "./tiny-set"


def test_decorator_form_and_probe_errors(tmp_path):
    @register_dataset("deco-set", description="one black 1x1 image", probe=lambda d: (_ for _ in ()).throw(DataError("x")))
    def load(split, data_dir, image_size, grayscale) -> Dataset:
        return finish(torch.zeros(1, 1, 1, 1), None, "deco-set", None, split, image_size, grayscale)

    try:
        assert callable(load) and load("all", None, None, None).x.shape == (1, 1, 1, 1)  # the function is returned
        assert load_dataset("deco_set").x.shape == (1, 1, 1, 1)
        row = next(r for r in describe_datasets(tmp_path) if r["name"] == "deco-set")
        # a probe that fails means "not available", never a failed listing; unknown shape and sizes are None
        assert row == {"name": "deco-set", "description": "one black 1x1 image", "available": False,
                       "location": None, "shape": None, "train": None, "test": None}  # fmt: skip
    finally:
        unregister_dataset("deco-set")


def _loader(split, data_dir, image_size, grayscale) -> Dataset:
    return finish(torch.zeros(1, 1, 1, 1), None, "x", None, split, image_size, grayscale)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "fashion"}, "'fashion' is already taken by 'fashion-mnist'"),
        ({"name": "other", "aliases": ("MNIST",)}, "'mnist' is already taken by 'mnist'"),
        ({"name": "Bad_Name"}, "lower-case"),
        ({"name": ""}, "lower-case"),
        ({"name": "a/b"}, "'/'"),
        ({"name": "ok", "description": "two\nlines"}, "one-line description"),
        ({"name": "ok", "shape": (1, 0, 3)}, r"shape must be \(C, H, W\)"),
        ({"name": "ok", "shape": (3, 3)}, r"shape must be \(C, H, W\)"),
        ({"name": "ok", "train": -1}, "train must be a non-negative int"),
        ({"name": "ok", "loader": "not callable"}, "callables"),
    ],
)
def test_bad_registrations_are_refused_and_change_nothing(kwargs, match):
    args = {"description": "d", "loader": _loader, **kwargs}
    with pytest.raises(ValueError, match=match):
        register_dataset(args.pop("name"), **args)
    assert dataset_names() == BUILTIN
    assert dataset_source("fashion").name == "fashion-mnist"


def test_reregistering_a_name_replaces_it():
    register_dataset("again", description="first", loader=_loader, aliases=("old-alias",))
    try:
        register_dataset("again", description="second", loader=_loader, aliases=("new-alias",))
        assert dataset_source("again").description == "second" and dataset_source("new-alias").name == "again"
        with pytest.raises(DataError):
            dataset_source("old-alias")
    finally:
        unregister_dataset("again")


def test_a_new_dataset_is_one_module(tmp_path, monkeypatch):
    """A module that only calls the public register_dataset is enough: importing it makes the name work."""
    (tmp_path / "aelab_extra_dataset.py").write_text(
        textwrap.dedent(
            '''
            import torch
            from aelab.data import register_dataset
            from aelab.data.dataset import finish, split_indices

            @register_dataset("checkers", description="8x8 checkerboards", shape=(1, 8, 8), train=9, test=1)
            def load(split, data_dir, image_size, grayscale):
                board = (torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2
                x = board.float().expand(10, 1, 8, 8)[torch.from_numpy(split_indices(10, split))]
                return finish(x, None, "checkers", None, split, image_size, grayscale)
            '''
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        importlib.import_module("aelab_extra_dataset")
        assert "checkers" in dataset_names()
        assert load_dataset("checkers", "train").x.shape == (9, 1, 8, 8)
        row = next(r for r in describe_datasets() if r["name"] == "checkers")
        assert (row["available"], row["shape"], row["train"], row["test"]) == (True, (1, 8, 8), 9, 1)
    finally:
        sys.modules.pop("aelab_extra_dataset", None)
        if "checkers" in dataset_names():
            unregister_dataset("checkers")
    assert dataset_names() == BUILTIN


def test_builtin_rows_unchanged(tmp_path):
    rows = {r["name"]: r for r in describe_datasets(tmp_path / "nowhere")}
    assert rows["digits"] == {
        "name": "digits", "description": "scikit-learn's 8x8 handwritten digits 0-9 (embedded, no download)",
        "available": True, "location": None, "shape": (1, 8, 8), "train": 1500, "test": 297,
    }  # fmt: skip
    for name in ("mnist", "fashion-mnist"):
        assert set(rows[name]) == ROW_KEYS and rows[name]["shape"] == (1, 28, 28)
        assert (rows[name]["train"], rows[name]["test"], rows[name]["available"]) == (60000, 10000, False)
    fake = tmp_path / "base" / "mnist"
    fake.mkdir(parents=True)
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (fake / f"{stem}.gz").write_bytes(b"")  # the probe looks for the files; it does not read images
    rows = {r["name"]: r for r in describe_datasets(tmp_path / "base")}
    assert rows["mnist"]["available"] and Path(rows["mnist"]["location"]) == fake
    assert not rows["fashion-mnist"]["available"]
