"""Whether binary codes use their bits (eval/code_usage.py), in the suite and said at the end of training."""

import re

import numpy as np
import pytest
import torch

from aelab.eval.code_usage import code_usage, collapse_note
from aelab.eval.suite import evaluate_suite


def test_independent_balanced_bits_score_as_such():
    bits = np.random.default_rng(0).random((4000, 12)) < 0.5
    m, details = code_usage(bits)
    assert m["dead_bits"] == 0 and m["bit_balance"] > 0.97 and m["bit_correlation"] < 0.03
    assert m["distinct_codes"] == len({r.tobytes() for r in np.packbits(bits, axis=1)})
    assert m["distinct_share"] == pytest.approx(m["distinct_codes"] / 4000) and len(details["bit_ones"]) == 12
    assert collapse_note(m, 4000, 12) is None


def test_copied_constant_and_shared_codes_are_seen():
    rng = np.random.default_rng(1)
    a = rng.random((500, 1)) < 0.5
    bits = np.hstack([a, a, ~a, np.zeros((500, 1), bool), rng.random((500, 1)) < 0.1])
    m, details = code_usage(bits)
    assert m["dead_bits"] == 1 and details["bit_ones"][3] == 0.0
    # pairs among the three copies are |r| = 1, pairs with the independent bit near 0
    assert m["bit_correlation"] == pytest.approx(0.5, abs=0.05)
    assert m["bit_balance"] < 0.65 and m["distinct_codes"] <= 4
    note = collapse_note(m, 500, 5)
    assert note and "\n" not in note and "1 bit the same for every item" in note and "distinct 5-bit codes" in note


def test_the_suite_scores_a_hashers_code_usage_without_labels():
    from aelab.models import build_model
    from aelab.recipes import presets

    model = build_model("semhash", presets("semhash")["tiny"]).eval()
    x = model.example_input(64, generator=torch.Generator().manual_seed(0))
    metrics, details = evaluate_suite(model, x)
    assert {"distinct_codes", "bit_balance", "bit_correlation", "dead_bits"} <= set(metrics)
    assert len(details["bit_ones"]) == model.config.latent_dim


def test_a_run_whose_codes_collapse_says_so_in_one_line(tmp_path, capsys):
    from aelab.cli import main

    x = np.zeros((200, 1, 8, 8), np.float32)
    x[::2, :, :4] = 1  # two kinds of item: at most two codes whatever the training
    np.save(tmp_path / "same.npy", x)
    assert main(["train", "semhash", "--preset", "tiny", "--data", str(tmp_path / "same.npy"), "--epochs", "1",
                 "--out", str(tmp_path / "r"), "--no-progress"]) == 0
    said = [line for line in capsys.readouterr().err.splitlines() if "collapsed" in line]
    assert len(said) == 1 and re.search(r"[12] distinct 8-bit codes for \d+ items", said[0])
    report = (tmp_path / "r" / "report.html").read_text()  # the report's code usage section says it too
    section = report.split('id="code-usage"')[1].split("</section>")[0]
    assert "The codes collapsed" in section and 'alt="share of ones per bit"' in section
