"""No lost work: kill -9 at random points and resume; damaged checkpoints fall back to the previous one."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import aelab
from aelab.errors import CheckpointError
from aelab.recipes.train import TrainConfig
from aelab.runs.folder import PREVIOUS
from aelab.train.callbacks import StopAt
from aelab.train.plan import plan_run

TRAIN = ["train", "ae", "--set", "hidden=48,24", "--set", "latent_dim=3", "--epochs", "12", "--batch-size", "20",
         "--checkpoint-every", "7", "--no-progress", "--no-report"]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "aelab", *args]


KILLPOINTS = Path(__file__).with_name("killpoints.py")


def _killed_cli(point: str, *args: str) -> list[str]:
    """The CLI, SIGKILLed right after the checkpoint write `point` names (FOLDER/FILE@STEP, see killpoints.py)."""
    return [sys.executable, str(KILLPOINTS), point, *args]


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _step(run) -> int:
    try:
        return json.loads((run / "trainer.json").read_text())["step"]
    except (OSError, ValueError, KeyError):
        return -1


def _weights(run) -> dict:
    return aelab.load(run).state_dict()


STAGED = ["train", "ae", "--set", "hidden=48,24", "--set", "latent_dim=3", "--epochs", "3", "--batch-size", "50",
          "--pretrain", "rbm", "--pretrain-epochs", "2", "--pretrain-batch-size", "20", "--prior", "gmm",
          "--prior-epochs", "8", "--prior-batch-size", "100", "--no-progress", "--no-report"]


def _stage_step(run, stage) -> int:
    return _step(run / "stages" / stage)


# Where each kill lands (FOLDER/FILE@STEP: SIGKILL right after that file of that checkpoint is written).
# digits has 1,500 training rows: rbm stages take 75 steps an epoch (batch 20), the model 30 (batch 50), the prior 15.
KILLS = [
    ("rbm1/model.safetensors@75", "no committed checkpoint"),  # inside the run's very first checkpoint
    ("rbm2/previous/model.safetensors@150", "resuming at step 75"),  # rotating a pre-training stage's checkpoint
    ("run/trainer.safetensors@30", "no committed checkpoint"),  # inside the model's first checkpoint
    ("run/model.safetensors@60", "incomplete; using the one before it"),  # inside a later checkpoint
    ("prior/trainer.json@15", "resuming at step 15"),  # after the commit point: that checkpoint counts
]


def test_sigkill_inside_any_checkpoint_of_any_stage_then_resume_is_bit_identical(tmp_path):
    ref, run = tmp_path / "ref", tmp_path / "run"
    done = subprocess.run(_cli(*STAGED, "--out", str(ref)), env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    said = ""
    for i, (point, _) in enumerate(KILLS):
        args = STAGED + ["--out", str(run)] + (["--resume"] if i else [])
        killed = subprocess.run(_killed_cli(point, *args), env=_env(), capture_output=True, text=True, timeout=300)
        assert killed.returncode == -signal.SIGKILL, f"no kill at {point}: {killed.stderr[-500:]}"
        said += killed.stdout + killed.stderr
    final = subprocess.run(_cli(*STAGED, "--out", str(run), "--resume"), env=_env(), capture_output=True, text=True,
                           timeout=300)
    assert final.returncode == 0, final.stderr
    said += final.stdout + final.stderr
    for point, message in KILLS:  # each resume said in one line where it starts
        assert message in said, (point, message, said)
    a, b = _weights(ref), _weights(run)  # the composed model: the autoencoder and its prior
    assert any(k.startswith("prior.") for k in a) and all(torch.equal(a[k], b[k]) for k in a)
    for stage in ("stages/rbm1", "stages/rbm2", "stages/rbm3", ".", "stages/prior"):  # the same log, the clock aside
        got, want = (_records(folder / stage) for folder in (run, ref))
        assert got == want, stage  # the train averages included, across every resume
        times = [json.loads(line)["time"] for line in (run / stage / "metrics.jsonl").read_text().splitlines()]
        assert times == sorted(times), stage  # the clock continues where the last checkpoint left it
    assert not any(p.name.endswith(".tmp") for p in run.rglob("*"))


def _records(folder) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "time"}
            for line in (folder / "metrics.jsonl").read_text().splitlines()]


def test_sigkill_at_five_random_points_then_resume_is_bit_identical(tmp_path):
    ref, run = tmp_path / "ref", tmp_path / "run"
    done = subprocess.run(_cli(*TRAIN, "--out", str(ref)), env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    total = json.loads((ref / "trainer.json").read_text())["total_steps"]
    rng = random.Random(1234)
    targets = sorted(rng.sample(range(8, total - 8), 5))
    kills = 0
    for i, target in enumerate(targets):
        args = TRAIN + ["--out", str(run)] + (["--resume"] if i else [])
        proc = subprocess.Popen(_cli(*args), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 120
        while proc.poll() is None and _step(run) < target and time.time() < deadline:
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.05))  # land anywhere: mid-batch, mid-checkpoint write, ...
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=30)
    assert kills >= 4, "the run finished before it could be killed; make it longer"
    final = subprocess.run(_cli(*TRAIN, "--out", str(run), "--resume"), env=_env(), capture_output=True, text=True,
                           timeout=300)
    assert final.returncode == 0, final.stderr
    a, b = _weights(ref), _weights(run)
    assert all(torch.equal(a[k], b[k]) for k in a)
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    ref_steps = [json.loads(line)["step"] for line in (ref / "metrics.jsonl").read_text().splitlines()]
    assert steps == ref_steps  # no duplicated or missing log lines across the kills


def _spec(**train):
    return plan_run("ae", {"input_shape": [1, 8, 8], "hidden": [16], "latent_dim": 3}, "digits",
                   train=TrainConfig(epochs=3, batch_size=100, checkpoint_every=4, **train))


@pytest.mark.parametrize("damage", ["truncate-model", "garble-trainer", "delete-model", "bad-json"])
def test_damaged_latest_checkpoint_resumes_from_the_previous(tmp_path, digits, capsys, damage):
    train, _ = digits
    full = aelab.fit(_spec(), train.x, out=tmp_path / "full", progress=False).model
    run = tmp_path / "run"
    aelab.fit(_spec(), train.x, out=run, progress=False, callbacks={"model": [StopAt(9)]})
    assert _step(run) == 8 and json.loads((run / PREVIOUS / "trainer.json").read_text())["step"] == 4
    if damage == "truncate-model":
        data = (run / "model.safetensors").read_bytes()
        (run / "model.safetensors").write_bytes(data[: len(data) // 2])
    elif damage == "garble-trainer":
        data = bytearray((run / "trainer.safetensors").read_bytes())
        data[-10:] = bytes(b ^ 0xFF for b in data[-10:])
        (run / "trainer.safetensors").write_bytes(bytes(data))
    elif damage == "delete-model":
        (run / "model.safetensors").unlink()
    else:
        (run / "trainer.json").write_text("{half")
    resumed = aelab.fit(_spec(), train.x, out=run, progress=False, resume=True).model
    err = capsys.readouterr().err
    assert "resuming from the previous checkpoint (step 4)" in err and len(err.strip().splitlines()) == 1
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k])


def test_both_checkpoints_damaged_is_one_clear_error(tmp_path, digits):
    train, _ = digits
    run = tmp_path / "run"
    aelab.fit(_spec(), train.x, out=run, progress=False, callbacks={"model": [StopAt(9)]})
    for folder in (run, run / PREVIOUS):
        data = (folder / "model.safetensors").read_bytes()
        (folder / "model.safetensors").write_bytes(data[:100])
    with pytest.raises(CheckpointError, match="checksum"):
        aelab.fit(_spec(), train.x, out=run, progress=False, resume=True)


def test_pickle_planted_as_a_checkpoint_is_refused_without_running(tmp_path, digits, capsys):
    """A .pt/pickle file that would run code when unpickled sits where the weights belong."""
    import pickle

    train, test = digits
    run = tmp_path / "run"
    aelab.fit(_spec(), train.x, out=run, test=test.x, progress=False)
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    payload = pickle.dumps({"state_dict": Exploit()})
    for folder in (run, run / PREVIOUS):  # no good checkpoint left anywhere
        (folder / "trainer.json").unlink()  # and no checksum to hide behind: the files themselves must be refused
        for name in ("model.safetensors", "trainer.safetensors"):
            (folder / name).write_bytes(payload)
    torch.save({"w": torch.zeros(1)}, run / "model.pt")  # a stray torch checkpoint is simply never read
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        aelab.load(run)
    from aelab.cli import main

    assert main(["eval", str(run)]) == 1
    assert not marker.exists()
    # an uncommitted file is never loaded and never blocks: resume starts again from step 0 and says so
    capsys.readouterr()
    assert main(["train", "ae", "--out", str(run), "--resume", "--no-progress", "--no-report"]) == 0
    assert "no committed checkpoint" in capsys.readouterr().out
    assert (run / "model.safetensors").read_bytes() != payload and not marker.exists()


@pytest.mark.parametrize("model_name, config, step_name", [
    ("ae", {"input_shape": [1, 8, 8], "hidden": [16], "latent_dim": 3}, "model"),
    ("vae", {"input_shape": [1, 8, 8], "hidden": [16], "latent_dim": 2}, "model"),
    ("vaegan", {"input_shape": [1, 8, 8], "channels": [4, 8], "latent_dim": 2, "dis_channels": [4, 8], "dis_hidden": 8},
     "discriminator"),
])
@pytest.mark.parametrize("poison", ["nan-loss", "inf-loss", "inf-grad"])
def test_numerical_guard_names_step_terms_and_checkpoint(tmp_path, digits, model_name, config, step_name, poison):
    from aelab.errors import TrainingDiverged
    from aelab.models import Update, build_model
    from aelab.train.trainer import Trainer

    train, _ = digits
    torch.manual_seed(0)
    model = build_model(model_name, config)
    trainer = Trainer(model, train.x[:200], TrainConfig(epochs=3, batch_size=50, checkpoint_every=3), tmp_path)
    i = [s.name for s in trainer.updates].index(step_name)
    real = trainer.updates[i].loss

    def poisoned(batch, progress):
        terms = real(batch, progress)
        if trainer.step >= 4:
            if poison == "nan-loss":
                terms["loss"] = terms["loss"] * float("nan")
            elif poison == "inf-loss":
                terms["loss"] = terms["loss"] + float("inf")
            else:  # finite loss, infinite gradient
                w = trainer.updates[i].params[0].flatten()[0]
                terms["loss"] = terms["loss"] + (w - w.detach()).abs().sqrt()  # adds 0; d/dw sqrt|0| is infinite
        return terms

    trainer.updates[i] = Update(step_name, trainer.updates[i].params, poisoned)
    what = "the gradient" if poison == "inf-grad" else "the loss"
    with pytest.raises(TrainingDiverged) as info:
        trainer.fit()
    msg = str(info.value)
    assert "\n" not in msg and f"{what} became NaN/inf at step 5 in update '{step_name}'" in msg
    assert "loss=" in msg and "last good checkpoint (step 3)" in msg
    assert json.loads((tmp_path / "trainer.json").read_text())["step"] == 3
