"""The CLI's shape: one module per command, train flags generated from TrainConfig, no torch until a command runs."""

import dataclasses
import importlib
import json
import subprocess
import sys

import pytest

from aelab.cli import build_parser, main
from aelab.cli.main import COMMANDS
from aelab.cli.train_flags import flag_name, given_train_flags
from aelab.recipes.train import TrainConfig


def test_every_command_is_one_module_with_its_parser_and_function():
    for command in COMMANDS:
        module = importlib.import_module(f"aelab.cli.{command}")
        assert module.HELP and callable(module.add_arguments) and callable(module.run), command


def test_the_cli_loads_without_torch_and_says_its_version():
    code = "import sys, aelab.cli; aelab.cli.build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
    version = subprocess.run([sys.executable, "-m", "aelab", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.strip() == f"aelab {importlib.import_module('aelab').__version__}"


def test_every_train_config_field_is_a_flag_whose_default_is_the_field_default():
    parser = build_parser()
    plain = parser.parse_args(["train", "ae"])
    assert given_train_flags(plain) == {}  # nothing given: TrainConfig's own defaults (or a preset's recipe) apply
    argv = ["train", "ae", "--epochs", "3", "--batch-size", "7", "--optimizer", "sgd", "--lr", "0.5", "--momentum", "0.5",
            "--weight-decay", "0.1", "--betas", "0.5,0.9", "--schedule", "constant", "--warmup-steps", "4",
            "--grad-clip", "1.5", "--eval-every", "5", "--checkpoint-every", "6", "--log-every", "2", "--seed", "9",
            "--precision", "bf16", "--binarize", "--update-opt", "model.lr=0.25", "--update-opt", "model.optimizer=adam",
            "--corrupt", "masking:0.25", "--emphasis", "2", "--validation", "0.2"]
    given = given_train_flags(parser.parse_args(argv))
    flagged = {f.name for f in dataclasses.fields(TrainConfig) if f.metadata.get("cli", True)}
    assert flagged == {f.name for f in dataclasses.fields(TrainConfig)} - {"restart_epoch"}  # set by --more-epochs only
    assert set(given) == flagged, "a TrainConfig field has no flag"
    cfg = TrainConfig(**given)
    assert cfg.betas == (0.5, 0.9) and cfg.update_options == {"model": {"lr": 0.25, "optimizer": "adam"}}
    assert cfg.corrupt == "masking:0.25" and cfg.emphasis == 2.0
    help_text = parser._subparsers._group_actions[0].choices["train"].format_help()
    for name in flagged:
        assert flag_name(name) in help_text
    assert f"(default {TrainConfig().epochs})" in help_text and f"(default {TrainConfig().schedule})" in help_text


@pytest.mark.parametrize("argv, message", [
    (["--epochs", "0"], "positive integer"),
    (["--lr", "-1"], "positive number"),
    (["--grad-clip", "-1"], "number >= 0"),
    (["--betas", "0.9"], "takes 2 numbers"),
    (["--update-opt", "lr=1"], "UPDATE.KEY=VALUE"),
    (["--update-opt", "model.colour=1"], "unknown key(s) colour"),
    (["--update-opt", "critic.lr=1e-4"], "unknown update(s) ['critic']"),
])
def test_bad_training_flags_are_one_line(tmp_path, capsys, argv, message):
    code = main(["train", "ae", "--out", str(tmp_path / "r"), "--no-progress", "--no-report", *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code in (1, 2) and len(err) == 1 and message in err[0], err


def test_update_options_reach_the_optimiser(tmp_path, capsys):
    run = tmp_path / "r"
    assert main(["train", "vaegan", "--preset", "tiny", "--epochs", "1", "--schedule", "constant", "--out", str(run),
                 "--no-progress",
                 "--no-report", "--update-opt", "discriminator.lr=1e-4", "--update-opt", "discriminator.betas=0.5,0.9"]) == 0
    state = json.loads((run / "trainer.json").read_text())
    groups = state["optimizers"]["discriminator"]["param_groups"][0]
    assert groups["betas"] == [0.5, 0.9]
    assert groups["lr"] == pytest.approx(1e-4)  # constant schedule: the override itself
    assert state["train"]["update_options"]["discriminator"]["lr"] == 1e-4
    assert state["optimizers"]["encoder"]["param_groups"][0]["lr"] == pytest.approx(1e-3)
    assert state["optimizers"]["encoder"]["param_groups"][0]["betas"] == [0.9, 0.999]


def test_piped_training_prints_one_plain_line_per_epoch_and_no_bar(tmp_path):
    done = subprocess.run([sys.executable, "-m", "aelab", "train", "ae", "--preset", "tiny", "--epochs", "3",
                           "--out", str(tmp_path / "r"), "--no-report"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if ": epoch " in line]
    assert [line.split(",")[0] for line in lines] == ["ae: epoch 1/3", "ae: epoch 2/3", "ae: epoch 3/3"]
    assert "model/loss=" in lines[0] and "test sq_err=" in lines[0]
    assert "\r" not in done.stdout + done.stderr  # no progress-bar frames in a log file
    quiet = subprocess.run([sys.executable, "-m", "aelab", "train", "ae", "--preset", "tiny", "--epochs", "2",
                            "--out", str(tmp_path / "q"), "--no-report", "--no-progress"], capture_output=True, text=True)
    assert quiet.returncode == 0 and ": epoch " not in quiet.stdout
