"""A run chooses its epoch on validation items held out of its training data, and semhash's codes learn
neighbourhood targets: the choice is recorded, survives a kill, and never sees the test split."""

import json

import numpy as np
import pytest
import torch

import aelab
from aelab.api.fit import held_out
from aelab.cli import main
from aelab.data import Dataset, load_dataset
from aelab.errors import ConfigError
from aelab.eval.selection import validation_score
from aelab.models import Batch, build_model
from aelab.nn.neighbours import nearest, neighbourhood_codes
from aelab.train.callbacks import StopAt

TINY = {"hidden": [32], "latent_dim": 8}


def _log(run, split: str) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r["split"] == split]


def test_a_hasher_keeps_the_epoch_that_retrieves_its_validation_items_best(tmp_path, capsys):
    run = aelab.fit("semhash", "digits", out=tmp_path / "r", config=TINY, progress=False, report=True,
                    train={"epochs": 4, "validation": 0.2, "lr": 3e-3})
    scores = _log(run.path, "validation")
    assert [round(r["epoch"]) for r in scores] == [1, 2, 3, 4]
    values = [r["precision@100"] for r in scores]
    (chosen,) = _log(run.path, "selection")
    assert chosen["epoch"] == 1 + int(np.argmax(values)) and chosen["value"] == max(values)
    assert f"kept epoch {chosen['epoch']} of 4" in capsys.readouterr().out
    assert f"the weights are those of epoch {chosen['epoch']} of 4" in (run.path / "report.html").read_text().lower()
    tests = _log(run.path, "test")  # the last test record is the kept model's, evaluated again if it was earlier
    assert len(tests) == 4 + (chosen["epoch"] != 4) and tests[-1]["bce"] == pytest.approx(run.metrics["bce"])
    if chosen["epoch"] != 4:
        assert tests[-1]["bce"] == pytest.approx(tests[chosen["epoch"] - 1]["bce"])
    # the run holds the chosen epoch: scored again on the same held-out items, it gives the chosen value
    train = load_dataset("digits", "train")
    fit_set, val_set = held_out(train, 0.2, 0)
    assert len(fit_set) + len(val_set) == len(train) and len(val_set) == round(0.2 * len(train))
    assert not set(fit_set.index.tolist()) & set(val_set.index.tolist())
    score = validation_score(type(run.model), fit_set.x, fit_set.y, val_set.x, val_set.y)
    assert score(aelab.load(run.path)) == ("precision@100", pytest.approx(chosen["value"]))


@pytest.mark.parametrize("config, splits", [({"hidden": [32], "latent_dim": 8}, ["selection"]),
                                            ({"hidden": [32], "latent_dim": 32}, ["choice", "selection"])],
                         ids=["epoch", "subspace-and-epoch"])
def test_a_killed_run_resumes_to_the_same_choices_and_weights(tmp_path, config, splits):
    kw = {"config": config, "train": {"epochs": 3, "validation": 0.2}, "progress": False}
    aelab.fit("semhash", "digits", out=tmp_path / "full", **kw)
    aelab.fit("semhash", "digits", out=tmp_path / "cut", callbacks={"model": [StopAt(20)]}, **kw)
    aelab.fit("semhash", out=tmp_path / "cut", resume=True, progress=False)
    a, b = aelab.load(tmp_path / "full").state_dict(), aelab.load(tmp_path / "cut").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    for split in splits:  # each choice made once, the same as the uninterrupted run's
        untimed = [[{k: v for k, v in r.items() if k != "time"} for r in _log(tmp_path / run, split)]
                   for run in ("full", "cut")]
        assert untimed[0] == untimed[1] and len(untimed[0]) == 1


def test_an_unlabelled_corpus_is_scored_by_its_input_neighbours(tmp_path):
    data = load_dataset("digits", "train")
    run = aelab.fit("semhash", Dataset(x=data.x, y=None, name="unlabelled"), out=tmp_path / "u",
                    config={**TINY, "input_kind": "binary"},
                    progress=False, train={"epochs": 2, "validation": 0.1})
    scores = [r["neighbours@100"] for r in _log(run.path, "validation")]
    assert len(scores) == 2 and all(0 < s <= 1 for s in scores)


def test_validation_needs_a_model_with_binary_codes(tmp_path, capsys):
    assert main(["train", "ae", "--preset", "tiny", "--validation", "0.1", "--out", str(tmp_path / "a"),
                 "--no-progress", "--no-report"]) == 1
    assert not (tmp_path / "a").exists()  # refused before anything was written
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("aelab: error: validation chooses the epoch by retrieval") and len(err) == 1


def test_neighbourhood_targets_follow_the_clusters_and_use_every_bit():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((6, 40)) * 3
    labels = np.repeat(np.arange(6), 50)
    x = centres[labels] + rng.standard_normal((300, 40))
    near = nearest(x / np.linalg.norm(x, axis=1, keepdims=True), 5)
    assert near.shape == (300, 5) and not (near == np.arange(300)[:, None]).any()  # never its own neighbour
    codes = neighbourhood_codes(x, 8, neighbours=5, hops=2)
    assert codes.shape == (300, 8) and codes.dtype == bool
    assert 0.2 < codes.mean(0).min() and codes.mean(0).max() < 0.8  # balanced bits (ITQ on centred data)
    dist = (codes[:, None, :] != codes[None, :, :]).sum(2)
    same = labels[:, None] == labels[None, :]
    assert dist[same].mean() < 0.5 * dist[~same].mean()


def test_the_target_loss_needs_the_trainers_rows():
    model = build_model("semhash", {"input_shape": [1, 8, 8], "input_kind": "binary", **TINY})
    with pytest.raises(ConfigError, match="neighbourhood targets"):
        model.loss(Batch(torch.rand(4, 1, 8, 8)), None)
    model.set_training_data(torch.rand(20, 1, 8, 8))
    terms = model.loss(Batch(torch.rand(4, 1, 8, 8), index=torch.arange(4)), None)
    assert terms["loss"].requires_grad and 0 <= float(terms["bits_agree"]) <= 1


def test_documents_enter_as_the_tfidf_of_the_training_set():
    from sklearn.feature_extraction.text import TfidfTransformer

    counts = torch.poisson(torch.full((30, 12), 0.7))
    counts[:, 0] = 0  # a word no document has
    model = build_model("semhash", {"input_shape": [12], "hidden": [8], "latent_dim": 4})
    model.prepare(counts)
    want = TfidfTransformer(sublinear_tf=True).fit(counts.numpy()).transform(counts.numpy()).toarray()
    assert np.allclose(model.features(counts).numpy(), want, atol=1e-5)


def test_codes_longer_than_the_features_are_several_codes_of_all_of_them():
    # 3 features, 8 bits: ITQ has 3 directions, so the target codes repeat them rotated (they once came out 3 wide
    # and the training failed inside torch on the shapes)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((60, 3))
    codes = neighbourhood_codes(x, 8, neighbours=5, hops=2)
    assert codes.shape == (60, 8) and len(np.unique(codes, axis=0)) > 3
    model = build_model("semhash", {"input_shape": [3], "hidden": [8], "latent_dim": 8, "input_kind": "binary"})
    model.set_training_data(torch.from_numpy((x - x.min()) / (x.max() - x.min())).float())
    assert model.targets.shape == (60, 8)


def test_long_codes_from_a_subspace_are_several_codes_of_its_directions():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(6), 50)
    x = (rng.standard_normal((6, 40)) * 3)[labels] + rng.standard_normal((300, 40))
    plain = neighbourhood_codes(x, 8, neighbours=5, hops=2)
    assert np.array_equal(neighbourhood_codes(x, 8, neighbours=5, hops=2, subspace=8), plain)  # not longer: the same
    codes = neighbourhood_codes(x, 20, neighbours=5, hops=2, subspace=8)
    assert codes.shape == (300, 20) and 0.2 < codes.mean(0).min() and codes.mean(0).max() < 0.8
    assert not np.array_equal(codes[:, :8], codes[:, 8:16])  # each part its own rotation
    dist = (codes[:, None, :] != codes[None, :, :]).sum(2)
    same = labels[:, None] == labels[None, :]
    assert dist[same].mean() < 0.5 * dist[~same].mean()
    model = build_model("semhash", {"input_shape": [40], "hidden": [16], "latent_dim": 20, "subspace": 8,
                                    "input_kind": "binary"})
    model.set_training_data(torch.from_numpy((x - x.min()) / (x.max() - x.min())).float())
    assert model.targets.shape == (300, 20)
    with pytest.raises(ConfigError, match="subspace"):
        build_model("semhash", {"input_shape": [40], "subspace": -1})


CHOOSING = {"hidden": [32], "latent_dim": 32}  # 32 bits: subspaces 0, 16 and 24 to choose among


def test_a_hasher_chooses_its_target_subspace_on_the_validation_items_and_records_it(tmp_path, capsys):
    from aelab.eval.selection import code_score
    from aelab.models.semhash import SUBSPACES

    run = aelab.fit("semhash", "digits", out=tmp_path / "r", config=CHOOSING, progress=False, report=True,
                    train={"epochs": 1, "validation": 0.2})
    (choice,) = _log(run.path, "choice")
    assert list(choice["scores"]) == [f"subspace={s}" for s in SUBSPACES if s < 32]
    best = max(SUBSPACES[:3], key=lambda s: (choice["scores"][f"subspace={s}"], -s))
    assert choice["chosen"] == {"subspace": best} and choice["metric"] == "precision@100 of the target codes"
    assert run.model.config.subspace == best
    assert run.folder.read_spec().main.model_config["subspace"] == best  # a resume trains the same targets
    assert f"semhash: chose subspace {best} on the validation items" in capsys.readouterr().out
    assert f"Chosen before training on the validation items: subspace {best}" in (run.path / "report.html").read_text()
    # made of the training split's fit and validation items alone: the same call on them gives the same choice
    fit_set, val_set = held_out(load_dataset("digits", "train"), 0.2, 0)
    queries, score = code_score(fit_set.x, fit_set.y, val_set.x, val_set.y)
    as_planned = {**run.folder.read_spec().main.model_config, "subspace": None}
    again = build_model("semhash", as_planned).choose_settings(fit_set.x, queries, score)
    assert again.settings == {"subspace": best} and again.scores == pytest.approx(choice["scores"])


def test_nothing_is_chosen_when_the_subspace_is_given_or_no_items_are_held_out(tmp_path):
    from aelab.models.semhash import SUBSPACE

    given = aelab.fit("semhash", "digits", out=tmp_path / "given", config={**CHOOSING, "subspace": 16},
                      progress=False, train={"epochs": 1, "validation": 0.2})
    assert _log(given.path, "choice") == [] and given.model.config.subspace == 16
    bare = aelab.fit("semhash", "digits", out=tmp_path / "bare", config=CHOOSING, progress=False,
                     train={"epochs": 1, "validation": 0})
    assert _log(bare.path, "choice") == [] and bare.model.config.subspace is None
    x = load_dataset("digits", "train").x
    model = build_model("semhash", bare.folder.read_spec().main.model_config)
    model.prepare(x)
    model.set_training_data(x)  # without validation, the subspace part A chose
    feats = model.features(x).numpy()
    assert torch.equal(model.targets, torch.from_numpy(neighbourhood_codes(feats, 32, 10, 3, subspace=SUBSPACE)))


def test_an_unlabelled_run_chooses_by_its_label_free_score(tmp_path):
    data = load_dataset("digits", "train")
    run = aelab.fit("semhash", Dataset(x=data.x, y=None, name="unlabelled"), out=tmp_path / "r", config=CHOOSING,
                    progress=False, train={"epochs": 1, "validation": 0.2})
    (choice,) = _log(run.path, "choice")
    assert choice["metric"] == "neighbours@100 of the target codes" and len(choice["scores"]) == 3
