"""The VQ-VAE vector quantiser (van den Oord et al. 2017): nearest codes, straight-through gradients, EMA, restarts."""

import threading

import pytest
import torch
from safetensors.torch import load_file, save_file

from aelab.errors import ConfigError
from aelab.nn.collective import ALONE
from aelab.nn.quantizer import VectorQuantizer, codebook_usage


def _vq(seed=0, **kw):
    torch.manual_seed(seed)
    kw = {"num_codes": 8, "dim": 3, **kw}
    return VectorQuantizer(**kw)


def _spread(vq, seed=1):
    """A codebook of well separated codes (the uniform start in +-1/K is too small to tell codes apart in tests)."""
    with torch.no_grad():
        vq.codebook.copy_(torch.randn(vq.num_codes, vq.dim, generator=torch.Generator().manual_seed(seed)))
        if vq.ema:
            vq.code_sum.copy_(vq.codebook)
    return vq


def _z(*shape, seed=2):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _set(vq, codebook):
    with torch.no_grad():
        vq.codebook.copy_(torch.tensor(codebook))
        if vq.ema:
            vq.code_sum.copy_(vq.codebook)
            vq.cluster_size.fill_(1.0)


# --- forward values -------------------------------------------------------------------------------------------
def test_every_output_vector_is_the_codebook_row_of_its_index():
    vq = _spread(_vq()).train()
    z = _z(4, 3, 5, 6)
    q, idx, loss = vq(z)
    assert q.shape == z.shape and q.dtype == z.dtype and idx.shape == (4, 5, 6) and idx.dtype == torch.long
    rows = q.movedim(1, -1).reshape(-1, 3)
    assert torch.equal(rows, vq.codebook.detach()[idx.reshape(-1)])  # exactly, not up to rounding
    assert not torch.equal(q, z)
    assert loss.ndim == 0


def test_indices_are_the_true_nearest_codes():
    vq = _spread(_vq(num_codes=16, dim=4)).eval()
    z = _z(6, 4, 7, 7)
    rows = z.movedim(1, -1).reshape(-1, 4)
    brute = torch.cdist(rows.double(), vq.codebook.detach().double())
    assert torch.equal(vq.nearest(z).reshape(-1), brute.argmin(1))
    assert torch.equal(vq(z)[1].reshape(-1), brute.argmin(1))
    d = vq.distances(z)
    assert d.shape == (6, 7, 7, 16)
    assert torch.allclose(d.reshape(-1, 16).double(), brute**2, atol=1e-4)


def test_flat_and_3d_inputs_are_channels_first():
    vq = _spread(_vq()).eval()
    z2, z3 = _z(5, 3), _z(2, 3, 7)
    q2, i2, _ = vq(z2)
    q3, i3, _ = vq(z3)
    assert q2.shape == (5, 3) and i2.shape == (5,) and q3.shape == (2, 3, 7) and i3.shape == (2, 7)
    assert torch.equal(i3[1, 4], vq.nearest(z3[1:2, :, 4])[0])
    with pytest.raises(ConfigError, match=r"\(B, 3, \.\.\.\)"):
        vq(_z(2, 4, 5))


def test_loss_is_codebook_plus_beta_commitment_as_means_over_elements():
    z = _z(2, 3, 4, 4)
    for ema, factor in ((False, 1.25), (True, 0.25)):
        vq = _spread(_vq(ema=ema)).eval()
        q, _, loss = vq(z)
        mse = ((z - q) ** 2).mean()
        assert torch.allclose(loss, factor * mse)


def test_bf16_autocast_picks_the_float32_codes():
    vq = _spread(_vq(num_codes=32, dim=8)).eval()
    z = _z(4, 8, 4, 4).bfloat16()
    ref = vq.nearest(z.float())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        q, idx, loss = vq(z)
    assert torch.equal(idx, ref) and q.dtype == torch.bfloat16 and loss.dtype == torch.float32


# --- gradients ------------------------------------------------------------------------------------------------
def test_straight_through_gradient_reaches_the_encoder_plus_commitment():
    vq = _spread(_vq(beta=0.25)).train()
    z = _z(2, 3, 4, 4).requires_grad_()
    w = _z(2, 3, 4, 4, seed=5)
    q, _, loss = vq(z)
    ((q * w).sum() + loss).backward()
    expected = w + 0.25 * 2 * (z.detach() - q.detach()) / z.numel()  # d(downstream)/dq copied, + commitment
    assert torch.allclose(z.grad, expected, atol=1e-7)


def test_codebook_gets_gradient_from_the_codebook_term_only():
    vq = _spread(_vq(beta=0.25)).train()
    z = _z(2, 3, 4, 4)
    q, idx, loss = vq(z)
    ((q * _z(2, 3, 4, 4, seed=5)).sum() + loss).backward()  # the downstream term must not reach the codebook
    rows = z.movedim(1, -1).reshape(-1, 3)
    e = vq.codebook.detach()[idx.reshape(-1)]
    onehot = torch.nn.functional.one_hot(idx.reshape(-1), 8).float()
    expected = onehot.t() @ (2 * (e - rows) / z.numel())
    assert torch.allclose(vq.codebook.grad, expected, atol=1e-7)
    assert (vq.codebook.grad[onehot.sum(0) == 0] == 0).all()


def test_ema_codebook_is_a_buffer_the_optimiser_never_sees():
    vq = _spread(_vq(ema=True)).train()
    assert list(vq.parameters()) == [] and not vq.codebook.requires_grad
    assert {"codebook", "cluster_size", "code_sum"} <= set(dict(vq.named_buffers()))
    z = _z(2, 3, 4, 4).requires_grad_()
    q, _, loss = vq(z)
    (q.sum() + loss).backward()
    assert vq.codebook.grad is None and z.grad is not None


# --- EMA --------------------------------------------------------------------------------------------------------
def test_ema_step_matches_a_hand_computed_one_with_laplace_smoothing():
    vq = VectorQuantizer(3, 2, ema=True, decay=0.9, eps=0.1).train()
    _set(vq, [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # N = (1, 1, 1), m = e: each code one pseudo-vector
    z = torch.tensor([[0.1, 0.0], [0.9, 0.1], [1.1, -0.1]])  # -> codes 0, 1, 1; code 2 unused
    _, idx, loss = vq(z)
    assert idx.tolist() == [0, 1, 1]
    assert torch.allclose(loss, 0.25 * torch.tensor([0.01, 0.0, 0.01, 0.01, 0.01, 0.01]).mean())
    # N = 0.9 * 1 + 0.1 * (1, 2, 0) = (1.0, 1.1, 0.9), sum 3.0; N~ = (N + 0.1) / (3.0 + 3 * 0.1) * 3.0
    # m = 0.9 * e + 0.1 * sums = ((0.01, 0), (0.9 + 0.2, 0), (0, 0.9))
    assert torch.allclose(vq.cluster_size, torch.tensor([1.0, 1.1, 0.9]))
    assert torch.allclose(vq.code_sum, torch.tensor([[0.01, 0.0], [1.1, 0.0], [0.0, 0.9]]))
    smoothed = torch.tensor([1.1, 1.2, 1.0]) / 3.3 * 3.0
    expected = torch.tensor([[0.01 / smoothed[0], 0.0], [1.1 / smoothed[1], 0.0], [0.0, 0.9 / smoothed[2]]])
    assert torch.allclose(vq.codebook, expected, atol=1e-6)
    assert torch.allclose(vq.codebook[2], torch.tensor([0.0, 0.99]), atol=1e-6)  # the smoothing shrinks unused codes


def test_a_fresh_ema_code_is_one_pseudo_vector_at_its_place_so_an_unused_code_stays():
    vq = _vq(num_codes=4, dim=2, ema=True).train()
    assert torch.equal(vq.code_sum, vq.codebook) and vq.code_sum.data_ptr() != vq.codebook.data_ptr()
    assert (vq.cluster_size == 1).all()
    start = vq.codebook.clone()
    _, idx, _ = vq(start[:1].repeat(5, 1))  # only code 0 is used
    assert (idx == 0).all()
    assert torch.allclose(vq.codebook[1:], start[1:], rtol=1e-3)  # started from N = 0 they would be divided by about eps


def test_eval_mode_changes_no_state():
    vq = _spread(_vq(ema=True, restart_after=1)).eval()
    before = {k: v.clone() for k, v in vq.state_dict().items()}
    vq(_z(4, 3, 2, 2))
    vq.nearest(_z(4, 3, 2, 2))
    assert all(torch.equal(before[k], v) for k, v in vq.state_dict().items())


# --- dead codes -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ema", [False, True])
def test_dead_codes_restart_to_encoder_outputs_after_restart_after_calls(ema):
    vq = VectorQuantizer(4, 2, ema=ema, decay=0.5, restart_after=2).train()
    _set(vq, [[0.0, 0.0], [10.0, 10.0], [-10.0, 10.0], [10.0, -10.0]])
    z = 0.1 * _z(6, 2)  # all near code 0
    vq(z)
    assert vq.unused_steps.tolist() == [0, 1, 1, 1]
    far = torch.tensor([[10.0, 10.0], [-10.0, 10.0], [10.0, -10.0]])
    assert torch.allclose(vq.codebook[1:], far, atol=1e-3)  # not yet (EMA: shrunk by the smoothing alone)
    used = vq.codebook[0].clone()
    vq(z)
    assert vq.unused_steps.tolist() == [0, 0, 0, 0]
    new = vq.codebook[1:]
    assert all(any(torch.equal(r, x) for x in z) for r in new)  # each restarted code is an encoder output
    assert len({tuple(r.tolist()) for r in new}) == 3  # drawn without replacement
    if ema:
        assert torch.equal(vq.code_sum[1:], new) and vq.cluster_size[1:].tolist() == [1.0, 1.0, 1.0]
    else:
        assert torch.equal(vq.codebook[0], used)  # the used code is left alone (its EMA update aside)


def test_restarts_are_deterministic_given_the_seed_or_a_generator():
    def run(seed, gen_seed=None):
        vq = VectorQuantizer(6, 2, restart_after=1).train()
        _set(vq, [[0.0, 0.0]] + [[50.0 + i, 50.0] for i in range(5)])
        torch.manual_seed(seed)
        g = None if gen_seed is None else torch.Generator().manual_seed(gen_seed)
        vq(_z(20, 2), generator=g)
        return vq.codebook.detach().clone()

    assert torch.equal(run(0), run(0)) and not torch.equal(run(0), run(1))
    assert torch.equal(run(0, 7), run(1, 7)) and not torch.equal(run(0, 7), run(0, 8))


def test_restart_with_fewer_vectors_than_dead_codes_repeats_vectors():
    vq = VectorQuantizer(5, 2, restart_after=1).train()
    _set(vq, [[0.0, 0.0]] + [[50.0 + i, 50.0] for i in range(4)])
    z = _z(2, 2)
    vq(z)
    assert all(any(torch.equal(r, x) for x in z) for r in vq.codebook[1:])


def test_gradient_still_flows_when_a_restart_rewrites_the_codebook():
    vq = VectorQuantizer(4, 2, restart_after=1).train()
    _set(vq, [[0.0, 0.0], [9.0, 9.0], [-9.0, 9.0], [9.0, -9.0]])
    z = (0.1 * _z(6, 2)).requires_grad_()
    q, _, loss = vq(z)
    (q.sum() + loss).backward()  # the in-place restart must not break the graph
    assert z.grad is not None and vq.codebook.grad is not None


def test_init_from_data_takes_distinct_encoder_outputs_and_resets_state():
    vq = _vq(num_codes=5, dim=2, ema=True, restart_after=3)
    vq.unused_steps.fill_(2)
    z = _z(4, 2, 3)  # 12 vectors
    vq.init_from_data(z)
    rows = z.movedim(1, -1).reshape(-1, 2)
    assert all(any(torch.equal(r, x) for x in rows) for r in vq.codebook)
    assert len({tuple(r.tolist()) for r in vq.codebook}) == 5
    assert torch.equal(vq.code_sum, vq.codebook) and (vq.cluster_size == 1).all() and (vq.unused_steps == 0).all()


# --- statistics -----------------------------------------------------------------------------------------------
def test_perplexity_is_the_effective_number_of_codes():
    vq = _vq(num_codes=8)
    uniform = vq.usage(torch.arange(5).repeat(4, 3))
    assert float(uniform["perplexity"]) == pytest.approx(5.0) and float(uniform["usage"]) == pytest.approx(5 / 8)
    single = vq.usage(torch.full((3, 4, 4), 6))
    assert float(single["perplexity"]) == pytest.approx(1.0) and float(single["usage"]) == pytest.approx(1 / 8)
    skewed = codebook_usage(torch.tensor([3, 1, 0, 0]))
    assert float(skewed["perplexity"]) == pytest.approx(2 ** (0.75 * 0.4150375 + 0.25 * 2), rel=1e-5)
    summed = vq.counts(torch.arange(5)) + vq.counts(torch.arange(5))  # a data set: histograms summed over batches
    assert float(codebook_usage(summed)["perplexity"]) == pytest.approx(5.0)


# --- indices <-> vectors --------------------------------------------------------------------------------------
def test_lookup_and_nearest_are_exact_inverses():
    vq = _spread(_vq(num_codes=8, dim=3))
    e = vq.codebook.detach()
    assert torch.equal(vq.lookup(vq.nearest(e)), e)  # rows (K, D) are (B, D) without spatial dims
    i = torch.randint(0, 8, (2, 4, 5), generator=torch.Generator().manual_seed(3))
    v = vq.lookup(i)
    assert v.shape == (2, 3, 4, 5) and v.is_contiguous()
    assert torch.equal(vq.nearest(v), i)
    assert torch.equal(vq.lookup(torch.tensor(3)), e[3])
    with pytest.raises(ConfigError, match="0..7"):
        vq.lookup(torch.tensor([0, 8]))


# --- persistence ------------------------------------------------------------------------------------------------
def test_state_dict_round_trips_through_safetensors_and_resumes_exactly(tmp_path):
    vq = _spread(_vq(ema=True, restart_after=2)).train()
    for s in range(3):
        vq(_z(4, 3, 2, 2, seed=s))
    assert all(type(t) is torch.Tensor for t in vq.state_dict().values())
    save_file(vq.state_dict(), tmp_path / "vq.safetensors")
    fresh = _vq(seed=9, ema=True, restart_after=2)
    fresh.load_state_dict(load_file(tmp_path / "vq.safetensors"))
    z = _z(4, 3, 2, 2, seed=7)
    for m in (vq, fresh):
        m.eval()
    assert all(torch.equal(a, b) for a, b in zip(vq(z), fresh(z)))
    for m in (vq, fresh):
        m.train()
        torch.manual_seed(4)
        m(0.01 * z)  # an EMA step and restarts of the codes this batch leaves unused
    assert all(torch.equal(a, b) for a, b in zip(vq.state_dict().values(), fresh.state_dict().values()))

    plain = _spread(_vq(restart_after=1))
    save_file(plain.state_dict(), tmp_path / "plain.safetensors")
    other = _vq(seed=3, restart_after=1)
    other.load_state_dict(load_file(tmp_path / "plain.safetensors"))
    assert torch.equal(other.codebook, plain.codebook)


# --- arguments ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw", [{"num_codes": 0}, {"num_codes": 2.0}, {"num_codes": True}, {"dim": 0},
                                {"beta": -0.1}, {"beta": float("nan")}, {"beta": "0.25"}, {"decay": 1.0},
                                {"decay": -0.1}, {"eps": 0.0}, {"eps": float("inf")}, {"restart_after": -1},
                                {"restart_after": 1.5}, {"ema": 1}])
def test_bad_arguments_are_one_line_config_errors(kw):
    with pytest.raises(ConfigError) as info:
        VectorQuantizer(**{"num_codes": 4, "dim": 2, **kw})
    assert "\n" not in str(info.value) and next(iter(kw)) in str(info.value)


# --- several processes ------------------------------------------------------------------------------------------
class _ThreadRanks:
    """The `Collective` that the trainer's Ranks gives a model, for ranks that are threads of this process: fast,
    and no process group (tests/test_distributed.py trains a VQ-VAE on two real gloo processes)."""

    def __init__(self, world):
        self.world, self.local = world, threading.local()
        self.barrier, self.slots = threading.Barrier(world, timeout=20), [None] * world

    def _exchange(self, t):
        self.slots[self.local.rank] = t.clone()
        self.barrier.wait()
        got = list(self.slots)
        self.barrier.wait()  # nobody overwrites a slot before everyone has read it
        return got

    def all_sum(self, t):
        got = self._exchange(t)
        t.copy_(sum(got[1:], got[0]))

    def span(self, rows, device):
        sizes = [int(g) for g in self._exchange(torch.tensor([rows]))]
        return sum(sizes[: self.local.rank]), sum(sizes)


def _steps(vq, z, ranks=ALONE):
    vq.train()
    torch.manual_seed(11)
    for s in range(3):
        vq(z * (1 + s), generator=torch.Generator().manual_seed(s), ranks=ranks)


def test_two_ranks_keep_the_codebook_of_one_process_with_the_global_batch():
    z = _z(6, 3, 2, 2)
    one = _spread(_vq(ema=True, restart_after=1))
    _steps(one, z)
    no_restarts = _spread(_vq(ema=True))
    _steps(no_restarts, z)
    assert not torch.allclose(one.codebook, no_restarts.codebook, atol=1e-3)  # some codes were restarted

    ranks = _ThreadRanks(2)
    shards = [z[:2], z[2:]]  # unequal shards, as a global batch that does not divide
    models = [_spread(_vq(ema=True, restart_after=1)) for _ in shards]
    errors = []

    def rank(r):
        ranks.local.rank = r
        try:
            _steps(models[r], shards[r], ranks)
        except BaseException as e:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(e)
            ranks.barrier.abort()

    threads = [threading.Thread(target=rank, args=(r,)) for r in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    for k, v in one.state_dict().items():
        for m in models:
            assert torch.allclose(v.double(), m.state_dict()[k].double(), atol=1e-6), k
