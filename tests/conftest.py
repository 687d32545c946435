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


@pytest.fixture(scope="session")
def postgres_dsn(tmp_path_factory):
    """A PostgreSQL server of the tests' own, started in a temporary folder (pgserver's bundled binaries, or the
    system's initdb and pg_ctl); skipped, with the reason, only where neither can start."""
    pytest.importorskip("psycopg", reason="the PostgreSQL tests need psycopg: pip install 'aelab[postgresql]'")
    from aelab.errors import AelabError
    from aelab.index.postgresql import LocalServer

    try:
        server = LocalServer(tmp_path_factory.mktemp("postgresql") / "server")
    except (AelabError, OSError, RuntimeError) as e:
        pytest.skip(f"no PostgreSQL server could start here: {e}")
    yield server.dsn
    server.stop()
