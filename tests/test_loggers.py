"""--log tensorboard and --log mlflow: what they write, read back with TensorBoard's and MLflow's own readers, and a
run cut and resumed logging each step once."""

from __future__ import annotations

import io

import pytest
from PIL import Image

import aelab
from aelab.cli import main
from aelab.errors import ConfigError
from aelab.train.callbacks import StopAt

STEPS_PER_EPOCH = 15  # the digits' 1,500 training images in batches of 100


def test_tensorboard_scalars_histograms_and_images_once_each_step_across_a_resume(tmp_path):
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator",
                                      reason="tensorboard is an optional extra: pip install 'aelab[tensorboard]'")
    out = tmp_path / "vae"
    aelab.fit("vae", "digits", out=out, preset="tiny", train={"epochs": 3}, progress=False, log="tensorboard",
              callbacks={"model": [StopAt(STEPS_PER_EPOCH + 7)]})  # cut in epoch 2: its last checkpoint is epoch 1's
    aelab.fit("vae", out=out, resume=True, progress=False, log="tensorboard")
    events = accumulator.EventAccumulator(str(out / "tensorboard"),
                                          size_guidance={"images": 0, "histograms": 0, "scalars": 0}).Reload()
    tags = events.Tags()
    assert {"train/model/loss", "eval/nelbo", "eval/sq_err"} <= set(tags["scalars"])
    assert [e.step for e in events.Scalars("eval/nelbo")] == [15, 30, 45]  # epoch 2's cut evaluation purged
    losses = [e.step for e in events.Scalars("train/model/loss")]
    assert losses == sorted(set(losses)) and losses[-1] == 45
    assert [e.step for e in events.Histograms("codes")] == [15, 30, 45]
    for name in ("reconstructions", "samples"):
        image = events.Images(name)[-1]
        picture = Image.open(io.BytesIO(image.encoded_image_string))
        assert image.step == 45 and picture.size == (image.width, image.height) and picture.width > 8 * 8 * 3


def test_mlflow_params_metrics_images_and_the_run_folder(tmp_path, monkeypatch):
    pytest.importorskip("mlflow", reason="MLflow is an optional extra: pip install 'aelab[mlflow]'")
    from mlflow import MlflowClient

    from aelab.viz.loggers import MLflowLogger

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # a local file store, as the issue asks; MLflow 3 prefers a database
    uri = (tmp_path / "mlruns").as_uri()
    out = tmp_path / "ae"
    aelab.fit("ae", "digits", out=out, preset="tiny", train={"epochs": 3}, progress=False,
              log=[MLflowLogger(uri, "tests")], callbacks={"model": [StopAt(STEPS_PER_EPOCH + 7)]})
    assert main(["train", "ae", "--resume", "--out", str(out), "--no-progress", "--no-report", "--log", "mlflow",
                 "--mlflow-uri", uri, "--mlflow-experiment", "tests"]) == 0
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("tests").experiment_id])  # resumed into the same run
    assert run.info.status == "FINISHED" and run.info.run_name == "ae"
    assert run.data.params["model.latent_dim"] == "3" and run.data.params["train.epochs"] == "3"
    history = client.get_metric_history(run.info.run_id, "eval/sq_err")
    assert sorted(m.step for m in history) == [15, 30, 45]
    assert "train/model/loss" in run.data.metrics and "codes/median" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "run")}
    assert {"run/config.json", "run/model.safetensors", "run/metrics.jsonl"} <= artifacts
    images = [a.path for a in client.list_artifacts(run.info.run_id, "images")]
    assert any("reconstructions_step00000045" in p for p in images)


def test_a_logger_that_cannot_start_stops_the_run_before_it_starts(tmp_path, monkeypatch, capsys):
    pytest.importorskip("mlflow", reason="MLflow is an optional extra: pip install 'aelab[mlflow]'")
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    with pytest.raises(ConfigError, match="unknown logger 'wandb'"):
        aelab.fit("ae", "digits", out=tmp_path / "x", preset="tiny", log="wandb")
    assert main(["train", "ae", "--preset", "tiny", "--out", str(tmp_path / "y"), "--mlflow-uri", "file:/nowhere"]) == 2
    assert "--log mlflow" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
