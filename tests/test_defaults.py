"""Defaults that teach: a newcomer's first `aelab train MODEL` on the embedded digits gives a model worth looking at."""

import json

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

import aelab
from aelab.cli import main
from aelab.data import load_dataset


@pytest.fixture(scope="module")
def digit_judge():
    """A linear classifier of the 8x8 digits (about 97% on the test split): how digit-like samples look."""
    train = load_dataset("digits", "train")
    return LogisticRegression(max_iter=2000).fit(train.x.flatten(1).numpy(), train.y.numpy())


def judge(clf, run):
    with torch.no_grad():
        samples = aelab.load(run).sample(500, generator=torch.Generator().manual_seed(0))
    p = clf.predict_proba(samples.flatten(1).numpy())
    return float(p.max(1).mean()), int(len(np.unique(p.argmax(1))))


def first_run(tmp_path, capsys, model, *extra, name=None):
    run = tmp_path / (name or model)
    assert main(["train", model, "--out", str(run), "--no-progress", "--no-report", *extra]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--json", "--iw-samples", "0"]) == 0
    return run, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_first_vae_on_digits_does_not_collapse(tmp_path, capsys, digit_judge):
    run, metrics = first_run(tmp_path, capsys, "vae")
    assert metrics["active_units"] == 8 and metrics["kl"] > 5  # every latent carries information
    confidence, classes = judge(digit_judge, run)
    assert confidence > 0.6 and classes == 10  # samples the classifier reads as digits, of every kind
    # The plain defaults (200-200, 50 latents) are what the digits preset replaces: their KL collapses.
    plain, plain_metrics = first_run(tmp_path, capsys, "vae", "--preset", "none", name="plain")
    assert plain_metrics["kl"] < 3 and judge(digit_judge, plain)[0] < 0.5


def test_first_vaegan_on_digits_samples_digits(tmp_path, capsys, digit_judge):
    run, metrics = first_run(tmp_path, capsys, "vaegan")
    assert metrics["kl"] > 3 and 0.2 < metrics["d_real"] < 0.9  # neither player has won outright
    confidence, classes = judge(digit_judge, run)
    assert confidence > 0.6 and classes == 10


def test_first_ae_on_digits_shows_what_pretraining_buys(tmp_path, capsys):
    _, plain = first_run(tmp_path, capsys, "ae")
    _, pretrained = first_run(tmp_path, capsys, "ae", "--pretrain", "rbm", name="rbm")
    assert plain["sq_err"] < 2.0  # not the mean digit (about 4) that the 1000-500-250-30 default gives here
    assert pretrained["sq_err"] < 0.8 * plain["sq_err"]  # Science 2006's point, on the first run
