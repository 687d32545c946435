"""Semantic hashing: fixed per-example noise, codes that become binary, the constrained-Poisson RBM for counts."""

import json

import pytest
import torch

from aelab import recipes

from aelab.cli import main
from aelab.models import Batch, Progress, build_model
from aelab.models.base import Noise
from aelab.models.rbm import RBM
from aelab.train.plan import plan_run
from aelab.recipes.train import TrainConfig


def test_fixed_noise_belongs_to_the_example_not_the_step_or_the_batch():
    x = torch.rand(4, 3)
    a = Batch(x, index=torch.tensor([7, 2, 9, 4]), noise=Noise(0, step=1, update=0, rows=(0, 4), total=4))
    b = Batch(x[:2], index=torch.tensor([9, 7]), noise=Noise(0, step=50, update=0, rows=(0, 2), total=2))
    na, nb = a.fixed_randn(5), b.fixed_randn(5)
    assert torch.equal(na[0], nb[1]) and torch.equal(na[2], nb[0])  # row 7 and row 9, whatever the step or batch
    assert not torch.equal(na[0], na[1])
    other_seed = Batch(x, index=torch.tensor([7, 2, 9, 4]), noise=Noise(1, step=1, update=0, rows=(0, 4), total=4))
    assert not torch.equal(other_seed.fixed_randn(5), na)


def test_the_noise_drives_the_code_units_to_zero_or_one(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "semhash", "--epochs", "40", "--set", "targets=none", "--validation", "0", "--out", str(run),
                 "--no-progress", "--no-report"]) == 0
    train = [json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines() if '"train"' in r]
    decided = [r["model/bits_decided"] for r in train]
    assert decided[0] < 0.5 < 0.8 < decided[-1]
    import aelab
    from aelab.data import load_dataset

    model = aelab.load(run)
    x = load_dataset("digits", "test").x
    codes = model.binary_codes(x)
    assert codes.dtype == torch.bool and codes.shape == (len(x), 16)
    assert torch.equal(codes, model.encode(x) > 0.5)
    assert 0.2 < codes.float().mean() < 0.8  # the bits are used, not stuck


def test_straight_through_makes_the_forward_code_binary():
    model = build_model("semhash", {"input_shape": [1, 8, 8], "input_kind": "binary", "hidden": [8], "latent_dim": 6,
                                    "binarize": "straight-through"})
    logits = torch.randn(5, 6, requires_grad=True)
    z = model._binary_code(logits, Batch(torch.rand(5, 1, 8, 8)), Progress.at(0))
    assert set(z.detach().unique().tolist()) <= {0.0, 1.0}
    z.sum().backward()
    assert torch.allclose(logits.grad, torch.sigmoid(logits) * (1 - torch.sigmoid(logits)))  # the logistic's gradient


def test_constrained_poisson_rbm_keeps_the_document_length_and_learns():
    torch.manual_seed(0)
    topics = torch.softmax(torch.randn(3, 40) * 3, dim=1)
    docs = torch.stack([torch.distributions.Multinomial(60, topics[i % 3]).sample() for i in range(300)])
    rbm = RBM(RBM.Config(input_shape=(40,), latent_dim=8, visible_unit="poisson", init_std=0.01))
    assert torch.allclose(rbm.visible_mean(torch.rand(5, 8), docs[:5]).sum(1), docs[:5].sum(1))
    opt = torch.optim.SGD(rbm.parameters(), lr=1e-3, momentum=0.9)
    first = None
    for step in range(300):
        terms = rbm.cd1_loss(Batch(docs[(step * 30) % 300 : (step * 30) % 300 + 30]), Progress.at(step))
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
        first = first if first is not None else float(terms["word_ce"])
    assert float(terms["word_ce"]) < first - 0.3  # the reconstruction's word distribution moved towards the data's


def test_rbm_plan_for_documents_starts_with_a_poisson_layer():
    cfg = {"input_shape": [50], "input_kind": "counts", "hidden": [20, 10], "latent_dim": 8, **recipes.semhash.PAPER}
    spec = plan_run("semhash", cfg, "x", pretrain="rbm", pretrain_train=TrainConfig(lr=0.1))
    rbms = spec.before_main()
    assert [s.name for s in rbms] == ["rbm1", "rbm2", "rbm3"]
    assert rbms[0].model_config["visible_unit"] == "poisson" and rbms[0].train.lr == pytest.approx(0.001)
    assert [s.model_config["hidden_unit"] for s in rbms] == ["bernoulli"] * 3  # logistic code units, unlike ae's
    model = build_model("semhash", cfg)
    stack = [RBM(RBM.Config(**s.model_config)) for s in rbms]
    model.initialise_from({s.name: r for s, r in zip(rbms, stack)})
    assert torch.equal(model.encoder[0].weight, stack[0].weight) and torch.equal(model.decoder[-1].bias,
                                                                                  stack[0].visible_bias)
    docs = torch.poisson(torch.full((4, 50), 0.5))
    out = model(docs)
    assert torch.allclose(out.sum(1), torch.ones(4))  # a distribution over the vocabulary


def test_documents_need_counts_and_images_need_intensities():
    with pytest.raises(Exception, match="input_kind"):
        build_model("semhash", {"input_kind": "words"})
    model = build_model("semhash", {"input_shape": [1, 8, 8], "input_kind": "binary", "hidden": [8], "latent_dim": 4})
    with pytest.raises(Exception, match=r"\[0, 1\]"):
        model.check_input(torch.full((2, 1, 8, 8), 3.0))
