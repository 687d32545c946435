"""What a run's report says: unfinished runs, train and test side by side, visible curves, every stage, any class name."""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import re
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from aelab.cli import main
from aelab.viz import loss_curves_png, write_report

TINY_AE = ["--preset", "tiny", "--epochs", "1", "--no-progress"]
TRAIN_BLUE = (31, 119, 180)  # matplotlib's tab:blue, the colour of the train series


def _cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _section(doc: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}">(.*?)</section>', doc, re.S)
    assert m, f"no section {sid}"
    return m.group(1)


def _table_rows(section: str) -> dict[str, list[str]]:
    """First cell -> the other cells' text, for each body row of the section's table."""
    rows = {}
    for tr in re.findall(r"<tr>(.*?)</tr>", section.split("<tbody>", 1)[1], re.S):
        cells = [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
        rows[cells[0]] = cells[1:]
    return rows


def _pngs(doc: str) -> list[np.ndarray]:
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(b))).convert("RGB"))
            for b in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', doc)]


def _blue_pixels(png: bytes | np.ndarray) -> int:
    arr = png if isinstance(png, np.ndarray) else np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    return int((np.abs(arr.astype(int) - TRAIN_BLUE).sum(axis=2) < 30).sum())


# ---------------------------------------------------------------- 1. an unfinished run says so


def test_unfinished_run_is_labelled_in_the_title_area(tmp_path, capsys, digits):
    import aelab
    from aelab.train.callbacks import StopAt
    from aelab.train.plan import plan_run
    from aelab.recipes.train import TrainConfig

    train, _ = digits
    run = tmp_path / "run"
    spec = plan_run("ae", {"input_shape": [1, 8, 8], "hidden": [16], "latent_dim": 2}, "digits",
                    train=TrainConfig(epochs=3, batch_size=100))
    aelab.fit(spec, train.x, out=run, progress=False, callbacks={"model": [StopAt(20)]})  # "killed" in epoch 2
    state = json.loads((run / "trainer.json").read_text())
    assert not state["finished"] and state["step"] < state["total_steps"]

    code, _, err = _cli(capsys, "report", run)
    assert code == 0, err
    doc = (run / "report.html").read_text(encoding="utf-8")
    header = doc.split("</header>", 1)[0]
    banner = re.search(r'<p class="banner" id="unfinished">(.*?)</p>', header)
    assert banner, "no unfinished banner in the title area"
    text = html.unescape(banner.group(1))
    assert text.startswith(f"unfinished: step {state['step']} of {state['total_steps']}")
    assert f"aelab train ae --out {run} --resume" in text
    assert "<title>[unfinished] " in doc

    # trained to the end, the same run's report has no banner
    code, _, err = _cli(capsys, "train", "ae", "--out", run, "--resume", "--no-progress")
    assert code == 0, err
    doc = (run / "report.html").read_text(encoding="utf-8")
    assert 'id="unfinished"' not in doc and "[unfinished]" not in doc


def test_a_run_without_trainer_state_is_unfinished(tmp_path, capsys):
    run = tmp_path / "run"
    assert _cli(capsys, "train", "ae", "--out", run, *TINY_AE)[0] == 0
    (run / "trainer.json").unlink()  # weights placed by hand: nothing says training ended
    for f in (run / "previous").glob("*"):
        f.unlink()
    code, _, err = _cli(capsys, "report", run)
    assert code == 0, err
    assert "unfinished: not trained yet" in (run / "report.html").read_text(encoding="utf-8")


# ---------------------------------------------------------------- 2. train and test side by side


def test_final_metrics_put_train_and_test_of_a_metric_in_one_row(tmp_path):
    records = [
        {"step": 10, "epoch": 1.0, "split": "train", "time": 1.0, "model/loss": 3.0, "model/sq_err": 2.5},
        {"step": 10, "epoch": 1.0, "split": "test", "time": 1.2, "sq_err": 2.75, "psnr": 11.0},
    ]
    model, data = _tiny_model_and_data()
    doc = write_report(tmp_path / "run", model, data, records).read_text(encoding="utf-8")
    section = _section(doc, "metrics")
    assert "<th>metric</th><th>train (last)</th><th>test (last)</th>" in section
    rows = _table_rows(section)
    assert rows["sq_err"] == ["2.5", "2.75"]
    assert rows["loss"] == ["3", "\u2013"] and rows["psnr"] == ["\u2013", "11"]
    assert rows["step"] == ["10", "10"]
    assert "model/sq_err" not in rows and "model/loss" not in rows


def test_several_updates_logging_one_term_keep_their_names():
    from aelab.viz.report import final_metrics_rows

    # a VAE-GAN: encoder and decoder both log feat_rec; only the encoder logs kl
    records = [
        {"step": 5, "split": "train", "encoder/kl": 1.0, "encoder/feat_rec": 2.0, "decoder/feat_rec": 3.0,
         "decoder/gen_gan": 0.5},
        {"step": 5, "split": "test", "kl": 1.5, "feat_rec": 4.0},
    ]
    rows, columns = final_metrics_rows(records)
    by_name = {r["metric"]: [r[c] for c in columns[1:]] for r in rows}
    assert columns == ["metric", "train (last)", "test (last)"]
    assert by_name["kl (train: encoder/kl)"] == [1.0, 1.5]
    assert by_name["encoder/feat_rec"] == [2.0, None] and by_name["decoder/feat_rec"] == [3.0, None]
    assert by_name["feat_rec"] == [None, 4.0]
    assert by_name["decoder/gen_gan"] == [0.5, None]  # evaluation has no gen_gan: the update's name stays


# ---------------------------------------------------------------- 3. a curve is always visible


def test_a_one_point_training_series_is_drawn():
    records = [{"step": 45, "split": "train", "model/loss": 30.0}]
    assert _blue_pixels(loss_curves_png(records)) > 40  # a marked point, not an empty one-point line


def test_report_curves_of_a_one_step_run_show_the_training_value(tmp_path):
    records = [{"step": 3, "epoch": 1.0, "split": "train", "model/loss": 7.0}]
    model, data = _tiny_model_and_data()
    doc = write_report(tmp_path / "run", model, data, records, n_recon=0, max_map_points=0).read_text(encoding="utf-8")
    curves = _pngs(_section(doc, "curves"))
    assert len(curves) == 1 and _blue_pixels(curves[0]) > 40


# ---------------------------------------------------------------- 4. every stage's curves


def test_report_has_each_stage_curves_labelled(tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = _cli(capsys, "train", "ae", "--out", run, "--pretrain", "rbm", "--pretrain-epochs", "1", *TINY_AE)
    assert code == 0, err
    stages = sorted(p.name for p in (run / "stages").iterdir())
    assert stages and all(name.startswith("rbm") for name in stages)
    (run / "report.html").unlink()
    assert _cli(capsys, "report", run)[0] == 0
    curves = _section((run / "report.html").read_text(encoding="utf-8"), "curves")
    headings = [html.unescape(h) for h in re.findall(r"<h3>(.*?)</h3>", curves)]
    assert headings == ["stage model (the run's model)", *(f"stage {s}" for s in stages)]
    assert "rbm trained on the data: finished" in curves
    assert f"rbm trained on the outputs of stage {stages[0]}: finished" in curves
    pictures = _pngs(curves)
    assert len(pictures) == 1 + len(stages)
    assert all(_blue_pixels(p) > 40 for p in pictures)  # each stage logged one training record: still drawn


# ---------------------------------------------------------------- 5. any class name, no stray warnings


def test_drawable_text_escapes_math_and_names_missing_glyphs():
    from aelab.viz.plots import drawable_text

    texts, families = drawable_text(["café", "a $x^$ b", "日本"])
    assert texts[0] == "café" and texts[1] == r"a \$x^\$ b"
    assert texts[2] == "日本" and families or texts[2] == "[U+65E5 U+672C]"


def test_names_in_any_script_draw_without_warnings(caplog):
    from aelab.viz import code_map_png

    # U+210A is in no font matplotlib uses by default but in some it ships; CJK usually in none of them:
    # whichever way a machine's fonts fall, the names are drawn (from another font, or as code points) silently
    names = ["\u210a x", "日本", "a$b$c", "Ελλάδα"]
    caplog.set_level(logging.WARNING)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = code_map_png(np.random.default_rng(0).random((40, 2)), np.arange(40) % 4, "codes of 日本 \u210a",
                           class_names=names)
    assert png.startswith(b"\x89PNG")
    assert not [str(w.message) for w in caught] and not [r.getMessage() for r in caplog.records]


def test_non_ascii_class_names_give_no_warnings(tmp_path, capsys, caplog):
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    names = ["café", "日本", "Ελλάδα", "$^$"]  # the last would be read as (broken) math by matplotlib
    for name in names:
        (folder / name).mkdir(parents=True)
        for i in range(12):
            Image.fromarray((rng.random((8, 8)) * 255).astype(np.uint8)).save(folder / name / f"{i}.png")
    run = tmp_path / "run"
    caplog.set_level(logging.WARNING)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, _, err = _cli(capsys, "train", "ae", "--data", folder, "--out", run, *TINY_AE)
        assert code == 0, err
        code, _, err = _cli(capsys, "report", run)
        assert code == 0, err
    assert err == ""
    assert not [str(w.message) for w in caught], [str(w.message) for w in caught]
    assert not [r.getMessage() for r in caplog.records if r.name.startswith("matplotlib")]
    from aelab.viz.plots import drawable_text

    doc = (run / "report.html").read_text(encoding="utf-8")
    caption = html.unescape(_section(doc, "codes"))
    shown, _ = drawable_text(["日本"])
    if shown[0] != "日本":  # no installed font has the glyphs: the caption says what the code points stand for
        assert "[U+65E5 U+672C] = 日本" in caption


# ---------------------------------------------------------------- helpers


def _tiny_model_and_data():
    from aelab.models import build_model

    torch.manual_seed(0)
    model = build_model("ae", {"input_shape": [1, 8, 8], "hidden": [8], "latent_dim": 2})
    g = torch.Generator().manual_seed(0)
    data = SimpleNamespace(x=torch.rand(20, 1, 8, 8, generator=g), y=None, name="random", classes=None)
    return model, data
