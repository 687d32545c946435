"""The one training loop: every model's `steps()` run in order on each batch, each with its optimiser."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor

from ..config import to_dict
from ..corruption.apply import Corruption
from ..errors import CheckpointError, ConfigError, TrainingDiverged
from ..models.base import Batch, Noise, Progress, Trainable, Update, model_spec
from .config import TrainConfig, resolve_device
from .distributed import SINGLE, Ranks, average_gradients, broadcast_parameters, check_ranks_agree
from .checkpoint import (
    atomic_write_bytes,
    atomic_write_json,
    load_optimizer_state,
    load_weights,
    optimizer_state,
    read_checkpoint,
    read_tensors,
    sha256_bytes,
    tensors_to_bytes,
)

CORRUPTION_STREAM = 1_000  # the Noise stream of a denoiser's corruption: apart from every update's own draws

PREVIOUS = "previous"
CHECKPOINT_FILES = ("model.safetensors", "trainer.safetensors", "trainer.json")  # the last is the commit point


def make_optimizer(update: Update, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimiser that owns exactly `update.params`."""
    kind, lr, wd = cfg.option(update.name, "optimizer"), cfg.option(update.name, "lr"), cfg.option(update.name, "weight_decay")
    if kind == "sgd":
        return torch.optim.SGD(update.params, lr=lr, momentum=cfg.option(update.name, "momentum"), weight_decay=wd)
    cls = torch.optim.AdamW if kind == "adamw" else torch.optim.Adam
    return cls(update.params, lr=lr, betas=tuple(cfg.option(update.name, "betas")), weight_decay=wd)


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


def _kill_point(run_dir: Path, name: str, step: int) -> None:
    """Tests only: AELAB_KILL_AT=FOLDER/FILE@STEP kills this process (SIGKILL) right after that write.

    FOLDER is the stage folder's name (the run folder's for the main stage), FILE one of the checkpoint's files
    (or previous/FILE), STEP the step of the checkpoint being written; so a kill lands deterministically.
    """
    wanted = os.environ.get("AELAB_KILL_AT")
    if wanted and wanted == f"{run_dir.name}/{name}@{step}":
        os.kill(os.getpid(), signal.SIGKILL)


@contextlib.contextmanager
def _uninterrupted():
    """Hold Ctrl-C back while a checkpoint is written; it takes effect as soon as the write is done."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[Any] = []
    previous = signal.signal(signal.SIGINT, lambda *a: caught.append(a))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def keep_previous(run_dir: Path, step: int = -1) -> None:
    """Move the committed checkpoint of `run_dir` into run_dir/previous (hard links: no copying)."""
    if not (run_dir / "trainer.json").exists():
        return
    prev = run_dir / PREVIOUS
    prev.mkdir(exist_ok=True)
    for name in CHECKPOINT_FILES:  # trainer.json last: previous/ is consistent once it lands
        src, tmp = run_dir / name, prev / f".{name}.tmp"
        if not src.exists():
            return
        if (prev / name).exists() and os.path.samefile(src, prev / name):
            continue  # already linked (a rotation cut short): renaming a link over itself would leave tmp behind
        if tmp.exists():
            tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:  # a file system without hard links
            shutil.copy2(src, tmp)
        os.replace(tmp, prev / name)
        _kill_point(run_dir, f"{PREVIOUS}/{name}", step)


class MetricsLog:
    """metrics.jsonl: one JSON object per line (train averages and evaluations)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, record: dict[str, Any]) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_bytes().decode("utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a crash
            step = record.get("step") if isinstance(record, dict) else None
            if isinstance(step, (int, float)) and not isinstance(step, bool):  # anything else is not ours
                out.append(record)
        return out

    def truncate_after(self, step: int) -> None:
        """Drop records newer than `step` (written after the checkpoint a resume starts from)."""
        kept = [r for r in self.records() if r["step"] <= step]
        atomic_write_bytes(self.path, "".join(json.dumps(r) + "\n" for r in kept).encode())


Evaluate = Callable[[Trainable, Progress], dict[str, float]]


class Trainer:
    """Trains any model through its `updates()`; checkpoints to `run_dir` and resumes exactly."""

    def __init__(
        self,
        model: Trainable,
        x: Tensor,
        config: TrainConfig,
        run_dir: Path,
        y: Tensor | None = None,
        evaluate: Evaluate | None = None,
        progress: bool = True,
        desc: str = "train",
        stop_after: int | None = None,
        device: str = "auto",
        ranks: Ranks = SINGLE,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self.model, self.x, self.y, self.cfg = model, x, y, config
        self.on_commit = on_commit  # called after every checkpoint this trainer commits
        self.ranks = ranks
        self.device = torch.device(resolve_device(device))
        model.to(self.device)  # the data stays where it is; each batch moves on its own
        amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(config.precision)
        self.autocast = (lambda: torch.autocast(self.device.type, dtype=amp)) if amp else contextlib.nullcontext
        self.run_dir = Path(run_dir)
        self.evaluate_fn = evaluate
        self.progress, self.desc = progress, desc
        self.stop_after = stop_after  # testing hook: stop (as if killed) after this many steps
        model.check_input(x)
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
        self.optimizers = [make_optimizer(u, config) for u in self.updates]
        # fp16 needs a loss scale per update (each has its own optimiser); it skips steps with non-finite gradients
        self.scalers = {u.name: torch.amp.GradScaler(self.device.type) for u in self.updates} \
            if config.precision == "fp16" else {}
        self.base_lrs = [config.option(u.name, "lr") for u in self.updates]
        self.metrics = MetricsLog(self.run_dir / "metrics.jsonl")
        self.steps_per_epoch = math.ceil(len(x) / config.batch_size)
        self.total_steps = config.epochs * self.steps_per_epoch
        self.step = 0
        self._shard_start, self._global_rows = 0, 0  # this process's rows of the current global batch
        self.last_checkpoint: int | None = None
        self._rotate = True
        # What a resume needs to carry on as if never stopped: the clock and the unlogged part of the averages.
        self.elapsed = 0.0
        self._sums: dict[str, Tensor] = {}
        self._counts: dict[str, int] = {}
        self._epoch_sums: dict[str, Tensor] = {}
        self._epoch_counts: dict[str, int] = {}
        self._t0 = time.time()

    @property
    def progress_now(self) -> Progress:
        """Where training is: `step` steps done."""
        return Progress(self.step, self.total_steps, self.steps_per_epoch)

    # --- state on disk -------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.run_dir / "trainer.json"

    def has_checkpoint(self) -> bool:
        """Whether `run_dir` holds a committed checkpoint (the latest or the previous one)."""
        return self.state_path.exists() or (self.run_dir / PREVIOUS / "trainer.json").exists()

    def save_checkpoint(self, finished: bool = False) -> None:
        """Weights, optimiser state and RNG, written atomically; trainer.json is the commit point.

        The checkpoint it replaces is kept in previous/ first, so a crash halfway through this write
        (or a file damaged later) still leaves one complete checkpoint to resume from.
        """
        if self.ranks.distributed:
            check_ranks_agree(self.model, self.step)
            if not self.ranks.main:  # rank 0 alone writes the run folder
                self.last_checkpoint = self.step
                return
        with _uninterrupted():
            self._write_checkpoint(finished)
        self.last_checkpoint = self.step
        if self.on_commit is not None:
            self.on_commit()

    def _write_checkpoint(self, finished: bool) -> None:
        model_bytes = tensors_to_bytes(self.model.state_dict())
        tensors: dict[str, Tensor] = {"rng/torch": torch.get_rng_state()}
        if self.device.type == "cuda":  # every GPU's generator too, so a resume on a GPU is exact
            for i, state in enumerate(torch.cuda.get_rng_state_all()):
                tensors[f"rng/cuda/{i}"] = state
        for prefix, sums in (("log/sum/", self._sums), ("log/epoch/", self._epoch_sums)):
            tensors.update({prefix + k: v.reshape(1) for k, v in sums.items()})
        opt_meta = {}
        for u, opt in zip(self.updates, self.optimizers):
            t, meta = optimizer_state(opt, u.name)
            tensors.update(t)
            opt_meta[u.name] = meta
            if u.name in self.scalers:
                meta["grad_scaler"] = self.scalers[u.name].state_dict()
        trainer_bytes = tensors_to_bytes(tensors)
        if self._rotate:
            keep_previous(self.run_dir, self.step)
        self._rotate = True
        for name, payload in (("model.safetensors", model_bytes), ("trainer.safetensors", trainer_bytes)):
            atomic_write_bytes(self.run_dir / name, payload)
            _kill_point(self.run_dir, name, self.step)
        atomic_write_json(
            self.state_path,
            {
                "step": self.step,
                "total_steps": self.total_steps,
                "finished": finished,
                "elapsed": time.time() - self._t0,
                "log_counts": {"sum": self._counts, "epoch": self._epoch_counts},
                "model": model_spec(self.model),
                "train": to_dict(self.cfg),
                "model_sha256": sha256_bytes(model_bytes),
                "trainer_sha256": sha256_bytes(trainer_bytes),
                "optimizers": opt_meta,
            },
        )
        _kill_point(self.run_dir, "trainer.json", self.step)

    def load_checkpoint(self) -> dict[str, Any]:
        """Restore weights, optimiser state, RNG and step; falls back to previous/ if the latest is damaged."""
        try:
            return self._load_from(self.run_dir)
        except CheckpointError as latest_error:
            prev = self.run_dir / PREVIOUS
            if not (prev / "trainer.json").exists():
                raise
            try:
                state = self._load_from(prev)
            except CheckpointError:
                raise latest_error from None
            if self._write_cut_short(prev):
                print(f"aelab: the checkpoint being written when {self.desc} stopped is incomplete; "
                      f"using the one before it (step {self.step})", file=sys.stderr)
            else:
                print(f"aelab: warning: {latest_error}; resuming from the previous checkpoint (step {self.step})",
                      file=sys.stderr)
            self._rotate = False  # do not move the damaged files over the good ones on the next save
            return state

    def _write_cut_short(self, prev: Path) -> bool:
        """Whether the latest checkpoint is the one `keep_previous` just copied, half replaced by a new write."""
        try:
            return json.loads((self.run_dir / "trainer.json").read_text()).get("step") == \
                json.loads((prev / "trainer.json").read_text()).get("step")
        except (OSError, ValueError, AttributeError):
            return False

    def _load_from(self, folder: Path) -> dict[str, Any]:
        state, weights = read_checkpoint(folder, self.model.name)
        tensors = read_tensors(folder / "trainer.safetensors", state.get("trainer_sha256"))
        if "rng/torch" not in tensors:
            raise CheckpointError(f"trainer state in {folder} lacks the RNG state")
        optimizers = state.get("optimizers", state.get("steps", {}))
        for u in self.updates:
            if u.name not in optimizers:
                raise CheckpointError(f"trainer state in {folder} has no optimiser for update {u.name!r}")
        load_weights(self.model, weights, folder / "model.safetensors")
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
        counts = state.get("log_counts", {})
        self._sums = {k[len("log/sum/"):]: v[0] for k, v in tensors.items() if k.startswith("log/sum/")}
        self._epoch_sums = {k[len("log/epoch/"):]: v[0] for k, v in tensors.items() if k.startswith("log/epoch/")}
        self._counts = {k: int(counts.get("sum", {}).get(k, 0)) for k in self._sums}
        self._epoch_counts = {k: int(counts.get("epoch", {}).get(k, 0)) for k in self._epoch_sums}
        return state

    # --- the loop ------------------------------------------------------------------------
    def _checkpoint_due(self, every: int, step: int) -> bool:
        return (step % every == 0) if every else (step % self.steps_per_epoch == 0)

    def _run_eval(self, t0: float) -> dict[str, float]:
        if self.evaluate_fn is None or not self.ranks.main:
            return {}
        self.model.eval()
        with torch.random.fork_rng(), torch.no_grad():  # evaluation must not shift the training RNG
            torch.manual_seed(self.cfg.seed + 7919)
            result = self.evaluate_fn(self.model, self.progress_now)
        self.model.train()
        self.metrics.append({"step": self.step, "epoch": self.step / self.steps_per_epoch, "split": "test",
                             "time": time.time() - t0, **result})
        return result

    def _diverged(self, update: str, terms: dict[str, Tensor], what: str) -> TrainingDiverged:
        shown = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in terms.items())
        kept = (f"the last good checkpoint (step {self.last_checkpoint}) is kept in {self.run_dir}"
                if self.last_checkpoint is not None else "no checkpoint had been written yet")
        return TrainingDiverged(f"{what} became NaN/inf at step {self.step + 1} in update '{update}' ({shown}); {kept}")

    @staticmethod
    def _corruption(model: Trainable, x: Tensor, config: TrainConfig) -> Corruption | None:
        """The denoiser's corruption (TrainConfig.corrupt), checked against the model and the data now."""
        if not config.corrupt:
            return None
        if not model.denoises:
            raise ConfigError(f"model {model.name!r} cannot train as a denoiser (--corrupt): its loss does not "
                              f"reconstruct the input")
        if config.emphasis != 1.0 and not model.weighs_inputs:
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
        return Batch(c.x, batch.y, index=batch.index, clean=batch.x, missing=c.missing,
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
                average_gradients(u.params, self.ranks.world)
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

    def _print_epoch(self, last_eval: dict[str, float], epoch_started: tuple[float, int]) -> None:
        """One plain line per epoch, for output that is not a terminal: where, losses, test metrics, speed, ETA."""
        epochs = math.ceil(self.total_steps / self.steps_per_epoch)
        shown = [f"{k}={float(v) / self._epoch_counts[k]:.4g}" for k, v in self._epoch_sums.items()]
        shown += [f"test {k}={v:.4g}" for k, v in list(last_eval.items())[:3] if isinstance(v, (int, float))]
        when, step = epoch_started
        seconds = max(time.time() - when, 1e-9)
        rate = (self.step - step) * self.cfg.batch_size / seconds
        eta = (self.total_steps - self.step) * seconds / max(1, self.step - step)
        print(f"{self.desc}: epoch {math.ceil(self.step / self.steps_per_epoch)}/{epochs}, step {self.step}/"
              f"{self.total_steps}: {', '.join(shown)}; {rate:,.0f} samples/s, {_duration(time.time() - self._t0)} "
              f"elapsed, ETA {_duration(eta)}", flush=True)

    def _summary(self, last_eval: dict[str, float], started: tuple[float, int]) -> str:
        """The line a terminal keeps once the bar is gone."""
        seconds = max(time.time() - started[0], 1e-9)
        rate = (self.step - started[1]) * self.cfg.batch_size / seconds
        shown = [f"test {k}={v:.4g}" for k, v in list(last_eval.items())[:3] if isinstance(v, (int, float))]
        return (f"{self.desc}: {self.step} steps ({self.step / self.steps_per_epoch:g} epochs) in "
                f"{_duration(time.time() - self._t0)}, {rate:,.0f} samples/s" + (f"; {', '.join(shown)}" if shown else ""))

    def _start(self, resume: bool) -> None:
        """Load the last committed checkpoint, or initialise; says in one line where training starts."""
        if resume and self.has_checkpoint():
            state = self.load_checkpoint()
            if state.get("finished") and self.step >= self.total_steps:
                raise CheckpointError(f"the run in {self.run_dir} already finished ({self.step} steps); nothing to resume")
            if self.ranks.main:
                self.metrics.truncate_after(self.step)
                print(f"{self.desc}: resuming at step {self.step} of {self.total_steps} "
                      f"(epoch {self.step / self.steps_per_epoch:g})", flush=True)
            return
        if resume and self.ranks.main:  # killed before its first checkpoint committed: nothing to load, nothing lost
            leftovers = [n for n in CHECKPOINT_FILES if (self.run_dir / n).exists()]
            why = f" ({', '.join(leftovers)} not committed)" if leftovers else ""
            print(f"{self.desc}: no committed checkpoint in {self.run_dir}{why}; starting from step 0", flush=True)
            self.metrics.truncate_after(0)
        torch.manual_seed(self.cfg.seed)
        with torch.no_grad():
            self.model.prepare(self.x)

    def fit(self, resume: bool = False) -> dict[str, float]:
        """Train to the end (or resume from the last committed checkpoint); returns the last evaluation."""
        from tqdm.auto import tqdm

        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._start(resume)
        if self.ranks.distributed:
            broadcast_parameters(self.model)
        self.model.train()
        self._t0 = time.time() - self.elapsed  # the clock of metrics.jsonl continues across resumes
        started = epoch_started = (time.time(), self.step)
        last_eval: dict[str, float] = {}
        perm: Tensor | None = None
        terminal = sys.stderr.isatty() and self.ranks.main
        bar = tqdm(total=self.total_steps, initial=self.step, desc=self.desc,
                   disable=not (self.progress and terminal), dynamic_ncols=True, leave=False)
        plain = self.progress and not terminal and self.ranks.main  # a log file gets one line per epoch, not a bar
        try:
            while self.step < self.total_steps:
                if self.stop_after is not None and self.step >= self.stop_after:
                    return last_eval
                epoch, b = divmod(self.step, self.steps_per_epoch)
                if perm is None or b == 0:
                    perm = epoch_permutation(len(self.x), self.cfg.seed, epoch)
                idx = perm[b * self.cfg.batch_size : (b + 1) * self.cfg.batch_size]
                xb = torch.bernoulli(self.x[idx]) if self.cfg.binarize else self.x[idx]  # CPU RNG: resumes exactly
                mine = self.ranks.shard(torch.arange(len(idx)))  # every rank draws the global batch, keeps its part
                self._shard_start, self._global_rows = (int(mine[0]) if len(mine) else 0), len(idx)
                yb = None if self.y is None else self.y[idx][mine].to(self.device, non_blocking=True)
                batch = self.corrupt(Batch(xb[mine].to(self.device, non_blocking=True), yb, index=idx[mine]))
                terms = self.train_batch(batch)
                self.step += 1
                bar.update(1)
                for k, v in terms.items():  # an update that skips a step (`every`) is averaged over its own steps
                    self._sums[k] = self._sums.get(k, 0.0) + v
                    self._counts[k] = self._counts.get(k, 0) + 1
                    if k.endswith("/loss"):
                        self._epoch_sums[k] = self._epoch_sums.get(k, 0.0) + v
                        self._epoch_counts[k] = self._epoch_counts.get(k, 0) + 1
                if self.ranks.main and (self.step % self.cfg.log_every == 0 or self.step == self.total_steps):
                    record = {k: float(v) / self._counts[k] for k, v in self._sums.items()}
                    self.metrics.append({"step": self.step, "epoch": self.step / self.steps_per_epoch,
                                         "split": "train", "time": time.time() - self._t0, **record})
                    bar.set_postfix({k.split("/")[-1]: f"{v:.4g}" for k, v in list(record.items())[:3]})
                    self._sums, self._counts = {}, {}
                if self._checkpoint_due(self.cfg.eval_every, self.step) or self.step == self.total_steps:
                    last_eval = self._run_eval(self._t0)
                epoch_end = self.step % self.steps_per_epoch == 0 or self.step == self.total_steps
                if plain and epoch_end:
                    self._print_epoch(last_eval, epoch_started)
                    epoch_started = (time.time(), self.step)
                if epoch_end:  # before the checkpoint, so that a resume starts the next epoch's average afresh
                    self._epoch_sums, self._epoch_counts = {}, {}
                if self._checkpoint_due(self.cfg.checkpoint_every, self.step) or self.step == self.total_steps:
                    self.save_checkpoint(finished=self.step == self.total_steps)
        finally:
            bar.close()
        if self.progress and terminal and self.step > started[1]:
            print(self._summary(last_eval, started), file=sys.stderr, flush=True)
        return last_eval


def _duration(seconds: float) -> str:
    """3.2 s, 4m05s, 2h03m."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"
