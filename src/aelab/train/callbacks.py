"""What the caller installs on the trainer: metric logging, progress display, stopping early.

A callback sees the trainer at fixed points: `on_start` (after the checkpoint is loaded or the model prepared),
`on_step` (after each step, with its detached terms), `on_eval` (after each evaluation), `on_epoch_end`,
`on_checkpoint` (after a checkpoint commits), `on_stage_end` and `on_diverged` (a loss or gradient became NaN/inf). A callback that keeps running totals hands them
to the checkpoint (`state` / `load_state`: tensors and JSON), so a resumed run carries on as if never stopped.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, Callable, Protocol, TypeVar

from torch import Tensor

from ..recipes.train import TrainConfig
from ..runs import MetricsLog

C = TypeVar("C", bound="Callback")


class Trainer(Protocol):
    """What a callback sees of the trainer (train/trainer.py), so that callbacks need not import it."""

    model: Any
    cfg: TrainConfig
    ranks: Any
    step: int
    total_steps: int
    steps_per_epoch: int

    def clock(self) -> float: ...
    def evaluate_now(self) -> None: ...
    def callback(self, kind: type[C]) -> C | None: ...
    def stop(self) -> None: ...


class Callback:
    """Does nothing at every point; subclasses pick theirs."""

    key: str = ""  # names its part of the checkpoint, when it has state

    def on_start(self, trainer: Trainer, resumed: bool) -> None: ...
    def on_step(self, trainer: Trainer, terms: dict[str, Tensor]) -> None: ...
    def on_eval(self, trainer: Trainer, metrics: dict[str, float]) -> None: ...
    def on_epoch_end(self, trainer: Trainer) -> None: ...
    def on_checkpoint(self, trainer: Trainer) -> None: ...
    def on_stage_end(self, trainer: Trainer) -> None: ...
    def on_diverged(self, trainer: Trainer, message: str) -> None: ...  # the step's loss or gradient became NaN/inf

    def state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        return {}, {}

    def load_state(self, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None: ...


class MetricsLogger(Callback):
    """metrics.jsonl: the training terms averaged over every `log_every` steps, and every evaluation.

    Also keeps each update's loss averaged over the epoch so far (`epoch_means`), for the progress line.
    """

    key = "log"

    def __init__(self, log: MetricsLog) -> None:
        self.log = log
        self.sums: dict[str, Tensor] = {}
        self.counts: dict[str, int] = {}
        self.epoch_sums: dict[str, Tensor] = {}
        self.epoch_counts: dict[str, int] = {}

    def on_start(self, trainer: Trainer, resumed: bool) -> None:
        if trainer.ranks.main:
            self.log.truncate_after(trainer.step if resumed else 0)  # lines written after the checkpoint go

    def on_step(self, trainer: Trainer, terms: dict[str, Tensor]) -> None:
        if (trainer.step - 1) % trainer.steps_per_epoch == 0:  # the first step of an epoch starts its averages
            self.epoch_sums, self.epoch_counts = {}, {}
        for k, v in terms.items():  # an update that skips a step (`every`) is averaged over its own steps
            self.sums[k] = self.sums.get(k, 0.0) + v
            self.counts[k] = self.counts.get(k, 0) + 1
            if k.endswith("/loss"):
                self.epoch_sums[k] = self.epoch_sums.get(k, 0.0) + v
                self.epoch_counts[k] = self.epoch_counts.get(k, 0) + 1
        if trainer.ranks.main and (trainer.step % trainer.cfg.log_every == 0 or trainer.step == trainer.total_steps):
            record = self.means()
            self.log.append({"step": trainer.step, "epoch": trainer.step / trainer.steps_per_epoch, "split": "train",
                             "time": trainer.clock(), **record})
            self.sums, self.counts = {}, {}

    def on_eval(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        self.log.append({"step": trainer.step, "epoch": trainer.step / trainer.steps_per_epoch, "split": "test",
                         "time": trainer.clock(), **metrics})

    def on_diverged(self, trainer: Trainer, message: str) -> None:
        """The run's record says it diverged (a resume from the checkpoint drops the line, as any after it)."""
        if trainer.ranks.main:
            self.log.append({"step": trainer.step + 1, "epoch": (trainer.step + 1) / trainer.steps_per_epoch,
                             "split": "diverged", "time": trainer.clock(), "error": message})

    def means(self) -> dict[str, float]:
        return {k: float(v) / self.counts[k] for k, v in self.sums.items()}

    def epoch_means(self) -> dict[str, float]:
        return {k: float(v) / self.epoch_counts[k] for k, v in self.epoch_sums.items()}

    # the checkpoint's names for these ("log/sum/", "log/epoch/", "log_counts") predate callbacks: kept as they were
    def state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        tensors = {**{f"sum/{k}": v.reshape(1) for k, v in self.sums.items()},
                   **{f"epoch/{k}": v.reshape(1) for k, v in self.epoch_sums.items()}}
        return tensors, {"sum": self.counts, "epoch": self.epoch_counts}

    def load_state(self, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
        self.sums = {k[4:]: v[0] for k, v in tensors.items() if k.startswith("sum/")}
        self.epoch_sums = {k[6:]: v[0] for k, v in tensors.items() if k.startswith("epoch/")}
        self.counts = {k: int(meta.get("sum", {}).get(k, 0)) for k in self.sums}
        self.epoch_counts = {k: int(meta.get("epoch", {}).get(k, 0)) for k in self.epoch_sums}


class Progress(Callback):
    """A bar on a terminal (and a summary line when it goes); one plain line per epoch in a log file."""

    def __init__(self, desc: str = "train") -> None:
        self.desc = desc
        self.bar: Any = None
        self.terminal = False
        self.started = self.epoch_started = (0.0, 0)
        self.last_eval: dict[str, float] = {}

    def on_start(self, trainer: Trainer, resumed: bool) -> None:
        from tqdm.auto import tqdm

        self.terminal = sys.stderr.isatty() and trainer.ranks.main
        self.started = self.epoch_started = (time.time(), trainer.step)
        self.bar = tqdm(total=trainer.total_steps, initial=trainer.step, desc=self.desc, disable=not self.terminal,
                        dynamic_ncols=True, leave=False)

    def on_step(self, trainer: Trainer, terms: dict[str, Tensor]) -> None:
        self.bar.update(1)
        if trainer.step % trainer.cfg.log_every == 0 and self.terminal:
            shown = {k.split("/")[-1]: f"{float(v):.4g}" for k, v in list(terms.items())[:3]}
            self.bar.set_postfix(shown)

    def on_eval(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        self.last_eval = metrics

    def on_epoch_end(self, trainer: Trainer) -> None:
        if self.terminal or not trainer.ranks.main:
            return
        logger = trainer.callback(MetricsLogger)
        losses = logger.epoch_means() if logger else {}
        shown = [f"{k}={v:.4g}" for k, v in losses.items()] + self._tested()
        when, step = self.epoch_started
        seconds = max(time.time() - when, 1e-9)
        rate = (trainer.step - step) * trainer.cfg.batch_size / seconds
        eta = (trainer.total_steps - trainer.step) * seconds / max(1, trainer.step - step)
        epochs = math.ceil(trainer.total_steps / trainer.steps_per_epoch)
        print(f"{self.desc}: epoch {math.ceil(trainer.step / trainer.steps_per_epoch)}/{epochs}, step {trainer.step}/"
              f"{trainer.total_steps}: {', '.join(shown)}; {rate:,.0f} samples/s, {duration(trainer.clock())} "
              f"elapsed, ETA {duration(eta)}", flush=True)
        self.epoch_started = (time.time(), trainer.step)

    def on_stage_end(self, trainer: Trainer) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.terminal and trainer.step > self.started[1]:
            seconds = max(time.time() - self.started[0], 1e-9)
            rate = (trainer.step - self.started[1]) * trainer.cfg.batch_size / seconds
            shown = self._tested()
            print(f"{self.desc}: {trainer.step} steps ({trainer.step / trainer.steps_per_epoch:g} epochs) in "
                  f"{duration(trainer.clock())}, {rate:,.0f} samples/s" + (f"; {', '.join(shown)}" if shown else ""),
                  file=sys.stderr, flush=True)

    def _tested(self) -> list[str]:
        return [f"test {k}={v:.4g}" for k, v in list(self.last_eval.items())[:3] if isinstance(v, (int, float))]


class KeepBest(Callback):
    """Scores the model on held-out validation items after each epoch and ends the stage with the best epoch's weights.

    `score(model) -> (metric, value)`, higher is better. Each score goes to metrics.jsonl (split "validation"); the
    best weights ride in the checkpoint, so a resumed run keeps choosing among all its epochs. At the last epoch the
    best weights are put back before the final checkpoint (and evaluated again, so that the last test record is the
    kept model's): the run holds the chosen epoch, and says which.
    """

    key = "best"

    def __init__(self, score: Callable[[Any], tuple[str, float]], log: MetricsLog) -> None:
        self.score = score
        self.log = log
        self.weights: dict[str, Tensor] = {}
        self.chosen: dict[str, Any] = {}

    def on_epoch_end(self, trainer: Trainer) -> None:
        import torch

        model = trainer.model
        model.eval()
        with torch.random.fork_rng(), torch.no_grad():
            metric, value = self.score(model)
        model.train()
        epoch = math.ceil(trainer.step / trainer.steps_per_epoch)
        if trainer.ranks.main:
            self.log.append({"step": trainer.step, "epoch": trainer.step / trainer.steps_per_epoch,
                             "split": "validation", "time": trainer.clock(), metric: value})
        if not self.chosen or value > self.chosen["value"]:
            self.chosen = {"epoch": epoch, "step": trainer.step, "metric": metric, "value": value}
            self.weights = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        if trainer.step == trainer.total_steps:
            epochs = math.ceil(trainer.total_steps / trainer.steps_per_epoch)
            if self.chosen["step"] != trainer.step:  # an earlier epoch: its weights back, and its test numbers
                model.load_state_dict(self.weights)
                trainer.evaluate_now()
            if trainer.ranks.main:
                self.log.append({"step": trainer.step, "epoch": trainer.step / trainer.steps_per_epoch,
                                 "split": "selection", "time": trainer.clock(), **self.chosen})
                print(f"{trainer.model.name}: kept epoch {self.chosen['epoch']} of {epochs}, the best on the "
                      f"validation items ({metric} {self.chosen['value']:.4g})", flush=True)

    def state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        return dict(self.weights), dict(self.chosen)

    def load_state(self, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
        self.weights, self.chosen = dict(tensors), dict(meta)


class RecordChoice(Callback):
    """Writes the settings a run chose before training (a `models.capabilities.Choice`) to metrics.jsonl as its first
    record (split "choice"), and says it in one line; a resumed run has it already."""

    def __init__(self, choice: Any, log: MetricsLog) -> None:
        self.choice = choice
        self.log = log

    def on_start(self, trainer: Trainer, resumed: bool) -> None:
        if resumed or not trainer.ranks.main:
            return
        c = self.choice
        self.log.append({"step": 0, "epoch": 0.0, "split": "choice", "time": trainer.clock(), "chosen": c.settings,
                         "metric": c.metric, "scores": c.scores})
        setting = ", ".join(f"{k} {v}" for k, v in c.settings.items())
        others = ", ".join(f"{k} {v:.3f}" for k, v in c.scores.items())
        print(f"{trainer.model.name}: chose {setting} on the validation items ({c.metric}: {others})", flush=True)


class StopAt(Callback):
    """Leave the loop after `step` steps, as a kill would (no checkpoint beyond the last due one): the run resumes."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_start(self, trainer: Trainer, resumed: bool) -> None:
        self.on_step(trainer, {})

    def on_step(self, trainer: Trainer, terms: dict[str, Tensor]) -> None:
        if trainer.step >= self.step:
            trainer.stop()


def duration(seconds: float) -> str:
    """3.2 s, 4m05s, 2h03m."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"
