"""Property tests for every parser and loader: malformed input raises the project's own error, one line.

IDX files have their own in test_data.py. Here: .npy arrays, image folders, configs, run specs,
safetensors checkpoints, trainer state JSON, whole run folders and metrics.jsonl.
"""

import io
import json

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save as st_save

import aelab
from aelab.config import from_dict
from aelab.data.arrays import load_npy
from aelab.data.images import load_image_folder
from aelab.errors import AelabError
from aelab.models import model_class, model_names
from aelab.runs import read_json, read_tensors
from aelab.train.checkpoint import load_weights
from aelab.recipes.stages import RunSpec
from aelab.recipes.train import TrainConfig

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _one_line(e: Exception) -> None:
    assert isinstance(e, AelabError), f"{type(e).__name__}: {e}"
    assert str(e) and "\n" not in str(e)


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=arr.dtype == object)
    return buf.getvalue()


arrays = st.one_of(
    st.binary(max_size=200),
    st.builds(lambda b, cut: b[:cut], st.builds(_npy_bytes, st.builds(np.random.default_rng(0).random, st.tuples(
        st.integers(1, 5), st.integers(1, 6), st.integers(1, 6)))), st.integers(0, 400)),
    st.builds(_npy_bytes, st.sampled_from([
        np.zeros((0, 4, 4)), np.full((3, 4), np.nan), np.ones((2, 3, 3)) * 7, np.array(["a", "b"]),
        np.array([{"x": 1}], dtype=object), np.ones((2, 2, 2, 2, 2)), np.ones(5), np.complex64(np.ones((3, 3, 3))),
        np.ones((3, 3, 3), dtype=bool), np.arange(27, dtype=np.int64).reshape(3, 3, 3) - 5])),
)


@SETTINGS
@given(data=arrays)
def test_npy_loader_parses_or_refuses(tmp_path, data):
    path = tmp_path / "a.npy"
    path.write_bytes(data)
    try:
        ds = load_npy(path, "all")
    except Exception as e:  # noqa: BLE001  (the property: only our error type escapes)
        _one_line(e)
        return
    assert ds.x.dim() == 4 and torch.isfinite(ds.x).all() and 0 <= float(ds.x.min()) and float(ds.x.max()) <= 1


def _png(shape, mode):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.zeros(shape, dtype=np.uint8), mode=None).convert(mode).save(buf, format="PNG")
    return buf.getvalue()


files = st.lists(
    st.tuples(
        st.sampled_from(["a.png", "b.jpg", "sub/c.png", "d.txt", "e.PNG", "sub/f.gif"]),
        st.one_of(st.binary(max_size=120),
                  st.builds(_png, st.sampled_from([(4, 4), (5, 7), (4, 4, 3)]), st.sampled_from(["L", "RGB", "RGBA", "P"])),
                  st.builds(lambda b, n: b[:n], st.builds(_png, st.just((6, 6)), st.just("L")), st.integers(0, 60))),
    ),
    max_size=5,
)


@SETTINGS
@given(entries=files)
def test_image_folder_loader_parses_or_refuses(tmp_path_factory, entries):
    folder = tmp_path_factory.mktemp("imgs")
    for name, data in entries:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    try:
        ds = load_image_folder(folder, "all")
    except Exception as e:  # noqa: BLE001
        _one_line(e)
        return
    assert ds.x.dim() == 4 and len(ds.x) >= 1 and 0 <= float(ds.x.min()) and float(ds.x.max()) <= 1


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
config_keys = st.sampled_from(["input_shape", "hidden", "code_dim", "latent_dim", "activation", "loss", "arch",
                               "channels", "likelihood", "sigma", "beta", "gamma", "n_hidden", "hidden_unit", "bits",
                               "norm", "dropout", "x"])


@SETTINGS
@given(name=st.sampled_from(model_names()), data=st.dictionaries(config_keys, json_values, max_size=5))
def test_model_configs_build_or_refuse(name, data):
    cls = model_class(name)
    try:
        cfg = from_dict(cls.Config, data, f"{name} config")
    except Exception as e:  # noqa: BLE001
        _one_line(e)
        return
    assert type(cfg) is cls.Config


train_keys = st.sampled_from(["epochs", "batch_size", "optimizer", "lr", "momentum", "betas", "schedule",
                              "grad_clip", "eval_every", "seed", "binarize", "update_options", "nope"])


@SETTINGS
@given(train=st.dictionaries(train_keys, json_values, max_size=5),
       top=st.dictionaries(st.sampled_from(["model", "model_config", "data", "stages", "extra"]), json_values, max_size=4))
def test_run_specs_parse_or_refuse(train, top):
    try:
        from_dict(TrainConfig, train, "train")
    except Exception as e:  # noqa: BLE001
        _one_line(e)
    try:
        RunSpec.from_json({"model": "ae", "model_config": {}, **top, "train": train})
    except Exception as e:  # noqa: BLE001
        _one_line(e)


def _safetensors(tensors):
    return st_save(tensors)


weight_files = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda n, cut: _safetensors({"w": torch.zeros(n)})[:cut], st.integers(1, 20), st.integers(0, 200)),
    st.builds(lambda b: (8).to_bytes(8, "little") + b, st.binary(max_size=50)),  # header length then junk
    st.builds(lambda n: (n).to_bytes(8, "little") + b"{}", st.integers(0, 2**64 - 1)),  # absurd header length
)


@SETTINGS
@given(data=weight_files)
def test_safetensors_reader_parses_or_refuses(tmp_path, data):
    path = tmp_path / "m.safetensors"
    path.write_bytes(data)
    try:
        tensors = read_tensors(path)
    except Exception as e:  # noqa: BLE001
        _one_line(e)
        return
    model = aelab.models.build_model("ae", {"input_shape": [1, 2, 2], "hidden": [3], "latent_dim": 1})
    try:
        load_weights(model, tensors, path)
    except Exception as e:  # noqa: BLE001
        _one_line(e)


@SETTINGS
@given(text=st.one_of(st.text(max_size=50), st.builds(json.dumps, json_values)))
def test_trainer_state_and_run_folders_parse_or_refuse(tmp_path_factory, text):
    run = tmp_path_factory.mktemp("run")
    (run / "config.json").write_text(text)
    (run / "trainer.json").write_text(text)
    try:
        read_json(run / "trainer.json")
    except Exception as e:  # noqa: BLE001
        _one_line(e)
    with pytest.raises(AelabError) as info:
        aelab.load(run)  # never a valid run: there are no weights
    _one_line(info.value)


@SETTINGS
@given(lines=st.lists(st.one_of(st.text(max_size=40), st.builds(json.dumps, json_values)), max_size=8))
def test_metrics_log_reads_whatever_a_crash_left(tmp_path_factory, lines):
    from aelab.runs import MetricsLog

    path = tmp_path_factory.mktemp("m") / "metrics.jsonl"
    path.write_text("\n".join(lines))
    log = MetricsLog(path)
    records = log.records()  # cut or foreign lines are skipped, never fatal
    assert all(isinstance(r, dict) for r in records)
    log.truncate_after(10)
    assert all(r["step"] <= 10 for r in log.records())
