"""Where a run's numbers and pictures go besides metrics.jsonl: TensorBoard and MLflow, each a trainer callback behind
one interface (`Logger`). metrics.jsonl stays the record every aelab command reads; these are for looking.

    aelab train vae --log tensorboard          # RUN/tensorboard: tensorboard --logdir runs
    aelab train vae --log mlflow --mlflow-uri http://localhost:5000
    aelab.fit("vae", "digits", log=["tensorboard", MLflowLogger(tracking_uri="sqlite:///mlflow.db")])
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError
from ..train.callbacks import Callback, Trainer
from .images import make_grid

LOGGERS = ("tensorboard", "mlflow")
PICTURES = 32  # examples in each image grid and in the codes' histogram (at most)


class Logger(Callback):
    """Sends the training terms (their mean over every `log_every` steps, as "train/..."), each evaluation's metrics
    ("eval/..."), and at each evaluation a histogram of the codes of a fixed batch of examples and image grids (those
    examples beside their reconstructions; a generative model's samples, the same draws each time). Subclasses say
    where: `_open`, `_scalars`, `_histogram`, `_image`, `_finish`. `bind` gives it the run before training."""

    def bind(self, run: Any, params: dict[str, Any], examples: Tensor | None) -> "Logger":
        """The run folder (a RunFolder), the run's settings (flat names -> values) and the examples it pictures."""
        self.run, self.params = run, params
        self.examples = None if examples is None else examples[:PICTURES].cpu()
        self.sums: dict[str, Tensor] = {}  # on the model's device: no sync on a step, only when they are sent
        self.counts: dict[str, int] = {}  # an update that skips a step is averaged over its own steps
        self.active = False
        return self

    # -- the callback -----------------------------------------------------------------------------------------

    def on_start(self, trainer: Trainer, resumed: bool) -> None:
        self.active = bool(trainer.ranks.main)  # rank 0 alone logs, as it alone writes the run folder
        if self.active:
            self._open(trainer.step, resumed)

    def on_step(self, trainer: Trainer, terms: dict[str, Tensor]) -> None:
        if not self.active:
            return
        for k, v in terms.items():
            self.sums[k] = self.sums[k] + v.detach() if k in self.sums else v.detach().clone()
            self.counts[k] = self.counts.get(k, 0) + 1
        if trainer.step % trainer.cfg.log_every == 0:
            self._flush(trainer.step)

    def on_eval(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        if not self.active:
            return
        self._scalars(trainer.step, {f"eval/{k}": float(v) for k, v in metrics.items() if _number(v)})
        if self.examples is not None:
            self._pictures(trainer.model, trainer.step)

    def on_stage_end(self, trainer: Trainer) -> None:
        if self.active:
            self._flush(trainer.step)
            self._finish(trainer.step)

    def _flush(self, step: int) -> None:
        if self.sums:
            self._scalars(step, {f"train/{k}": float(v) / self.counts[k] for k, v in self.sums.items()})
        self.sums, self.counts = {}, {}

    def _pictures(self, model: Any, step: int) -> None:
        from ..batching import map_batches
        from ..models.capabilities import Encoder, Sampler, is_autoencoder

        x = self.examples
        if isinstance(model, Encoder) and model.traits.codes != "none":
            codes = map_batches(model, x, model.encode)
            self._histogram(step, "codes", codes.flatten().float().numpy())
        if len(model.input_shape) != 3 or model.input_shape[0] not in (1, 3):
            return  # documents, vectors: no pictures
        if is_autoencoder(model):
            recon = map_batches(model, x, lambda v: model.decode(model.encode(v))).reshape(x.shape)
            pairs = torch.stack([x, recon.to(x.dtype)], 1).flatten(0, 1)  # each example beside its reconstruction
            self._image(step, "reconstructions", make_grid(pairs, nrow=8, scale=_scale(model)))
        if isinstance(model, Sampler):
            was = model.training
            model.eval()
            with torch.no_grad():
                samples = model.sample(PICTURES, generator=_generator(model)).cpu()
            model.train(was)
            self._image(step, "samples", make_grid(samples.reshape(-1, *model.input_shape), nrow=8, scale=_scale(model)))

    # -- where they go ----------------------------------------------------------------------------------------

    def check(self) -> None:
        """A one-line error now, before training, when the destination cannot take the run."""

    def _open(self, step: int, resumed: bool) -> None: ...
    def _scalars(self, step: int, values: dict[str, float]) -> None: ...
    def _histogram(self, step: int, name: str, values: np.ndarray) -> None: ...
    def _image(self, step: int, name: str, grid: np.ndarray) -> None: ...  # (H, W, C) uint8
    def _finish(self, step: int) -> None: ...


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)


def _scale(model: Any) -> int:
    """Small images (8x8 digits) enlarged to about MNIST's size in the grids."""
    return max(1, 28 // max(model.input_shape[1:]))


def _generator(model: Any) -> torch.Generator:
    param = next(model.parameters(), None)
    return torch.Generator(param.device if param is not None else "cpu").manual_seed(0)


class TensorBoardLogger(Logger):
    """Event files in `log_dir` (default RUN/tensorboard) that TensorBoard reads: scalars, the codes' histogram,
    image grids. A resumed run drops the events written after its checkpoint, as metrics.jsonl does."""

    def __init__(self, log_dir: str | Path | None = None) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter  # noqa: F401  (needs the tensorboard package)
        except ModuleNotFoundError:
            raise ConfigError("--log tensorboard needs the tensorboard package: pip install 'aelab[tensorboard]'") \
                from None
        self.log_dir = log_dir

    def _open(self, step: int, resumed: bool) -> None:
        from torch.utils.tensorboard import SummaryWriter

        folder = Path(self.log_dir) if self.log_dir is not None else self.run.tensorboard_path
        # events after the checkpoint's step go (those at it were logged before it was written), as in metrics.jsonl
        self.writer = SummaryWriter(str(folder), purge_step=step + 1 if resumed else None)
        if not resumed:
            self.writer.add_text("settings", "\n".join(f"    {k} = {v}" for k, v in sorted(self.params.items())), 0)

    def _scalars(self, step: int, values: dict[str, float]) -> None:
        for k, v in values.items():
            self.writer.add_scalar(k, v, step)

    def _histogram(self, step: int, name: str, values: np.ndarray) -> None:
        self.writer.add_histogram(name, values, step)

    def _image(self, step: int, name: str, grid: np.ndarray) -> None:
        self.writer.add_image(name, grid, step, dataformats="HWC")

    def _finish(self, step: int) -> None:
        self.writer.close()


class MLflowLogger(Logger):
    """An MLflow run in `experiment` at `tracking_uri` (None: MLflow's own default, MLFLOW_TRACKING_URI): the run's
    settings as parameters, the metrics, image grids and the codes' histogram summary, and at the end the run folder
    as artefacts. A resumed aelab run goes on logging into the same MLflow run (its id is kept in the checkpoint)."""

    key = "mlflow"

    def __init__(self, tracking_uri: str | None = None, experiment: str = "aelab") -> None:
        try:
            import mlflow  # noqa: F401
        except ModuleNotFoundError:
            raise ConfigError("--log mlflow needs MLflow: pip install 'aelab[mlflow]'") from None
        self.tracking_uri, self.experiment = tracking_uri, experiment
        self.run_id: str | None = None

    def state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        return {}, ({"run_id": self.run_id} if self.run_id else {})

    def load_state(self, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
        self.run_id = meta.get("run_id") or self.run_id

    def check(self) -> None:
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        try:
            MlflowClient(self.tracking_uri).search_experiments(max_results=1)
        except MlflowException as e:
            raise ConfigError(f"MLflow at {self.tracking_uri or 'its default URI'}: {str(e).splitlines()[0]}") from None

    def _open(self, step: int, resumed: bool) -> None:
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        try:
            self.client = MlflowClient(self.tracking_uri)
            if resumed and self.run_id:
                self.client.update_run(self.run_id, status="RUNNING")
                return
            found = self.client.get_experiment_by_name(self.experiment)
            experiment = found.experiment_id if found else self.client.create_experiment(self.experiment)
            run = self.client.create_run(experiment, run_name=self.run.path.name,
                                         tags={"aelab.run_folder": str(self.run.path.resolve())})
        except MlflowException as e:
            raise ConfigError(f"MLflow at {self.tracking_uri or 'its default URI'}: {str(e).splitlines()[0]}") from None
        self.run_id = run.info.run_id
        from mlflow.entities import Param

        params = [Param(k[:250], str(v)[:6000]) for k, v in sorted(self.params.items())]
        for start in range(0, len(params), 100):  # MLflow takes at most 100 parameters in one batch
            self.client.log_batch(self.run_id, params=params[start : start + 100])

    def _scalars(self, step: int, values: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k.replace("@", "_at_"), v, now, step) for k, v in values.items()]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def _histogram(self, step: int, name: str, values: np.ndarray) -> None:
        q = np.quantile(values, [0.05, 0.5, 0.95])
        self._scalars(step, {f"{name}/p05": float(q[0]), f"{name}/median": float(q[1]), f"{name}/p95": float(q[2])})

    def _image(self, step: int, name: str, grid: np.ndarray) -> None:
        self.client.log_image(self.run_id, grid, artifact_file=f"images/{name}_step{step:08d}.png")

    def _finish(self, step: int) -> None:
        self.client.log_artifacts(self.run_id, str(self.run.path), "run")
        self.client.set_terminated(self.run_id)


def make_loggers(log: Sequence[str | Logger] | str | None) -> list[Logger]:
    """Loggers from names ("tensorboard", "mlflow") or Logger objects; a one-line error for an unknown name."""
    if log is None:
        return []
    out = []
    for item in [log] if isinstance(log, (str, Logger)) else log:
        if isinstance(item, Logger):
            out.append(item)
        elif item == "tensorboard":
            out.append(TensorBoardLogger())
        elif item == "mlflow":
            out.append(MLflowLogger())
        else:
            raise ConfigError(f"unknown logger {item!r}; use {' or '.join(LOGGERS)} (metrics.jsonl is always written)")
    return out
