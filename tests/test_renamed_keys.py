"""One size vocabulary: `latent_dim` is every model's code size. Runs and configs written with the old names
(ae's and vqvae's `code_dim`, semhash's `bits`, an RBM's `n_hidden`) still load, with a one-line note.

tests/data/runs-v1 holds runs trained before the rename (`aelab train ae --preset tiny --epochs 1 --pretrain rbm
--pretrain-epochs 1`, semhash the same with `--set activation=sigmoid`, vqvae with its PixelCNN prior), and
outputs-v1.npz what that code computed from them: the codes and reconstructions of six test digits, each RBM's
codes of its own input, and the codes after `--resume --epochs 2`; eval-v1.json its `aelab eval --json`.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import aelab
from aelab.cli import main
from aelab.config import from_dict
from aelab.errors import ConfigError
from aelab.models import build_model, model_class, model_names
from aelab.runs import RunFolder

V1 = Path(__file__).parent / "data" / "runs-v1"
OUTPUTS = np.load(V1 / "outputs-v1.npz")
RENAMED = {"ae": [("ae", "code_dim")], "semhash": [("semhash", "bits")], "vqvae": [("vqvae", "code_dim")]}
STAGES = {"ae": ["rbm1", "rbm2"], "semhash": ["rbm1", "rbm2"], "vqvae": []}


def note(model: str, key: str) -> str:
    return f"aelab: note: {model} config key {key!r} is now 'latent_dim'"


def same(got: np.ndarray, recorded: np.ndarray, rtol: float = 1e-5) -> None:
    """What the old code computed, to float rounding: the fixtures were written on another CPU, whose kernels
    round the last bits differently (AMD EPYC against the Intel Xeon that wrote them: 1e-8 apart); a key read
    under a wrong name would change the numbers entirely."""
    np.testing.assert_allclose(got, recorded, rtol=rtol, atol=rtol * float(np.abs(recorded).max()))


def old_run(tmp_path: Path, name: str) -> Path:
    """A copy of a run trained before the rename (the tests write into it)."""
    return Path(shutil.copytree(V1 / name, tmp_path / name))


def test_the_fixtures_hold_the_old_names():
    for name, pairs in RENAMED.items():
        config = json.loads((V1 / name / "config.json").read_text())
        main_stage = next(s for s in config["stages"] if s["name"] == "model")
        assert all(key in main_stage["model"]["config"] for _, key in pairs)
        assert "latent_dim" not in main_stage["model"]["config"]
    rbm = json.loads((V1 / "ae" / "stages" / "rbm1" / "config.json").read_text())["stages"][0]["model"]["config"]
    assert "n_hidden" in rbm


@pytest.mark.parametrize("name", ["ae", "semhash", "vqvae"])
def test_a_run_saved_before_the_rename_loads_and_computes_what_it_did(tmp_path, capsys, name):
    run = old_run(tmp_path, name)
    model = aelab.load(run)
    err = capsys.readouterr().err
    for model_name, key in RENAMED[name]:
        assert err.count(note(model_name, key)) == 1, err  # once, though the load reads the config several times
    x = torch.from_numpy(OUTPUTS["x"])
    with torch.no_grad():
        same(model.encode(x).numpy(), OUTPUTS[f"{name}_encode"])
        same(model(x).numpy(), OUTPUTS[f"{name}_decode"])
    assert model.config.latent_dim == OUTPUTS[f"{name}_encode"].shape[1]
    h = x.flatten(1)
    for stage in STAGES[name]:  # each pre-training RBM, loaded on its own, as `aelab.load(RUN/stages/NAME)`
        rbm = aelab.load(RunFolder(run).stage(stage).path)
        assert note("rbm", "n_hidden") in capsys.readouterr().err
        with torch.no_grad():
            h = rbm.encode(h)
        same(h.numpy(), OUTPUTS[f"{name}_{stage}_encode"])


@pytest.mark.parametrize("name", ["ae", "semhash", "vqvae"])
def test_aelab_eval_scores_an_old_run_as_before(tmp_path, capsys, name):
    run = old_run(tmp_path, name)
    assert main(["eval", str(run), "--json", "--no-progress"]) == 0
    out = capsys.readouterr()
    for model_name, key in RENAMED[name]:
        assert out.err.count(note(model_name, key)) == 1, out.err
    now = json.loads(out.out)
    before = json.loads((V1 / "eval-v1.json").read_text())[name]
    common = {k for k in before if isinstance(now.get(k), (int, float))}
    assert {"sq_err", "ssim"} <= common
    assert {k: now[k] for k in common} == pytest.approx({k: before[k] for k in common}, rel=1e-6)


@pytest.mark.parametrize("name", ["ae", "semhash", "vqvae"])
def test_an_old_run_resumes_for_more_epochs_as_the_old_code_did(tmp_path, capsys, name):
    run = old_run(tmp_path, name)
    args = ["train", name, "--out", str(run), "--resume", "--epochs", "2", "--no-progress", "--no-report"]
    assert main(args + (["--overwrite"] if name == "vqvae" else [])) == 0  # the prior is trained again after it
    err = capsys.readouterr().err
    for model_name, key in RENAMED[name] + [("rbm", "n_hidden")] * bool(STAGES[name]):
        assert err.count(note(model_name, key)) == 1, err
    model = aelab.load(run)
    assert RunFolder(run).read_spec().train.epochs == 2
    with torch.no_grad():
        codes = model.encode(torch.from_numpy(OUTPUTS["x"])).numpy()
    same(codes, OUTPUTS[f"{name}_extended_encode"], rtol=1e-4)  # an epoch of training carries the rounding along


def test_an_old_key_in_a_config_is_read_under_its_new_name_with_one_note(capsys):
    model = build_model("ae", {"input_shape": [1, 8, 8], "hidden": [4], "code_dim": 3})
    assert model.config.latent_dim == 3
    assert capsys.readouterr().err.strip() == note("ae", "code_dim")
    with pytest.raises(ConfigError, match="'code_dim' is the old name of 'latent_dim'"):
        build_model("ae", {"input_shape": [1, 8, 8], "code_dim": 3, "latent_dim": 3})


def test_every_renamed_key_names_a_field_under_its_new_name_only():
    for name in model_names():
        cls = model_class(name).Config
        fields = set(cls.__dataclass_fields__)
        for old, new in getattr(cls, "RENAMED", {}).items():
            assert new in fields and old not in fields, (name, old, new)
            assert from_dict(cls, {old: getattr(cls(), new)}) == cls()


def test_aelab_train_takes_an_old_key_over_a_preset_and_notes_it_once(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "ae", "--preset", "tiny", "--set", "code_dim=2", "--epochs", "1", "--out", str(out),
                 "--no-progress", "--no-report"]) == 0
    assert capsys.readouterr().err.count(note("ae", "code_dim")) == 1
    assert aelab.load(out).config.latent_dim == 2
    code = main(["train", "ae", "--out", str(out), "--resume", "--set", "code_dim=5", "--no-progress"])
    assert code == 2 and "--set latent_dim=5 (the run has 2)" in capsys.readouterr().err


def test_fit_reads_an_old_key_over_the_presets_new_one(tmp_path):
    run = aelab.fit("semhash", "digits", out=tmp_path / "sh", preset="tiny", config={"bits": 6},
                    train={"epochs": 1}, progress=False)
    assert run.model.config.latent_dim == 6 and run.spec.model_config["latent_dim"] == 6


def test_bits_is_the_hashers_alias_of_latent_dim(tmp_path, capsys):
    out = tmp_path / "sh"
    assert main(["train", "semhash", "--preset", "tiny", "--bits", "6", "--epochs", "1", "--out", str(out),
                 "--no-progress", "--no-report"]) == 0
    assert aelab.load(out).config.latent_dim == 6
    capsys.readouterr()
    assert main(["train", "semhash", "--out", str(out), "--resume", "--bits", "7", "--no-progress"]) == 2
    assert "--set latent_dim=7 (the run has 6)" in capsys.readouterr().err
    assert main(["train", "ae", "--bits", "6", "--out", str(tmp_path / "ae")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("aelab: error: --bits") and "semhash" in err and "\n" not in err
    assert main(["train", "semhash", "--bits", "6", "--set", "latent_dim=8", "--out", str(tmp_path / "x")]) == 2
    assert "give one of them" in capsys.readouterr().err
    assert main(["train", "--from", str(out), "--bits", "6"]) == 2
    assert "--bits" in capsys.readouterr().err
    assert main(["train", "--help"]) == 0
    assert "alias of --set latent_dim=N" in " ".join(capsys.readouterr().out.split())
