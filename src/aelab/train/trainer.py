"""The one training loop: every model's `steps()` run in order on each batch, each with its optimiser."""

from __future__ import annotations

import contextlib
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import Tensor

from ..config import to_dict
from ..corruption.apply import Corruption
from ..data.stream import is_streamed
from ..errors import CheckpointError, ConfigError, TrainingDiverged
from ..models.base import Batch, Noise, Progress, Trainable, Update, model_spec
from ..models.capabilities import Restorer
from ..nn.net import has_batch_norm
from ..recipes.train import TrainConfig
from ..runs.folder import RunFolder, no_interrupt
from .callbacks import C, Callback
from . import optimizers
from .checkpoint import load_optimizer_state, load_weights, optimizer_state, tensors_to_bytes
from .devices import resolve_device
from .distributed import SINGLE, Ranks, average_gradients, broadcast_parameters, check_ranks_agree

CORRUPTION_STREAM = 1_000  # the Noise stream of a denoiser's corruption: apart from every update's own draws


def make_optimizer(update: Update, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimiser that owns exactly `update.params`."""
    kind, lr, wd = cfg.option(update.name, "optimizer"), cfg.option(update.name, "lr"), cfg.option(update.name, "weight_decay")
    if kind == "sgd":
        return optimizers.SGD(update.params, lr=lr, momentum=cfg.option(update.name, "momentum"), weight_decay=wd)
    cls = optimizers.AdamW if kind == "adamw" else optimizers.Adam
    return cls(update.params, lr=lr, betas=tuple(cfg.option(update.name, "betas")), weight_decay=wd,
               fused=fusable(update.params))


def reads_all_data(model: Trainable) -> bool:
    """Whether the model looks at its whole training set at once (data-dependent initialisation, neighbourhoods)."""
    return any(getattr(type(model), name) is not getattr(Trainable, name, None)
               for name in ("prepare", "set_training_data") if hasattr(Trainable, name))


def fusable(params: Sequence[torch.Tensor]) -> bool:
    """Whether Adam's fused kernel can take `params`: floating tensors on one CPU or CUDA device. It does the
    update in one pass over each tensor; the per-tensor loop it replaces was about half of a small model's step
    (bench/throughput.py's profile: 0.75 ms against 0.26 ms for the 200-200 VAE's parameters on one thread)."""
    devices = {p.device for p in params}
    return (len(devices) == 1 and next(iter(devices)).type in ("cpu", "cuda")
            and all(p.is_floating_point() and not p.is_sparse for p in params))


def lr_factor(cfg: TrainConfig, step: int, total: int, steps_per_epoch: int = 1) -> float:
    """Learning-rate multiplier at `step`: a pure function, so resuming needs no scheduler state.

    A run extended with --epochs restarts its schedule at `restart_epoch` (a warm restart: the cosine
    runs again from the peak rate to zero over the added epochs; warm-up is not repeated).
    """
    start = cfg.restart_epoch * steps_per_epoch
    if cfg.warmup_steps and not start and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "cosine":
        start = start or cfg.warmup_steps
        span = max(1, total - start)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - start) / span)))
    return 1.0


def epoch_permutation(n: int, seed: int, epoch: int) -> Tensor:
    """The shuffle of one epoch, derived from (seed, epoch) alone so a resume regenerates it."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


def binarize_batch(x: Tensor) -> Tensor:
    """A fresh Bernoulli draw of intensities in [0, 1] from the CPU's generator (saved with each checkpoint, so a
    resume draws the same): uniform draws below x, a third of torch.bernoulli's time on a batch of MNIST."""
    return (torch.rand(x.shape) < x).to(x.dtype)


Evaluate = Callable[[Trainable, Progress], dict[str, float]]



class Trainer:
    """Trains any model through its `updates()`; checkpoints to its RunFolder and resumes exactly.

    What happens around the loop (metrics.jsonl, a progress bar, stopping early) is the `callbacks`' business.
    """

    def __init__(
        self,
        model: Trainable,
        x: Tensor,
        config: TrainConfig,
        folder: RunFolder | Path | str,
        y: Tensor | None = None,
        evaluate: Evaluate | None = None,
        callbacks: Sequence[Callback] = (),
        device: str = "auto",
        ranks: Ranks = SINGLE,
        desc: str = "train",
    ) -> None:
        self.model, self.x, self.y, self.cfg = model, x, y, config
        self.folder = folder if isinstance(folder, RunFolder) else RunFolder(folder)
        self.callbacks = list(callbacks)
        self.ranks = ranks
        self.desc = desc
        self.device = torch.device(resolve_device(device))
        model.to(self.device)  # the data stays where it is; each batch moves on its own
        amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(config.precision)
        self.autocast = (lambda: torch.autocast(self.device.type, dtype=amp)) if amp else contextlib.nullcontext
        self.evaluate_fn = evaluate
        model.check_input(x)
        if is_streamed(x) and reads_all_data(model):
            raise ConfigError(f"model {model.name!r} reads its whole training set as it starts, and {x.path.name} is "
                              f"read from disk as training goes (larger than half this machine's memory); "
                              f"train it on fewer rows")
        if len(x) == 0:
            raise ConfigError("no training data: the data set is empty")
        self.corruption = self._corruption(model, x, config)
        self.updates = model.updates()
        names = [u.name for u in self.updates]
        if len(set(names)) != len(names):
            raise ConfigError(f"model {model.name!r} has duplicate update names {names}")
        unknown = set(config.update_options) - set(names)
        if unknown:
            raise ConfigError(f"update_options names unknown update(s) {sorted(unknown)}; this model's updates: {names}")
        for u in self.updates:
            if u.every < 1:
                raise ConfigError(f"update {u.name!r} of model {model.name!r} has every={u.every}; it must be >= 1")
        if ranks.distributed and has_batch_norm(model):
            raise ConfigError("batch normalisation would see each process's share of a batch only, so the run would "
                              "not train as on one process; use norm=layer or one process")
        self.optimizers = [make_optimizer(u, config) for u in self.updates]
        # fp16 needs a loss scale per update (each has its own optimiser); it skips steps with non-finite gradients
        self.scalers = {u.name: torch.amp.GradScaler(self.device.type) for u in self.updates} \
            if config.precision == "fp16" else {}
        self.base_lrs = [config.option(u.name, "lr") for u in self.updates]
        self.steps_per_epoch = math.ceil(len(x) / config.batch_size)
        self.total_steps = config.epochs * self.steps_per_epoch
        self.step = 0
        self._shard_start, self._global_rows = 0, 0  # this process's rows of the current global batch
        self.last_checkpoint: int | None = None
        self.last_eval: dict[str, float] = {}
        self._rotate = True
        self._stopping = False
        self.elapsed = 0.0  # the clock of earlier sessions of this run (metrics.jsonl's time continues across resumes)
        self._t0 = time.time()

    @property
    def run_dir(self) -> Path:
        return self.folder.path

    @property
    def progress_now(self) -> Progress:
        """Where training is: `step` steps done."""
        return Progress(self.step, self.total_steps, self.steps_per_epoch)

    def clock(self) -> float:
        """Seconds of training of this run, across resumes."""
        return time.time() - self._t0

    def callback(self, kind: type[C]) -> C | None:
        """The installed callback of type `kind`, if any."""
        return next((c for c in self.callbacks if isinstance(c, kind)), None)

    def stop(self) -> None:
        """Leave the loop before the next step, as if killed: what was committed stays, nothing more is written."""
        self._stopping = True

    def _emit(self, event: str, *args: Any) -> None:
        for c in self.callbacks:
            getattr(c, event)(self, *args)

    # --- state on disk -------------------------------------------------------------------
    def has_checkpoint(self) -> bool:
        return self.folder.has_checkpoint()

    def save_checkpoint(self, finished: bool = False) -> None:
        """Weights, optimiser state, RNG and the callbacks' state, committed by the RunFolder's protocol."""
        if self.ranks.distributed:
            check_ranks_agree(self.model, self.step)
            if not self.ranks.main:  # rank 0 alone writes the run folder
                self.last_checkpoint = self.step
                return
        with no_interrupt():
            self._write_checkpoint(finished)
        self._rotate = True
        self.last_checkpoint = self.step
        self._emit("on_checkpoint")

    def _write_checkpoint(self, finished: bool) -> None:
        tensors: dict[str, Tensor] = {"rng/torch": torch.get_rng_state()}
        if self.device.type == "cuda":  # every GPU's generator too, so a resume on a GPU is exact
            for i, state in enumerate(torch.cuda.get_rng_state_all()):
                tensors[f"rng/cuda/{i}"] = state
        callback_meta: dict[str, Any] = {}
        for c in self.callbacks:
            t, meta = c.state()
            if c.key and (t or meta):
                tensors.update({f"{c.key}/{k}": v for k, v in t.items()})
                callback_meta[c.key] = meta
        opt_meta = {}
        for u, opt in zip(self.updates, self.optimizers):
            t, meta = optimizer_state(opt, u.name)
            tensors.update(t)
            opt_meta[u.name] = meta
            if u.name in self.scalers:
                meta["grad_scaler"] = self.scalers[u.name].state_dict()
        state = {"step": self.step, "total_steps": self.total_steps, "finished": finished, "elapsed": self.clock(),
                 "model": model_spec(self.model), "train": to_dict(self.cfg), "optimizers": opt_meta,
                 "callbacks": callback_meta}
        if "log" in callback_meta:  # where runs written before callbacks keep the metric counts
            state["log_counts"] = callback_meta.pop("log")
        self.folder.write_checkpoint(tensors_to_bytes(self.model.state_dict()), tensors_to_bytes(tensors), state,
                                     rotate=self._rotate)

    def load_checkpoint(self) -> dict[str, Any]:
        """Restore weights, optimiser state, RNG and step; falls back to previous/ if the latest is damaged."""
        latest, prev = self.folder.checkpoint_sources()
        try:
            return self._load_from(latest)
        except CheckpointError as latest_error:
            if not prev.has_checkpoint():
                raise
            try:
                state = self._load_from(prev)
            except CheckpointError:
                raise latest_error from None
            if self.folder.latest_is_rotation_cut_short():
                print(f"aelab: the checkpoint being written when {self.desc} stopped is incomplete; "
                      f"using the one before it (step {self.step})", file=sys.stderr)
            else:
                print(f"aelab: warning: {latest_error}; resuming from the previous checkpoint (step {self.step})",
                      file=sys.stderr)
            self._rotate = False  # do not move the damaged files over the good ones on the next save
            return state

    def _load_from(self, source: RunFolder) -> dict[str, Any]:
        state, weights = source.read_checkpoint(self.model.name)
        tensors = source.read_trainer_tensors(state)
        if "rng/torch" not in tensors:
            raise CheckpointError(f"trainer state in {source.path} lacks the RNG state")
        optimizers = state.get("optimizers", state.get("steps", {}))
        for u in self.updates:
            if u.name not in optimizers:
                raise CheckpointError(f"trainer state in {source.path} has no optimiser for update {u.name!r}")
        load_weights(self.model, weights, source.weights_path)
        for u, opt in zip(self.updates, self.optimizers):
            load_optimizer_state(opt, u.name, tensors, optimizers[u.name])
            if u.name in self.scalers and "grad_scaler" in optimizers[u.name]:
                self.scalers[u.name].load_state_dict(optimizers[u.name]["grad_scaler"])
        torch.set_rng_state(tensors["rng/torch"])
        cuda_keys = sorted((k for k in tensors if k.startswith("rng/cuda/")), key=lambda k: int(k.rsplit("/", 1)[1]))
        cuda_states = [tensors[k] for k in cuda_keys]
        if cuda_states and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(cuda_states[: torch.cuda.device_count()])
        self.step = int(state["step"])
        self.last_checkpoint = self.step
        self.elapsed = float(state.get("elapsed", 0.0))
        metas = {**state.get("callbacks", {}), "log": state.get("log_counts", {})}
        for c in self.callbacks:
            if c.key:
                head = f"{c.key}/"
                c.load_state({k[len(head):]: v for k, v in tensors.items() if k.startswith(head)}, metas.get(c.key, {}))
        return state

    # --- the loop ------------------------------------------------------------------------
    def _due(self, every: int) -> bool:
        return (self.step % every == 0) if every else (self.step % self.steps_per_epoch == 0)

    def evaluate_now(self) -> None:
        """The caller's evaluation of the model as it is now, told to the callbacks (logged); none without one."""
        if self.evaluate_fn is None or not self.ranks.main:
            return
        self.model.eval()
        with torch.random.fork_rng(), torch.no_grad():  # evaluation must not shift the training RNG
            torch.manual_seed(self.cfg.seed + 7919)
            self.last_eval = self.evaluate_fn(self.model, self.progress_now)
        self.model.train()
        self._emit("on_eval", self.last_eval)

    def _diverged(self, update: str, terms: dict[str, Tensor], what: str) -> TrainingDiverged:
        shown = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in terms.items())
        kept = (f"the last good checkpoint (step {self.last_checkpoint}) is kept in {self.run_dir}"
                if self.last_checkpoint is not None else "no checkpoint had been written yet")
        error = TrainingDiverged(f"{what} became NaN/inf at step {self.step + 1} in update '{update}' ({shown}); {kept}")
        self._emit("on_diverged", str(error))
        return error

    @staticmethod
    def _corruption(model: Trainable, x: Tensor, config: TrainConfig) -> Corruption | None:
        """The denoiser's corruption (TrainConfig.corrupt), checked against the model and the data now."""
        if not config.corrupt:
            return None
        if not isinstance(model, Restorer):
            raise ConfigError(f"model {model.name!r} cannot train as a denoiser (--corrupt): its loss does not "
                              f"reconstruct the input")
        if config.emphasis != 1.0 and not model.traits.weighs_inputs:
            raise ConfigError(f"model {model.name!r} has no per-input loss to weigh (--emphasis); leave it at 1")
        corruption = Corruption(config.corrupt, config.emphasis)
        corruption.check(tuple(x.shape[1:]))
        return corruption

    def corrupt(self, batch: Batch) -> Batch:
        """The batch a denoiser trains on: its input corrupted with draws seeded by (seed, step) for the whole
        global batch, so a resume, and any number of processes, corrupt exactly as one uninterrupted run."""
        if self.corruption is None:
            return batch
        n = batch.x.shape[0]
        draws = Noise(self.cfg.seed, self.step, CORRUPTION_STREAM, (self._shard_start, self._shard_start + n),
                      self._global_rows or n, self.device)
        c = self.corruption(batch.x, draws)
        return Batch(c.x, batch.y, index=batch.index, clean=batch.x, missing=c.missing, holes=c.holes,
                     emphasis=self.corruption.emphasis)

    def train_batch(self, batch: Batch) -> dict[str, Tensor]:
        """Run every due update once on `batch`; returns the detached terms, prefixed by update name."""
        progress = self.progress_now
        factor = lr_factor(self.cfg, self.step, self.total_steps, self.steps_per_epoch)
        logged: dict[str, Tensor] = {}
        n_local, start = batch.x.shape[0], self._shard_start
        for i, (u, opt, base_lr) in enumerate(zip(self.updates, self.optimizers, self.base_lrs)):
            if not u.due(progress):
                continue
            total = self._global_rows or n_local  # a batch handed in by hand is its own global batch
            batch.noise = Noise(self.cfg.seed, self.step, i, (start, start + n_local), total, self.device)
            batch.ranks = self.ranks
            scale = u.lr_scale(progress) if u.lr_scale is not None else 1.0
            for g in opt.param_groups:
                g["lr"] = base_lr * factor * scale
            self.model.zero_grad(set_to_none=True)  # an update's loss may reach other updates' parameters
            with self.autocast():
                terms = u.loss(batch, progress)
            loss = terms["loss"].float()
            scaler = self.scalers.get(u.name)
            if scaler is None and not torch.isfinite(loss):
                raise self._diverged(u.name, terms, "the loss")
            (scaler.scale(loss) if scaler else loss).backward()
            if self.ranks.distributed:  # what DDP does, for every update of every model (see distributed.py)
                average_gradients(u.params, n_local / self._global_rows if self._global_rows else 1 / self.ranks.world)
            if scaler:
                scaler.unscale_(opt)
            if scaler is None or self.cfg.grad_clip:
                norm = torch.nn.utils.get_total_norm([p.grad for p in u.params if p.grad is not None])
                if scaler is None and not torch.isfinite(norm):
                    raise self._diverged(u.name, terms, "the gradient")
                if self.cfg.grad_clip:
                    torch.nn.utils.clip_grads_with_norm_(u.params, self.cfg.grad_clip, norm)
            if scaler:
                scaler.step(opt)  # skipped when the unscaled gradients are not finite, as GradScaler does
                scaler.update()
            else:
                opt.step()
            for k, v in terms.items():
                logged[f"{u.name}/{k}"] = v.detach()
        return logged

    def _start(self, resume: bool) -> bool:
        """Load the last committed checkpoint, or initialise; says in one line where training starts."""
        if resume and self.has_checkpoint():
            state = self.load_checkpoint()
            with torch.no_grad():
                self.model.set_training_data(self.x)
            if state.get("finished") and self.step >= self.total_steps:
                raise CheckpointError(f"the run in {self.run_dir} already finished ({self.step} steps); nothing to resume")
            if self.ranks.main:
                print(f"{self.desc}: resuming at step {self.step} of {self.total_steps} "
                      f"(epoch {self.step / self.steps_per_epoch:g})", flush=True)
            return True
        if resume and self.ranks.main:  # killed before its first checkpoint committed: nothing to load, nothing lost
            leftovers = self.folder.uncommitted_files()
            why = f" ({', '.join(leftovers)} not committed)" if leftovers else ""
            print(f"{self.desc}: no committed checkpoint in {self.run_dir}{why}; starting from step 0", flush=True)
        torch.manual_seed(self.cfg.seed)
        with torch.no_grad():
            self.model.prepare(self.x)
            self.model.set_training_data(self.x)
        return False

    def fit(self, resume: bool = False) -> dict[str, float]:
        """Train to the end (or resume from the last committed checkpoint); returns the last evaluation."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        resumed = self._start(resume)
        if self.ranks.distributed:
            broadcast_parameters(self.model)
        self.model.train()
        self._t0 = time.time() - self.elapsed
        self._stopping = False
        perm: Tensor | None = None
        self._emit("on_start", resumed)
        try:
            while self.step < self.total_steps and not self._stopping:
                epoch, b = divmod(self.step, self.steps_per_epoch)
                if perm is None or b == 0:
                    perm = epoch_permutation(len(self.x), self.cfg.seed, epoch)
                idx = perm[b * self.cfg.batch_size : (b + 1) * self.cfg.batch_size]
                rows = self.x[idx]
                if is_streamed(self.x) and b + 1 < self.steps_per_epoch:  # read while this batch trains
                    self.x.prefetch(perm[(b + 1) * self.cfg.batch_size : (b + 2) * self.cfg.batch_size])
                xb = binarize_batch(rows) if self.cfg.binarize else rows
                mine = self.ranks.shard(torch.arange(len(idx)))  # every rank draws the global batch, keeps its part
                self._shard_start, self._global_rows = (int(mine[0]) if len(mine) else 0), len(idx)
                yb = None if self.y is None else self.y[idx][mine].to(self.device, non_blocking=True)
                batch = self.corrupt(Batch(xb[mine].to(self.device, non_blocking=True), yb, index=idx[mine]))
                terms = self.train_batch(batch)
                self.step += 1
                self._emit("on_step", terms)
                last = self.step == self.total_steps
                if self._due(self.cfg.eval_every) or last:
                    self.evaluate_now()
                if self.step % self.steps_per_epoch == 0 or last:
                    self._emit("on_epoch_end")
                if self._due(self.cfg.checkpoint_every) or last:
                    self.save_checkpoint(finished=last)
        finally:
            self._emit("on_stage_end")
        return self.last_eval
