"""Trust in the run folder: one writer, --overwrite that keeps what it cannot rebuild, resume that does what
was asked (extension included), loads while a run saves, and feedback outside a terminal."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import aelab
from aelab.cli import main
from aelab.cli.main import build_parser
from aelab.recipes.train import TrainConfig
from aelab.runs.folder import REPLACED, RunFolder
from aelab.train.plan import plan_run
from aelab.train.trainer import Trainer

TINY = ["--preset", "tiny", "--no-progress", "--no-report"]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "aelab", *args]


def _killed_cli(point: str, *args: str) -> list[str]:
    """The CLI, SIGKILLed right after the checkpoint write `point` names (FOLDER/FILE@STEP, see killpoints.py)."""
    return [sys.executable, str(Path(__file__).with_name("killpoints.py")), point, *args]


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def _weights(run) -> dict:
    return aelab.load(run).state_dict()


def _hold_lock(folder):
    """Another process holding the run folder's lock (as a training process does for its whole life)."""
    code = ("import sys, time; from aelab.lock import run_lock\n"
            f"with run_lock({str(folder)!r}):\n    print('held', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=_env())
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_is_refused_in_one_line_and_a_killed_holder_leaves_no_stale_lock(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "ae", *TINY, "--epochs", "1", "--out", str(run)]) == 0
    holder = _hold_lock(run)
    try:
        for argv in (["--resume", "--more-epochs", "1"], ["--overwrite"]):
            capsys.readouterr()
            assert main(["train", "ae", *TINY, "--out", str(run), *argv]) == 1
            err = capsys.readouterr().err.strip()
            assert err == f"aelab: error: run folder {run} is in use by process {holder.pid}; wait for it to finish or " \
                          "stop it", err
        assert main(["train", "--from", str(run), "--prior", "gmm", "--no-progress", "--no-report"]) == 1
        assert "is in use by process" in capsys.readouterr().err
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert main(["train", "ae", *TINY, "--out", str(run), "--resume", "--more-epochs", "1"]) == 0  # no stale lock


def test_overwrite_keeps_the_old_run_until_the_new_one_has_a_checkpoint_and_never_touches_other_files(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "vae", *TINY, "--epochs", "1", "--out", str(run)]) == 0
    (run / "notes.txt").write_text("mine")
    (run / "samples.png").write_bytes(b"also mine")
    before = _weights(run)
    # the new run diverges at step 3, before its first checkpoint: the old run is all still there
    assert main(["train", "vae", *TINY, "--lr", "1e6", "--out", str(run), "--overwrite"]) == 1
    assert "NaN" in capsys.readouterr().err
    after = _weights(run)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert json.loads((run / "config.json").read_text())["stages"][0]["train"]["lr"] != 1e6
    assert not (run / REPLACED).exists()
    # a new run that gets its first checkpoint replaces the old one's files, and only those
    assert main(["train", "ae", *TINY, "--epochs", "1", "--out", str(run), "--overwrite"]) == 0
    assert aelab.load(run).name == "ae" and not (run / REPLACED).exists()
    assert (run / "notes.txt").read_text() == "mine" and (run / "samples.png").read_bytes() == b"also mine"
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert all("model/bce" in r or "split" in r for r in lines) and not any("nelbo" in r for r in lines)


def test_an_overwrite_killed_before_its_first_checkpoint_keeps_the_old_run_aside(tmp_path):
    run = tmp_path / "run"
    assert subprocess.run(_cli("train", "ae", *TINY, "--epochs", "1", "--out", str(run)), env=_env()).returncode == 0
    old = _weights(run)
    killed = subprocess.run(_killed_cli("run/model.safetensors@15", "train", "ae", *TINY, "--epochs", "2", "--set",
                                        "latent_dim=5", "--out", str(run), "--overwrite"), env=_env())
    assert killed.returncode == -signal.SIGKILL
    kept = aelab.load(run / REPLACED)  # the old run, whole, until a new one commits
    assert all(torch.equal(old[k], kept.state_dict()[k]) for k in old)
    again = subprocess.run(_cli("train", "ae", *TINY, "--epochs", "1", "--out", str(run), "--overwrite"), env=_env())
    assert again.returncode == 0 and not (run / REPLACED).exists()


def test_resume_extends_a_finished_run_with_a_restarted_schedule(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "ae", *TINY, "--epochs", "2", "--out", str(run)]) == 0
    assert main(["train", "ae", *TINY, "--out", str(run), "--resume", "--epochs", "1"]) == 1
    assert "extend it, not shorten it" in capsys.readouterr().err
    assert main(["train", "ae", *TINY, "--out", str(run), "--resume", "--more-epochs", "2"]) == 0
    said = capsys.readouterr().out
    assert "extending" in said and "from 2 to 4 epochs" in said and "resuming at step 30 of 60" in said
    state = json.loads((run / "trainer.json").read_text())
    assert state["step"] == 60 and state["finished"]
    train = json.loads((run / "config.json").read_text())["stages"][0]["train"]
    assert train["epochs"] == 4 and train["restart_epoch"] == 2
    cfg = TrainConfig(epochs=4, restart_epoch=2)  # the cosine starts again at the peak where the extension begins
    from aelab.train.trainer import lr_factor

    assert lr_factor(cfg, 30, 60, 15) == 1.0 and lr_factor(cfg, 45, 60, 15) == pytest.approx(0.5)
    assert lr_factor(TrainConfig(epochs=2), 29, 30, 15) < 0.02
    steps = [json.loads(r)["step"] for r in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps[-1] == 60


def test_extension_refuses_an_unfinished_run_and_asks_before_retraining_later_stages(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "ae", *TINY, "--epochs", "1", "--prior", "gmm", "--prior-epochs", "2", "--out",
                 str(run)]) == 0
    assert main(["train", "ae", *TINY, "--out", str(run), "--resume", "--more-epochs", "1"]) == 1
    assert "prior, built on it, out of date; add --overwrite" in capsys.readouterr().err
    prior = (run / "stages" / "prior" / "model.safetensors").read_bytes()
    assert main(["train", "ae", *TINY, "--out", str(run), "--resume", "--more-epochs", "1", "--overwrite"]) == 0
    assert (run / "stages" / "prior" / "model.safetensors").read_bytes() != prior  # trained again on the new codes
    assert aelab.load(run).sample(3).shape == (3, 1, 8, 8)
    cut = tmp_path / "cut"
    assert subprocess.run(_killed_cli("cut/trainer.json@15", "train", "ae", *TINY, "--epochs", "3", "--out", str(cut)),
                          env=_env()).returncode == -signal.SIGKILL
    capsys.readouterr()
    assert main(["train", "ae", *TINY, "--out", str(cut), "--resume", "--epochs", "5"]) == 1
    assert "at step 15 of 45: resume it to the end first" in capsys.readouterr().err


def test_load_while_a_run_saves_every_step_never_fails(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "ae", *TINY, "--epochs", "1", "--checkpoint-every", "1", "--out", str(run)]) == 0
    proc = subprocess.Popen(_cli("train", "ae", *TINY, "--out", str(run), "--resume", "--more-epochs", "40"), env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    loads, failures, steps = 0, [], set()
    try:
        while proc.poll() is None and loads < 2000:
            try:
                aelab.load(run)
            except Exception as e:  # noqa: BLE001 - every failure is counted and shown
                failures.append(str(e))
            loads += 1
            steps.add((run / "trainer.json").stat().st_mtime_ns)
    finally:
        still_running = proc.poll() is None
        proc.kill()
        proc.wait()
    assert still_running or proc.returncode == 0, proc.stderr.read()
    assert len(steps) > 20, "the loads did not overlap the run's checkpoints"
    assert not failures, f"{len(failures)} of {loads} loads failed: {failures[:2]}"


def test_ctrl_c_during_a_checkpoint_write_waits_for_the_write_to_end(tmp_path, monkeypatch):
    from aelab.models import build_model

    x = torch.rand(40, 1, 8, 8)
    model = build_model("ae", {"input_shape": [1, 8, 8], "hidden": [8], "latent_dim": 2})
    trainer = Trainer(model, x, TrainConfig(epochs=2, batch_size=20), tmp_path)
    real = RunFolder._put

    def write_then_interrupt(self, name, payload):
        real(self, name, payload)
        if name == "model.safetensors":
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C right in the middle of the checkpoint

    monkeypatch.setattr(RunFolder, "_put", write_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    state = json.loads((tmp_path / "trainer.json").read_text())  # the checkpoint was finished and committed
    assert state["step"] == 2
    RunFolder(tmp_path).read_checkpoint("ae")


def test_ctrl_c_outside_training_says_nothing_about_resuming(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    assert main(["train", "ae", *TINY, "--epochs", "1", "--out", str(run)]) == 0
    import aelab.eval.suite as suite

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(suite, "evaluate_suite", interrupted)
    capsys.readouterr()
    assert main(["eval", str(run)]) == 130
    assert capsys.readouterr().err.strip() == "aelab: interrupted"


def test_a_full_disk_names_the_file_it_could_not_write(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    assert main(["train", "vae", *TINY, "--epochs", "1", "--out", str(run)]) == 0

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    capsys.readouterr()
    assert main(["sample", str(run), "-o", str(tmp_path / "s.png")]) == 1
    assert capsys.readouterr().err.strip() == f"aelab: error: {tmp_path / 's.png'}: No space left on device"
    assert not list(tmp_path.glob(".s.png*"))  # no temporary file left behind


def test_eval_and_report_work_from_the_weights_alone(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "ae", *TINY, "--epochs", "1", "--out", str(run)]) == 0
    for name in ("trainer.json", "trainer.safetensors", "metrics.jsonl"):
        (run / name).unlink()
    import shutil

    shutil.rmtree(run / "previous", ignore_errors=True)
    assert main(["eval", str(run), "--json"]) == 0
    assert "sq_err" in json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(["report", str(run)]) == 0
    assert (run / "report.html").stat().st_size > 1000


def test_outside_a_terminal_each_epoch_is_one_line_with_speed_and_eta(tmp_path, capsys):
    assert main(["train", "ae", "--preset", "tiny", "--no-report", "--epochs", "3", "--out", str(tmp_path / "r")]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("ae: epoch")]
    assert len(lines) == 3
    for i, line in enumerate(lines, 1):
        assert line.startswith(f"ae: epoch {i}/3, step {15 * i}/45: model/loss=")
        assert "test sq_err=" in line and "samples/s" in line and "elapsed, ETA" in line


def test_on_a_terminal_the_bar_leaves_a_summary_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["train", "ae", "--preset", "tiny", "--no-report", "--epochs", "2", "--out", str(tmp_path / "r")]) == 0
    out, err = capsys.readouterr()
    assert "ae: epoch" not in out
    assert "ae: 30 steps (2 epochs) in" in err and "samples/s; test sq_err=" in err


def test_help_names_every_default():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, sub in commands.items():
        text = " ".join(sub.format_help().split())
        for action in sub._actions:
            default = action.default
            if not action.option_strings or default is None or default is False or default in ([], "==SUPPRESS=="):
                continue
            flag = max(action.option_strings, key=len)
            after = text.split(flag, 2)[-1][:400]  # the option's own line(s)
            assert "default" in after, f"aelab {name} {flag} does not show its default"


def test_the_run_records_where_its_data_is_from_anywhere(tmp_path, monkeypatch, capsys):
    import numpy as np

    (tmp_path / "work" / "data").mkdir(parents=True)
    np.save(tmp_path / "work" / "data" / "x.npy", np.random.default_rng(0).random((60, 1, 8, 8)).astype(np.float32))
    monkeypatch.chdir(tmp_path / "work")
    assert main(["train", "ae", *TINY, "--epochs", "1", "--data", "data/x.npy", "--out", "../run"]) == 0
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())["data"]["name"]
    assert recorded == str(tmp_path / "work" / "data" / "x.npy")
    monkeypatch.chdir(tmp_path)
    assert main(["eval", "run"]) == 0
    (tmp_path / "work" / "data" / "x.npy").rename(tmp_path / "x.npy")
    capsys.readouterr()
    assert main(["eval", "run"]) == 1
    assert capsys.readouterr().err.strip() == (f"aelab: error: the data this run was trained on, {recorded}, is not "
                                              "there any more; point to it with --data PATH")
    assert main(["train", "ae", *TINY, "--out", "run", "--resume", "--more-epochs", "1", "--data", "x.npy"]) == 0
