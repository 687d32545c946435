"""RunFolder: the one reader and writer of a run folder's files, and of the order in which they are committed.

```
RUN/config.json          the RunSpec (data + every stage) and versions
RUN/model.safetensors    the main stage's checkpoint: weights,
RUN/trainer.safetensors  optimiser state and RNG,
RUN/trainer.json         step, checksums; written last: the commit point
RUN/previous/            the checkpoint before (hard links), for a damaged latest one
RUN/metrics.jsonl        one JSON line per log/evaluation, with step and epoch
RUN/report.html          the report
RUN/stages/NAME/         every other stage: the same files, a run folder of its own
RUN/.lock                the OS lock of the process writing the run
RUN/.replaced/           the run an --overwrite replaces, until the new run's first checkpoint commits
```
Nothing else in aelab opens these files by name (tests/test_layers.py keeps it so). No torch here: checkpoints
arrive and leave as bytes; `read_tensors` decodes safetensors on demand.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import platform
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Iterator

from ..errors import CheckpointError
from ..fsio import atomic_write_bytes, atomic_write_json
from ..lock import LOCK, run_lock
from ..recipes.stages import DATA, MAIN, RunSpec, Stage
from ..version import __version__

CONFIG = "config.json"
MODEL = "model.safetensors"
TRAINER = "trainer.safetensors"
STATE = "trainer.json"  # the commit point: a checkpoint counts once this file names it
CHECKPOINT_FILES = (MODEL, TRAINER, STATE)  # written in this order
PREVIOUS = "previous"
METRICS = "metrics.jsonl"
REPORT = "report.html"
STAGES = "stages"
REPLACED = ".replaced"
INDEX = "index"  # `aelab index build RUN`'s default: the training items' codes, which `aelab search RUN` reads
EXPORT = "export"  # `aelab export RUN`'s default folder: the networks as ONNX or TorchScript files, export.json
TENSORBOARD = "tensorboard"  # --log tensorboard's event files
RUN_FILES = (CONFIG, *CHECKPOINT_FILES, PREVIOUS, METRICS, REPORT, STAGES, INDEX, EXPORT, TENSORBOARD)  # what a run owns in its folder


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_json(path: Path, what: str = "file") -> Any:
    """Read JSON or raise a one-line CheckpointError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} {path} is missing")
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{what} {path} is not valid JSON ({e.__class__.__name__})") from None


def read_tensors(path: Path, expected_sha256: str | None = None) -> dict[str, Any]:
    """Load a safetensors file (never a pickle), checking its checksum when one is recorded."""
    from safetensors import SafetensorError
    from safetensors.torch import load as st_load

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file {path} is missing")
    data = path.read_bytes()
    if expected_sha256 is not None and sha256_bytes(data) != expected_sha256:
        raise CheckpointError(f"checkpoint file {path} does not match its recorded checksum (corrupt or half-written)")
    try:
        return st_load(data)
    except (SafetensorError, ValueError, RuntimeError, OSError) as e:
        raise CheckpointError(f"{path} is not a valid safetensors file ({str(e).splitlines()[0][:120]})") from None


def versions() -> dict[str, str]:
    """Versions that decide whether numbers are comparable."""
    torch = sys.modules.get("torch")
    try:
        torch_version = torch.__version__ if torch is not None else importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        torch_version = "none"
    return {"aelab": __version__, "torch": torch_version, "python": sys.version.split()[0],
            "platform": platform.platform()}


class MetricsLog:
    """metrics.jsonl: one JSON object per line (train averages and evaluations), each with its step."""

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

    def seconds(self) -> float:
        """The trainer's clock at the last record (kept across resumes)."""
        return max((float(r.get("time", 0.0)) for r in self.records()), default=0.0)


class RunFolder:
    """A run folder (or one stage's folder inside it): its files, its checkpoint protocol, its lock."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    # --- layout ------------------------------------------------------------------------
    def stage(self, name: str) -> "RunFolder":
        """Where a stage's checkpoint lives: this folder for the main stage, else stages/<name>/."""
        return self if name == MAIN else RunFolder(self.path / STAGES / name)

    @property
    def metrics(self) -> MetricsLog:
        return MetricsLog(self.path / METRICS)

    @property
    def report_path(self) -> Path:
        return self.path / REPORT

    @property
    def index_path(self) -> Path:
        return self.path / INDEX

    @property
    def tensorboard_path(self) -> Path:
        """Where --log tensorboard writes the run's event files."""
        return self.path / TENSORBOARD

    @property
    def export_path(self) -> Path:
        """Where `aelab export` writes the run's networks by default."""
        return self.path / EXPORT

    def write_report(self, html: str) -> Path:
        return atomic_write_bytes(self.report_path, html.encode("utf-8"))

    def is_run(self) -> bool:
        return (self.path / CONFIG).is_file()

    def is_empty(self) -> bool:
        """No files but a lock (which a run that never started may leave)."""
        return self.path.is_dir() and not any(p.name != LOCK for p in self.path.iterdir())

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """One writer: an OS lock on RUN/.lock, re-entrant in one process, released by the OS when it ends."""
        return run_lock(self.path)

    # --- the recorded run --------------------------------------------------------------
    def read_spec(self) -> RunSpec:
        """The RunSpec recorded in the folder."""
        if not self.path.is_dir():
            raise CheckpointError(f"run folder {self.path} does not exist")
        return RunSpec.from_json(read_json(self.path / CONFIG, "run config"))

    def write_spec(self, spec: RunSpec, **extra: Any) -> None:
        atomic_write_json(self.path / CONFIG, {**spec.to_json(), **extra, "versions": versions()})

    def write_stage_spec(self, spec: RunSpec, stage: Stage) -> None:
        """A stage folder's own config.json, so that `aelab.load(RUN/stages/NAME)` works on it alone."""
        folder = self.stage(stage.name)
        folder.path.mkdir(parents=True, exist_ok=True)
        if not folder.is_run():
            folder.write_spec(RunSpec([Stage(MAIN, stage.model, stage.model_config, stage.train)], spec.data,
                                      spec.data_dir), stage_of={"stage": stage.name, "input": stage.input})

    # --- creating and replacing --------------------------------------------------------
    def prepare(self, overwrite: bool = False, resume: bool = False) -> None:
        """Create the folder for a new run; refuse to touch an existing run unless resuming or asked.

        With `overwrite`, the old run's own files (never anything else in the folder) move to RUN/.replaced,
        which `commit_replacement` deletes once the new run has a checkpoint and `restore_replaced` puts back
        if it fails before that.
        """
        path = self.path
        if path.exists() and not path.is_dir():
            raise CheckpointError(f"{path} exists and is not a folder")
        if resume:
            if not self.is_run():
                raise CheckpointError(f"cannot resume: {path} is not a run folder (no {CONFIG})")
            return
        if path.is_dir() and not self.is_empty():
            if not overwrite:
                raise CheckpointError(f"{path} already exists and is not empty; use --resume to continue it or "
                                      "--overwrite to replace it")
            if not self.is_run() and not (path / REPLACED).is_dir():
                raise CheckpointError(f"refusing to overwrite {path}: it is not a run folder (no {CONFIG})")
            self._set_aside()
        path.mkdir(parents=True, exist_ok=True)

    def _own_files(self) -> list[Path]:
        return [self.path / name for name in RUN_FILES if (self.path / name).exists()]

    def _remove_own_files(self) -> None:
        for f in self._own_files():
            shutil.rmtree(f) if f.is_dir() else f.unlink()

    def _set_aside(self) -> None:
        aside = self.path / REPLACED
        if aside.is_dir() and not self.any_commit():
            # an earlier --overwrite stopped before its first checkpoint: .replaced still holds the real run
            self._remove_own_files()
            return
        if aside.is_dir():
            shutil.rmtree(aside)
        aside.mkdir()
        for f in self._own_files():
            os.replace(f, aside / f.name)

    def any_commit(self) -> bool:
        """Whether any stage of the run has committed a checkpoint."""
        return any(RunFolder(p).has_checkpoint() for p in [self.path, *(self.path / STAGES).glob("*")])

    def commit_replacement(self) -> None:
        """The new run has a checkpoint: the run it replaced goes."""
        shutil.rmtree(self.path / REPLACED, ignore_errors=True)

    def restore_replaced(self) -> None:
        """The new run failed before its first checkpoint: put the replaced run back as it was."""
        aside = self.path / REPLACED
        if not aside.is_dir() or self.any_commit():
            return
        self._remove_own_files()
        for f in aside.iterdir():
            os.replace(f, self.path / f.name)
        aside.rmdir()

    def discard_checkpoint(self) -> None:
        """Forget this stage's training (its checkpoints and log), to train it again from step 0."""
        if self.path.parent.name == STAGES:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        for name in (*CHECKPOINT_FILES, METRICS):
            (self.path / name).unlink(missing_ok=True)
        shutil.rmtree(self.path / PREVIOUS, ignore_errors=True)

    # --- checkpoints -------------------------------------------------------------------
    def has_checkpoint(self) -> bool:
        """Whether a checkpoint was committed here (the latest or the previous one)."""
        return (self.path / STATE).exists() or (self.path / PREVIOUS / STATE).exists()

    def has_weights(self) -> bool:
        return (self.path / MODEL).exists()

    @property
    def weights_path(self) -> Path:
        """The weights file, for messages that name where weights came from."""
        return self.path / MODEL

    def committed(self) -> dict[str, Any] | None:
        """trainer.json of the stage (its latest or previous checkpoint), or None if it has none.

        {} when trainer.json is there but unreadable and previous/ has none.
        """
        for f in (self.path, self.path / PREVIOUS):
            if (f / STATE).exists():
                try:
                    state = read_json(f / STATE, "trainer state")
                except CheckpointError:  # damaged: the trainer falls back to previous/ and says so
                    continue
                if isinstance(state, dict):
                    return state
        return {} if (self.path / STATE).exists() else None

    def finished(self, total_steps: int) -> bool:
        """Whether the stage has trained all `total_steps` (more after --epochs)."""
        state = self.committed() or {}
        return bool(state.get("finished")) and state.get("step", 0) >= total_steps

    def uncommitted_files(self) -> list[str]:
        """Checkpoint files lying here without a commit (a kill before the first trainer.json)."""
        return [n for n in CHECKPOINT_FILES if (self.path / n).exists()]

    def write_checkpoint(self, model: bytes, trainer: bytes, state: dict[str, Any], rotate: bool = True) -> None:
        """Commit a checkpoint: the one before moves to previous/ first, trainer.json lands last.

        A crash at any instant leaves one whole checkpoint: the new one once trainer.json is written, else the one
        in previous/ (or none, before the first). `state` gets the files' checksums.
        """
        if rotate:
            self._keep_previous()
        state = {**state, "model_sha256": sha256_bytes(model), "trainer_sha256": sha256_bytes(trainer)}
        self._put(MODEL, model)
        self._put(TRAINER, trainer)
        self._put(STATE, (json.dumps(state, indent=2, sort_keys=True) + "\n").encode())

    def _put(self, name: str, payload: bytes) -> None:
        """One file of a checkpoint, written atomically (a test wraps this to kill between any two writes)."""
        atomic_write_bytes(self.path / name, payload)

    def _keep_previous(self) -> None:
        """Move the committed checkpoint into previous/ (hard links: no copying); trainer.json last."""
        if not (self.path / STATE).exists():
            return
        prev = self.path / PREVIOUS
        prev.mkdir(exist_ok=True)
        for name in CHECKPOINT_FILES:
            src = self.path / name
            if not src.exists():
                return
            self._link(src, prev / name)

    def _link(self, src: Path, dst: Path) -> None:
        """`dst` becomes `src` atomically (a test wraps this to kill between any two writes)."""
        if dst.exists() and os.path.samefile(src, dst):
            return  # already linked (a rotation cut short): renaming a link over itself would leave tmp behind
        tmp = dst.with_name(f".{dst.name}.tmp")
        if tmp.exists():
            tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:  # a file system without hard links
            shutil.copy2(src, tmp)
        os.replace(tmp, dst)

    def checkpoint_sources(self) -> list["RunFolder"]:
        """Where a reader looks for a whole checkpoint, in order: the latest, then previous/."""
        return [self, RunFolder(self.path / PREVIOUS)]

    def read_checkpoint(self, model_name: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """The checkpoint committed in this folder: trainer.json and the weights it vouches for (checksummed).

        With `model_name`, a checkpoint of another model is refused.
        """
        state = read_json(self.path / STATE, "trainer state")
        if not isinstance(state, dict) or "step" not in state:
            raise CheckpointError(f"trainer state {self.path / STATE} has no step (not a checkpoint)")
        recorded = state.get("model", {}).get("name") if isinstance(state.get("model"), dict) else None
        if model_name is not None and recorded != model_name:
            raise CheckpointError(f"{self.path} holds a {recorded!r} checkpoint, not {model_name!r}")
        return state, read_tensors(self.path / MODEL, state.get("model_sha256"))

    def read_trainer_tensors(self, state: dict[str, Any]) -> dict[str, Any]:
        return read_tensors(self.path / TRAINER, state.get("trainer_sha256"))

    def read_weights(self, model_name: str) -> tuple[dict[str, Any], Path]:
        """The committed weights; while a run is saving, its previous checkpoint (one of the two is always whole).

        Weights placed by hand, with no trainer.json to vouch for them, are read as they are.
        """
        if not (self.path / STATE).exists():
            return read_tensors(self.path / MODEL), self.path / MODEL
        error: CheckpointError | None = None
        for attempt in range(3):  # a save replaces one file at a time
            for source in self.checkpoint_sources():
                try:
                    _, weights = source.read_checkpoint(model_name)
                except CheckpointError as e:
                    error = error or e
                    continue
                return weights, source.path / MODEL
            time.sleep(0.05 * (attempt + 1))
        assert error is not None
        raise error

    def weights_sha256(self) -> str:
        """The checksum of the committed weights (an index records which weights made its codes): as trainer.json
        records it, else of the file as it is."""
        recorded = (self.committed() or {}).get("model_sha256")
        return recorded if isinstance(recorded, str) else sha256_bytes((self.path / MODEL).read_bytes())

    def latest_is_rotation_cut_short(self) -> bool:
        """Whether the latest checkpoint is the one just moved to previous/, half replaced by a new write."""
        try:
            return json.loads((self.path / STATE).read_text()).get("step") == \
                json.loads((self.path / PREVIOUS / STATE).read_text()).get("step")
        except (OSError, ValueError, AttributeError):
            return False

    # --- what a report says about the run ----------------------------------------------
    def progress_text(self) -> str:
        state = self.committed()
        if not state:
            return "not trained yet"
        step, total = state.get("step"), state.get("total_steps")
        if state.get("finished"):
            return f"finished ({step} steps)"
        return f"step {step} of {total}" if total else f"step {step}"

    def unfinished_note(self, spec: RunSpec) -> str | None:
        """'unfinished: step 120 of 900 (...)' for a run with a stage short of its end, None when all have finished."""
        waiting = [s for s in spec.stages if not (self.stage(s.name).committed() or {}).get("finished")]
        if not waiting:
            return None
        first = waiting[0]
        where = self.stage(first.name).progress_text()
        if first.name != MAIN:
            where = f"stage {first.name} {'at ' if where.startswith('step') else ''}{where}"
        later = [s.name for s in waiting[1:]]
        if later:
            where += f"; not trained yet: stage{'s' if len(later) > 1 else ''} {', '.join(later)}"
        resume = f"aelab train {spec.model} --out {shlex.quote(str(self.path))} --resume"
        return f"unfinished: {where} (continue with: {resume})"

    def stage_about(self, stage: Stage) -> str:
        source = "the data" if stage.input == DATA else f"the outputs of stage {stage.input}"
        return f"{stage.model} trained on {source}: {self.stage(stage.name).progress_text()}"

    def all_finished(self) -> bool:
        """Whether the run and every stage it has started have finished (for a bench deciding to retrain)."""
        if not (self.path / STATE).exists():
            return False
        return all((RunFolder(p).committed() or {}).get("finished", True)
                   for p in [self.path, *(self.path / STAGES).glob("*")] if (Path(p) / STATE).exists())

    def seconds(self) -> float:
        """Training seconds of every stage, by the trainer's clock (kept across resumes)."""
        return sum(RunFolder(p).metrics.seconds() for p in [self.path, *sorted((self.path / STAGES).glob("*"))])


@contextlib.contextmanager
def no_interrupt() -> Iterator[None]:
    """Hold Ctrl-C back while a checkpoint is written; it takes effect as soon as the write is done."""
    import signal
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
