"""The bad-input corpus: every wrong invocation gets an exit code and one clear line, never a traceback.

A new model, format or command joins by adding rows to CASES.
"""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from safetensors.torch import save_file

from aelab.cli import main

TINY_AE = ["--set", "hidden=16", "--set", "latent_dim=2", "--epochs", "1", "--no-progress", "--no-report"]
TINY_VAE = ["--set", "hidden=16", "--set", "latent_dim=2", "--epochs", "1", "--no-progress", "--no-report"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Runs and files the bad invocations point at; built once for the whole table."""
    import torch
    from PIL import Image

    torch.set_num_threads(1)
    w = tmp_path_factory.mktemp("world")
    assert main(["train", "ae", "--out", str(w / "ae"), *TINY_AE]) == 0
    assert main(["train", "vae", "--out", str(w / "vae"), *TINY_VAE]) == 0
    (w / "empty").mkdir()
    (w / "notes").mkdir()
    (w / "notes" / "readme.txt").write_text("no images here")
    rng = np.random.default_rng(0)
    (w / "rgb").mkdir()
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(w / "rgb" / f"{i}.png")
    np.save(w / "big.npy", rng.random((20, 1, 12, 12)).astype(np.float32))
    np.save(w / "const.npy", np.full((30, 8, 8), 0.5, dtype=np.float32))
    nan = rng.random((30, 8, 8)).astype(np.float32)
    nan[0, 0, 0] = np.nan
    np.save(w / "nan.npy", nan)
    np.save(w / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    np.save(w / "range.npy", rng.random((30, 8, 8)).astype(np.float32) * 5)
    (w / "garbage.npy").write_bytes(b"\x93NUMPY garbage that is not an array")
    (w / "existing.npy").write_bytes(b"keep me")
    # Damaged copies of the ae run.
    for name in ("corrupt", "misshapen", "missing", "nojson", "noweights"):
        shutil.copytree(w / "ae", w / name)
    data = (w / "corrupt" / "model.safetensors").read_bytes()
    (w / "corrupt" / "model.safetensors").write_bytes(data[: len(data) // 3])
    for name in ("misshapen", "missing"):
        (w / name / "trainer.json").unlink()
    import aelab

    weights = aelab.load(w / "ae").state_dict()
    save_file({k: v for k, v in list(weights.items())[1:]}, str(w / "missing" / "model.safetensors"))
    bad = {k: (torch.zeros(v.shape[0] + 1, *v.shape[1:]) if k.endswith("weight") else v) for k, v in weights.items()}
    save_file(bad, str(w / "misshapen" / "model.safetensors"))
    (w / "nojson" / "config.json").write_text("{not json")
    shutil.copytree(w / "ae", w / "edited")  # config.json edited by hand: it no longer describes the weights
    cfg = json.loads((w / "edited" / "config.json").read_text())
    cfg["stages"][0]["model"]["config"]["activation"] = "tanh"
    (w / "edited" / "config.json").write_text(json.dumps(cfg))
    (w / "adir.png").mkdir()
    (w / "noweights" / "model.safetensors").unlink()
    return w


# (arguments with {w} for the world folder, exit code, text the one line must contain)
CASES = [
    (["train", "vea"], 1, "unknown model 'vea'"),
    (["train", "ae", "--data", "nosuchdata"], 1, "unknown dataset 'nosuchdata'"),
    (["train", "ae", "--data", "mnist", "--data-dir", "{w}/empty"], 1, "aelab data fetch mnist"),
    (["train", "ae", "--epochs", "0"], 2, "positive integer"),
    (["train", "ae", "--epochs", "many"], 2, "positive integer"),
    (["train", "ae", "--batch-size=-5"], 2, "positive integer"),
    (["train", "ae", "--lr", "nan"], 2, "positive number"),
    (["train", "ae", "--lr=-1e-3"], 2, "positive number"),
    (["train", "ae", "--optimizer", "lbfgs"], 2, "invalid choice"),
    (["train", "ae", "--set", "latent_dim=-1"], 1, "positive"),
    (["train", "ae", "--set", "size=3"], 1, "unknown key"),
    (["train", "ae", "--set", "latent_dim"], 1, "KEY=VALUE"),
    (["train", "ae", "--set", "latent_dim=two"], 1, "expected an integer"),
    (["train", "ae", "--set", "activation=swish", "--out", "{w}/x1"], 1, "unknown activation"),
    (["train", "ae", "--preset", "hinton2006"], 1, "shape"),
    (["train", "ae", "--preset", "nope"], 1, "unknown preset"),
    (["train", "ae", "--pretrain", "rbm", "--set", "activation=elu", "--out", "{w}/x2"], 1, "sigmoid"),
    (["train", "vae", "--pretrain", "rbm", "--out", "{w}/x3"], 1, "pretrain 'rbm' does not apply to model 'vae' (it applies to ae, semhash)"),
    (["train", "vae", "--set", "arch=conv", "--set", "channels=8,8,8,8"], 1, "divisible by 16"),
    (["train", "vae", "--set", "likelihood=poisson"], 1, "unknown likelihood"),
    (["train", "ae", "--resume", "--out", "{w}/missing-run"], 1, "does not exist"),
    (["train", "ae", "--out", "{w}/ae"], 1, "already exists"),
    (["train", "vae", "--out", "{w}/ae", "--resume"], 1, "holds a 'ae' run"),
    (["train", "ae", "--out", "{w}/ae", "--resume", "--no-progress"], 1, "already finished"),
    (["train", "ae", "--out", "{w}/ae", "--resume", "--binarize"], 2, "--binarize True (the run has False) cannot change"),
    (["train", "ae", "--out", "{w}/ae", "--resume", "--epochs", "2", "--lr", "5", "--set", "latent_dim=9", "--seed", "42"],
     2, "--lr 5.0 (the run has 0.003); --seed 42 (the run has 0); --set latent_dim=9 (the run has 2) cannot change now"),
    (["train", "ae", "--out", "{w}/ae", "--resume", "--data", "{w}/big.npy"], 1, "is not the data this run trained on"),
    (["train", "ae", "--out", "{w}/ae", "--resume", "--overwrite"], 2, "give one of them"),
    (["train", "ae", "--out", "{w}/ae", "--resume", "--epochs", "3", "--more-epochs", "1"], 2, "not both"),
    (["train", "ae", "--out", "{w}/edited", "--resume", "--epochs", "3"], 1, "contradicts its checkpoint (activation"),
    (["eval", "{w}/edited"], 1, "contradicts its checkpoint (activation"),
    (["train", "ae", "--out", ""], 2, "empty string"),
    (["train", "ae", "--set", "hidden=1000000000000", "--out", "{w}/huge"], 1, "out of memory ("),
    (["train", "ae", "--seed=-1"], 2, "from 0 to 4294967295"),
    (["train", "ae", "--seed", "123456789012345678901234"], 2, "from 0 to 4294967295"),
    (["sample", "{w}/vae", "--seed=-3", "-o", "{w}/s.png"], 2, "from 0 to 4294967295"),
    (["sample", "{w}/vae", "-o", "{w}/adir.png"], 1, "is a folder"),
    (["sample", "{w}/vae", "-o", "{w}/no/such/s.png"], 1, "does not exist"),
    (["reconstruct", "{w}/ae", "-o", ""], 2, "empty string"),
    (["train", "ae", "--out", "{w}/notes", "--overwrite"], 1, "not a run folder"),
    (["train", "ae", "--pretrain", "dbn", "--out", "{w}/x4"], 1, "unknown pretrain plan 'dbn'; 'ae' has: rbm"),
    (["train", "--from", "{w}/ae", "--prior", "gmm", "--epochs", "5"], 2, "--epochs do(es) not apply"),
    (["train", "--from", "{w}/ae", "--stage", "critic"], 1, "no stage 'critic'"),
    (["train", "--from", "{w}/ae"], 1, "nothing to do"),
    (["train", "--from", "{w}/missing-run", "--prior", "gmm"], 1, "does not exist"),
    (["train", "--stage", "prior"], 2, "--stage names a stage of an existing run"),
    (["train", "ae", "--data", "{w}/const.npy", "--out", "{w}/x4"], 1, "constant"),
    (["train", "ae", "--data", "{w}/nan.npy", "--out", "{w}/x5"], 1, "NaN"),
    (["train", "ae", "--data", "{w}/range.npy", "--out", "{w}/x6"], 1, "[0, 1]"),
    (["train", "ae", "--data", "{w}/objects.npy", "--out", "{w}/x7"], 1, "pickled"),
    (["train", "ae", "--data", "{w}/garbage.npy", "--out", "{w}/x8"], 1, "not a valid .npy"),
    (["train", "ae", "--data", "{w}/empty", "--out", "{w}/x9"], 1, "no images"),
    (["train", "ae", "--data", "{w}/notes", "--out", "{w}/x10"], 1, "no document is left"),  # a .txt folder is text
    (["eval", "{w}/missing-run"], 1, "does not exist"),
    (["eval", "{w}/empty"], 1, "config.json is missing"),
    (["eval", "{w}/nojson"], 1, "not valid JSON"),
    (["eval", "{w}/noweights"], 1, "model.safetensors"),
    (["eval", "{w}/corrupt"], 1, "checksum"),
    (["eval", "{w}/misshapen"], 1, "has shape"),
    (["eval", "{w}/missing"], 1, "missing"),
    (["eval", "{w}/ae", "--data", "{w}/big.npy"], 1, "does not fit model"),
    (["eval", "{w}/ae", "--data", "{w}/rgb"], 1, "does not fit model"),
    (["eval", "{w}/ae", "--split", "valid"], 2, "invalid choice"),
    (["eval", "{w}/vae", "--iw-samples=-1"], 2, "integer >= 0"),
    (["encode", "{w}/ae", "-o", "{w}/codes.txt"], 1, ".npy"),
    (["encode", "{w}/ae", "-o", "{w}/existing.npy"], 1, "already exists"),
    (["encode", "{w}/ae", "-o", "{w}/no/such/folder/c.npy"], 1, "does not exist"),
    (["reconstruct", "{w}/ae", "-o", "{w}/r.jpg"], 1, ".png or .npy"),
    (["sample", "{w}/ae", "-o", "{w}/s.png"], 1, "no prior to sample from"),
    (["sample", "{w}/vae", "-n", "0", "-o", "{w}/s.png"], 2, "positive integer"),
    (["sample", "{w}/vae", "-o", "{w}/existing.npy"], 1, "already exists"),
    (["interpolate", "{w}/vae", "--from", "0", "--to", "99999", "-o", "{w}/i.png"], 1, "out of range"),
    (["interpolate", "{w}/vae", "--from", "0", "--to", "1", "--steps", "1", "-o", "{w}/i.png"], 1, "at least 2"),
    (["interpolate", "{w}/vae", "--from=-1", "--to", "1", "-o", "{w}/i.png"], 2, "integer >= 0"),
    (["report", "{w}/missing-run"], 1, "does not exist"),
    (["data", "fetch", "imagenet"], 1, "cannot fetch"),
    (["train"], 2, "model"),
    (["frobnicate"], 2, "invalid choice"),
]


@pytest.mark.parametrize("argv, code, message", CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_bad_invocation(world, capsys, monkeypatch, argv, code, message):
    monkeypatch.chdir(world)  # default run folders (runs/MODEL-DATA) land in the world, not the repository
    got = main([a.replace("{w}", str(world)) for a in argv])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert got == code, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert message in lines[0], lines[0]


def test_corpus_is_large_enough():
    assert len(CASES) >= 30


def test_nothing_a_user_saved_was_touched(world, capsys):
    assert not (world / "runs").exists()  # failed starts leave no half-made run folders behind
    assert (world / "existing.npy").read_bytes() == b"keep me"
    assert (world / "notes" / "readme.txt").exists()
    assert json.loads((world / "ae" / "trainer.json").read_text())["finished"]


def test_console_script_errors_are_one_line(world):
    proc = subprocess.run([sys.executable, "-m", "aelab", "eval", str(world / "corrupt")], capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
