"""VQ-VAE with its PixelCNN prior as a second stage: both stages in one run, sampling, bits/dim, exact resume."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from aelab.recipes import presets
import aelab
from aelab.cli import main
from aelab.config import to_dict
from aelab.eval.suite import evaluate_suite
from aelab.models.base import build_model, model_class
from aelab.train.callbacks import StopAt
from aelab.train.plan import plan_run
from aelab.recipes.train import TrainConfig


def tiny_spec(epochs: int = 2, prior_epochs: int = 2):
    cfg = presets("vqvae")["tiny"]
    return plan_run("vqvae", cfg, "digits", train=TrainConfig(epochs=epochs, batch_size=32, schedule="constant",
                                                            checkpoint_every=3),
                    prior_train=TrainConfig(epochs=prior_epochs, batch_size=32, lr=1e-2, checkpoint_every=3))


def test_one_run_trains_the_vqvae_then_its_prior_and_samples(digits, tmp_path, capsys):
    run = tmp_path / "vq"
    code = main(["train", "vqvae", "--data", "digits", "--preset", "tiny", "--epochs", "2", "--prior-epochs", "2",
                 "--out", str(run), "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    assert "bits_per_dim" in out and "codebook_perplexity" in out
    spec = json.loads((run / "config.json").read_text())
    assert [s["name"] for s in spec["stages"]] == ["model", "prior"]
    assert spec["stages"][1]["model"]["name"] == "pixelcnn" and spec["stages"][1]["input"] == "model"
    model = aelab.load(run)
    s = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert s.shape == (5, 1, 8, 8) and 0 <= float(s.min()) and float(s.max()) <= 1
    report = (run / "report.html").read_text()
    assert "test, whole run" in report and "bits_per_dim" in report and 'id="samples"' in report
    assert main(["sample", str(run), "-n", "4", "-o", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"


def test_prior_none_trains_the_vqvae_alone_and_a_resume_refuses_to_drop_a_recorded_prior(digits, tmp_path, capsys):
    run = tmp_path / "vq-alone"
    assert main(["train", "vqvae", "--data", "digits", "--preset", "tiny", "--epochs", "1", "--prior", "none",
                 "--out", str(run), "--no-progress", "--no-report"]) == 0
    spec = json.loads((run / "config.json").read_text())
    assert [s["name"] for s in spec["stages"]] == ["model"]
    assert not (run / "stages").exists()
    with_prior = tmp_path / "vq"
    assert main(["train", "vqvae", "--data", "digits", "--preset", "tiny", "--epochs", "1", "--prior-epochs", "1",
                 "--out", str(with_prior), "--no-progress", "--no-report"]) == 0
    capsys.readouterr()
    assert main(["train", "vqvae", "--data", "digits", "--resume", "--prior", "none", "--out", str(with_prior),
                 "--no-progress"]) == 2
    assert "--prior none (the run has prior)" in capsys.readouterr().err


def test_bits_per_dim_is_reconstruction_plus_prior_over_the_pixels(digits, tmp_path):
    train, test = digits
    model = aelab.fit(tiny_spec(), train.x, out=tmp_path / "run", progress=False).model
    model.eval()
    x = test.x[:50]
    metrics, _ = evaluate_suite(model, x)
    with torch.no_grad():
        idx = model.encode_indices(x)
        logits = model.decoder(model.quantizer.lookup(idx))
        rec = torch.nn.functional.binary_cross_entropy_with_logits(logits.flatten(1), x.flatten(1),
                                                                   reduction="none").sum(1)
        prior = -model.prior.log_prob(idx)
    want = float(((rec + prior) / (64 * math.log(2))).mean())
    assert metrics["bits_per_dim"] == pytest.approx(want, rel=1e-5)
    assert metrics["prior_nll"] == pytest.approx(float(prior.mean()), rel=1e-5)
    assert 0 < metrics["codebook_usage"] <= 1 and 1 <= metrics["codebook_perplexity"] <= 8


def test_a_kill_in_the_prior_stage_resumes_exactly(digits, tmp_path):
    train, _ = digits
    x = train.x[:300]
    torch.manual_seed(0)
    full = aelab.fit(tiny_spec(2, 3), x, out=tmp_path / "full", progress=False).model
    torch.manual_seed(0)
    aelab.fit(tiny_spec(2, 3), x, out=tmp_path / "cut", progress=False, callbacks={"prior": [StopAt(14)]})  # as if killed
    assert not json.loads((tmp_path / "cut" / "stages" / "prior" / "trainer.json").read_text())["finished"]
    torch.manual_seed(0)
    resumed = aelab.fit("vqvae", x, out=tmp_path / "cut", progress=False, resume=True).model
    a, b = full.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(k.startswith("prior.") for k in a)


def test_the_prior_stage_can_be_trained_again_on_a_finished_run(tmp_path, capsys):
    run = tmp_path / "vq"
    assert main(["train", "vqvae", "--data", "digits", "--preset", "tiny", "--epochs", "1", "--prior-epochs", "1",
                 "--out", str(run), "--no-progress", "--no-report"]) == 0
    model_file, prior_file = run / "model.safetensors", run / "stages" / "prior" / "model.safetensors"
    before, old_prior = model_file.read_bytes(), prior_file.read_bytes()
    # the same stage again: the same seed and settings give the same weights
    assert main(["train", "--from", str(run), "--stage", "prior", "--overwrite", "--no-progress", "--no-report"]) == 0
    assert prior_file.read_bytes() == old_prior
    # a new prior with other settings replaces it; the VQ-VAE itself is untouched
    assert main(["train", "--from", str(run), "--prior", "pixelcnn", "--prior-epochs", "2", "--overwrite",
                 "--no-progress", "--no-report"]) == 0
    assert model_file.read_bytes() == before and prior_file.read_bytes() != old_prior
    stages = json.loads((run / "config.json").read_text())["stages"]
    assert [(s["name"], s["train"]["epochs"]) for s in stages] == [("model", 1), ("prior", 2)]
    assert aelab.load(run).prior is not None


def test_codebook_vectors_are_rows_and_indices_round_trip():
    model = build_model("vqvae", presets("vqvae")["tiny"]).eval()
    x = torch.rand(7, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        z = model.encode(x)
        rows = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        book = model.quantizer.codebook
        assert all(bool((book == r).all(1).any()) for r in rows)
        idx = model.encode_indices(x)
        assert torch.equal(model.quantizer.nearest(model.quantizer.lookup(idx)), idx)
    assert to_dict(model.config)["num_codes"] == 8
    np.testing.assert_array_equal(idx.shape, (7, 2, 2))


def test_a_binarised_run_trains_its_prior_on_the_codes_of_binary_images(digits, tmp_path, monkeypatch):
    import aelab.train.run as run_module
    from aelab.data import binarize

    train, _ = digits
    x = train.x[:200]
    seen = []
    real = run_module.map_batches
    monkeypatch.setattr(run_module, "map_batches", lambda m, data, fn, *a, **k: seen.append(data) or real(m, data, fn,
                                                                                                       *a, **k))
    cfg = presets("vqvae")["tiny"]
    spec = plan_run("vqvae", cfg, "digits", train=TrainConfig(epochs=1, batch_size=50, binarize=True),
                    prior_train=TrainConfig(epochs=1, batch_size=50))
    aelab.fit(spec, x, out=tmp_path / "run", progress=False)
    assert len(seen) == 1 and torch.equal(seen[0], binarize(x, seed=0))  # not the grey images the model never saw
