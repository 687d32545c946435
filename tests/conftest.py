from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)  # tests must give the same numbers on any machine with any core count

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def mnist_dir() -> Path:
    if not (SHARED_DATA / "mnist").is_dir():
        pytest.skip(f"MNIST not found at {SHARED_DATA / 'mnist'}")
    return SHARED_DATA


@pytest.fixture
def digits():
    from aelab.data import load_dataset

    return load_dataset("digits", "train"), load_dataset("digits", "test")


@pytest.fixture(autouse=True)
def _no_user_data(monkeypatch, tmp_path):
    monkeypatch.delenv("AELAB_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
