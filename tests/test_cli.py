import json
import subprocess
import sys

import numpy as np
import pytest

from aelab.cli import main

TINY = ["--set", "hidden=32,16", "--set", "latent_dim=3", "--epochs", "2", "--no-progress"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str, pattern: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert pattern in lines[0], lines[0]


@pytest.fixture
def trained(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, err = run(capsys, "train", "ae", "--out", out, *TINY)
    assert code == 0, err
    return out


def test_train_eval_encode_reconstruct(trained, tmp_path, capsys):
    assert {"config.json", "model.safetensors", "trainer.json", "metrics.jsonl", "report.html"} <= {
        p.name for p in trained.iterdir()}
    code, out, _ = run(capsys, "eval", trained, "--json")
    assert code == 0 and json.loads(out)["sq_err"] > 0
    code, out, _ = run(capsys, "encode", trained, "-o", tmp_path / "codes.npy")
    assert code == 0
    codes = np.load(tmp_path / "codes.npy", allow_pickle=False)
    assert codes.shape == (297, 3)
    code, _, _ = run(capsys, "reconstruct", trained, "-o", tmp_path / "r.png", "-n", "8")
    assert code == 0 and (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
    code, _, _ = run(capsys, "reconstruct", trained, "-o", tmp_path / "r.npy")
    assert np.load(tmp_path / "r.npy").shape == (297, 1, 8, 8)


def test_existing_run_and_outputs_are_not_overwritten(trained, tmp_path, capsys):
    before = (trained / "model.safetensors").read_bytes()
    code, _, err = run(capsys, "train", "ae", "--out", trained, *TINY)
    assert code == 1
    one_line_error(err, "already exists")
    assert (trained / "model.safetensors").read_bytes() == before
    (tmp_path / "codes.npy").write_bytes(b"mine")
    code, _, err = run(capsys, "encode", trained, "-o", tmp_path / "codes.npy")
    assert code == 1 and (tmp_path / "codes.npy").read_bytes() == b"mine"
    one_line_error(err, "--overwrite")


def test_resume_of_finished_run(trained, capsys):
    code, _, err = run(capsys, "train", "ae", "--out", trained, "--resume", "--no-progress")
    assert code == 1
    one_line_error(err, "already finished")
    code, _, err = run(capsys, "train", "--out", trained, "--resume", "--no-progress")  # the run names its model
    assert code == 1
    one_line_error(err, "already finished")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "vea"], "unknown model 'vea'"),
        (["train", "ae", "--data", "nosuchdata"], "unknown dataset 'nosuchdata'"),
        (["train", "ae", "--data", "mnist", "--data-dir", "{tmp}/empty"], "aelab data fetch"),
        (["train", "ae", "--epochs", "0"], "positive integer"),
        (["train", "ae", "--lr", "nan"], "positive number"),
        (["train", "ae", "--set", "latent_dim=-1"], "positive"),
        (["train", "ae", "--set", "size=3"], "unknown key"),
        (["train", "ae", "--preset", "hinton2006"], "shape"),
        (["train", "ae", "--preset", "nope"], "unknown preset"),
        (["train", "ae", "--pretrain", "rbm", "--set", "activation=elu", "--out", "{tmp}/x"], "sigmoid"),
        (["train", "ae", "--resume", "--out", "{tmp}/missing"], "does not exist"),
        (["eval", "{tmp}/missing"], "does not exist"),
        (["eval", "{tmp}"], "config.json is missing"),
        (["encode", "{tmp}", "-o", "{tmp}/c.txt"], ".npy"),
        (["data", "fetch", "imagenet"], "cannot fetch"),
    ],
)
def test_user_errors_are_one_line(argv, message, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, *[a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert code != 0
    one_line_error(err, message)


def test_usage_errors_are_one_line(capsys):
    assert main(["train"]) == 2
    one_line_error(capsys.readouterr().err, "model")


def test_data_of_wrong_shape_for_a_run(trained, tmp_path, capsys):
    np.save(tmp_path / "big.npy", np.random.rand(20, 1, 12, 12).astype(np.float32))
    code, _, err = run(capsys, "eval", trained, "--data", tmp_path / "big.npy")
    assert code == 1
    one_line_error(err, "does not fit model")


def test_constant_and_nan_data_refused(tmp_path, capsys):
    np.save(tmp_path / "const.npy", np.full((30, 8, 8), 0.5, dtype=np.float32))
    code, _, err = run(capsys, "train", "ae", "--data", tmp_path / "const.npy", "--out", tmp_path / "r")
    one_line_error(err, "constant")
    bad = np.random.rand(30, 8, 8).astype(np.float32)
    bad[0, 0, 0] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    code, _, err = run(capsys, "train", "ae", "--data", tmp_path / "nan.npy", "--out", tmp_path / "r")
    assert code == 1 and "NaN" in err


def test_models_and_data_list(capsys):
    code, out, _ = run(capsys, "models")
    assert code == 0 and "ae" in out and "rbm" in out and "hinton2006" in out
    code, out, _ = run(capsys, "data", "list")
    assert code == 0 and "digits" in out and "embedded" in out and "mnist" in out


def test_console_entry_point_has_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "aelab", "eval", str(tmp_path / "nope")],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr


def test_train_on_a_folder_of_the_users_images(tmp_path, capsys):
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("cats", "dogs"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(rng.integers(0, 255, (10, 12, 3), dtype=np.uint8)).save(tmp_path / "imgs" / cls / f"{i}.png")
    code, out, err = run(capsys, "train", "ae", "--data", tmp_path / "imgs", "--out", tmp_path / "r", *TINY)
    assert code == 0, err
    model = __import__("aelab").load(tmp_path / "r")
    assert model.input_shape == (3, 10, 12)
    code, out, _ = run(capsys, "encode", tmp_path / "r", "-o", tmp_path / "c.npy", "--split", "all")
    assert code == 0 and np.load(tmp_path / "c.npy").shape == (24, 3)
