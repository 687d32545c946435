"""Several training processes on PyTorch's own engine (gloo on CPU): same weights as one process, any N -> M resume."""

import json
import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import aelab
from aelab.recipes import presets
from aelab.recipes.train import TrainConfig
from aelab.train.callbacks import StopAt
from aelab.train.distributed import Ranks
from aelab.train.plan import plan_run

TRAIN = TrainConfig(epochs=3, batch_size=40, checkpoint_every=4, schedule="constant", lr=3e-3)


def _x():
    return torch.rand(160, 1, 8, 8, generator=torch.Generator().manual_seed(1))


VARIANTS = {"vqvae-ema": ("vqvae", {"ema": True, "restart_after": 1})}  # a name for a tiny preset with settings


def _spec(name):
    model, settings = VARIANTS.get(name, (name, {}))
    return plan_run(model, {**presets(model)["tiny"], **settings}, "digits", train=TRAIN)


def _worker(rank, world, store, name, out, stop_after, resume):
    torch.set_num_threads(1)
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"  # this machine only: gloo talks over loopback, never another interface
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world,
                            timeout=timedelta(seconds=60))  # a stuck collective fails the test instead of hanging CI
    try:
        aelab.fit(_spec(name), _x(), out=out, progress=False, device="cpu", ranks=Ranks(rank, world), resume=resume,
                  callbacks={"model": [StopAt(stop_after)]} if stop_after is not None else None)
    finally:
        dist.destroy_process_group()


def _launch(tmp_path, name, out, stop_after=None, world=2):
    store = tmp_path / f"store-{out.name}-{stop_after}"
    # decided once, here: a worker looking for config.json itself would race rank 0 writing it
    resume = stop_after is None and (out / "config.json").exists()
    ctx = mp.start_processes(_worker, args=(world, str(store), name, str(out), stop_after, resume), nprocs=world,
                             join=False,
                             start_method="spawn")
    deadline = time.time() + 180
    while not ctx.join(timeout=1):
        if time.time() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail(f"the {world} training processes did not finish within 180 s")


def _weights(run):
    return aelab.load(run).state_dict()


def test_two_processes_give_the_weights_of_one_with_the_same_global_batch(tmp_path):
    aelab.fit(_spec("ae"), _x(), out=tmp_path / "one", progress=False, device="cpu")
    _launch(tmp_path, "ae", tmp_path / "two")
    a, b = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    lines = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == len((tmp_path / "one" / "metrics.jsonl").read_text().splitlines())  # rank 0 alone writes


def test_three_processes_on_an_uneven_split_give_the_weights_of_one(tmp_path):
    """A global batch of 40 on 3 processes is 14 + 13 + 13 rows: each process's gradient is weighted by its rows."""
    aelab.fit(_spec("ae"), _x(), out=tmp_path / "one", progress=False, device="cpu")
    _launch(tmp_path, "ae", tmp_path / "three", world=3)
    a, b = _weights(tmp_path / "one"), _weights(tmp_path / "three")
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_a_checkpoint_written_by_two_processes_resumes_in_one_and_vice_versa(tmp_path):
    aelab.fit(_spec("ae"), _x(), out=tmp_path / "ref", progress=False, device="cpu")
    _launch(tmp_path, "ae", tmp_path / "a", stop_after=6)  # 2 processes, stopped after step 6 (checkpoint at 4)
    assert json.loads((tmp_path / "a" / "trainer.json").read_text())["step"] == 4
    aelab.fit(_spec("ae"), _x(), out=tmp_path / "a", progress=False, device="cpu", resume=True)  # 1 process
    aelab.fit(_spec("ae"), _x(), out=tmp_path / "b", progress=False, device="cpu", callbacks={"model": [StopAt(6)]})
    _launch(tmp_path, "ae", tmp_path / "b")  # resumed by 2 processes
    ref = _weights(tmp_path / "ref")
    for run in ("a", "b"):
        got = _weights(tmp_path / run)
        assert all(torch.allclose(ref[k], got[k], atol=1e-6) for k in ref), run


def test_every_update_of_a_multi_update_model_is_reduced(tmp_path):
    """VAE-GAN's three updates, each with its own noise: two processes give the weights of one.

    Training noise is drawn for the global batch from (seed, step, update) and cut per rank (models.base.Noise),
    so a stochastic model trains the same on any number of processes; and the ranks are checked to agree.
    """
    aelab.fit(_spec("vaegan"), _x(), out=tmp_path / "one", progress=False, device="cpu")
    _launch(tmp_path, "vaegan", tmp_path / "two")
    state = json.loads((tmp_path / "two" / "trainer.json").read_text())
    assert state["finished"] and set(state["optimizers"]) == {"encoder", "decoder", "discriminator"}
    a, b = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_the_vq_codebook_statistics_are_reduced_through_the_trainers_ranks(tmp_path):
    """VQ-VAE's EMA codebook and dead-code restarts keep statistics of the global batch, summed over the ranks through
    the trainer's Ranks (Batch.ranks): two processes give the codebook of one."""
    aelab.fit(_spec("vqvae-ema"), _x(), out=tmp_path / "one", progress=False, device="cpu")
    _launch(tmp_path, "vqvae-ema", tmp_path / "two")
    a, b = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    assert {"quantizer.cluster_size", "quantizer.unused_steps"} <= set(a)
    assert all(torch.allclose(a[k].double(), b[k].double(), atol=1e-5) for k in a)


def test_torchrun_runs_the_cli_on_two_processes(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    common = ["train", "ae", "--preset", "tiny", "--epochs", "2", "--batch-size", "50", "--schedule", "constant",
              "--no-progress", "--no-report"]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          "-m", "aelab", *common, "--out", str(tmp_path / "two")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert two.returncode == 0, two.stderr[-2000:]
    assert two.stdout.count("run folder:") == 1  # rank 0 alone speaks
    one = subprocess.run([sys.executable, "-m", "aelab", *common, "--out", str(tmp_path / "one")], capture_output=True,
                         text=True, env=env, timeout=300)
    assert one.returncode == 0, one.stderr
    a, b = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA GPUs for nccl")
def test_nccl_on_two_gpus(tmp_path):
    env = {**os.environ}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m", "aelab", "train",
                           "ae", "--preset", "tiny", "--epochs", "2", "--out", str(tmp_path / "g"), "--no-progress",
                           "--no-report", "--device", "cuda"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]


def _disagreeing_worker(rank, world, store, result):
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world,
                            timeout=timedelta(seconds=60))
    try:
        Ranks(rank, world).agree(rank == 1, "whether to resume")
    except Exception as e:  # noqa: BLE001 - the message is what the test checks
        with open(f"{result}.{rank}", "w") as f:
            f.write(str(e))
    finally:
        dist.destroy_process_group()


def test_ranks_that_decide_differently_stop_with_a_message_instead_of_waiting(tmp_path):
    mp.start_processes(_disagreeing_worker, args=(2, str(tmp_path / "store"), str(tmp_path / "said")), nprocs=2,
                       start_method="spawn")
    for rank in (0, 1):
        assert "disagree on whether to resume: [0, 1]" in (tmp_path / f"said.{rank}").read_text()
