"""Run folders: create safely, record the stages, train them in order (each resumable), load the composed model."""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..batching import map_batches
from ..config import from_dict, to_dict
from ..errors import CheckpointError, ConfigError
from ..models.base import Trainable, build_model, model_class
from .checkpoint import atomic_write_json, load_weights, read_checkpoint, read_json, read_tensors
from .stages import DATA, MAIN, STAGES_DIR, RunSpec, Stage, stage_dir
from .distributed import SINGLE, Ranks
from ..lock import LOCK, run_lock
from .trainer import CHECKPOINT_FILES, PREVIOUS, Evaluate, Trainer

EXTENSIBLE = ("epochs", "restart_epoch")

CONFIG = "config.json"

__all__ = ["CONFIG", "RunSpec", "Stage", "load", "prepare_run_dir", "read_spec", "retrain", "train_run", "versions"]


def versions() -> dict[str, str]:
    """Versions that decide whether numbers are comparable."""
    from .. import __version__

    return {"aelab": __version__, "torch": torch.__version__, "python": sys.version.split()[0],
            "platform": platform.platform()}


REPLACED = ".replaced"  # the run an --overwrite replaces, kept until the new run's first checkpoint
RUN_FILES = (CONFIG, *CHECKPOINT_FILES, PREVIOUS, "metrics.jsonl", "report.html", STAGES_DIR)  # what a run owns


def _own_files(path: Path) -> list[Path]:
    return [path / name for name in RUN_FILES if (path / name).exists()]


def _is_empty(path: Path) -> bool:
    """No files but a lock (which a run that never started may leave)."""
    return not any(p.name != LOCK for p in path.iterdir())


def prepare_run_dir(path: Path, overwrite: bool = False, resume: bool = False) -> Path:
    """Create `path` for a new run; refuse to touch an existing run unless resuming or asked.

    With `overwrite`, the old run's own files (never anything else in the folder) move to RUN/.replaced,
    which `commit_replacement` deletes once the new run has a checkpoint and `restore_replaced` puts back
    if it fails before that.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CheckpointError(f"{path} exists and is not a folder")
    if resume:
        if not (path / CONFIG).is_file():
            raise CheckpointError(f"cannot resume: {path} is not a run folder (no {CONFIG})")
        return path
    if path.is_dir() and not _is_empty(path):
        if not overwrite:
            raise CheckpointError(f"{path} already exists and is not empty; use --resume to continue it or --overwrite to replace it")
        if not (path / CONFIG).is_file() and not (path / REPLACED).is_dir():
            raise CheckpointError(f"refusing to overwrite {path}: it is not a run folder (no {CONFIG})")
        _set_aside(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _set_aside(path: Path) -> None:
    aside = path / REPLACED
    if aside.is_dir() and not _has_commit(path):
        # an earlier --overwrite stopped before its first checkpoint: .replaced still holds the real run
        for f in _own_files(path):
            shutil.rmtree(f) if f.is_dir() else f.unlink()
        return
    if aside.is_dir():
        shutil.rmtree(aside)
    aside.mkdir()
    for f in _own_files(path):
        os.replace(f, aside / f.name)


def _has_commit(path: Path) -> bool:
    return any((stage / "trainer.json").exists() or (stage / PREVIOUS / "trainer.json").exists()
               for stage in [path, *(path / STAGES_DIR).glob("*")])


def commit_replacement(path: Path) -> None:
    """The new run has a checkpoint: the run it replaced goes."""
    shutil.rmtree(Path(path) / REPLACED, ignore_errors=True)


def restore_replaced(path: Path) -> None:
    """The new run failed before its first checkpoint: put the replaced run back as it was."""
    aside = Path(path) / REPLACED
    if not aside.is_dir() or _has_commit(path):
        return
    for f in _own_files(path):
        shutil.rmtree(f) if f.is_dir() else f.unlink()
    for f in aside.iterdir():
        os.replace(f, Path(path) / f.name)
    aside.rmdir()


def read_spec(run_dir: Path) -> RunSpec:
    """The RunSpec recorded in a run folder."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"run folder {run_dir} does not exist")
    return RunSpec.from_json(read_json(run_dir / CONFIG, "run config"))


def _write_spec(run_dir: Path, spec: RunSpec, **extra: Any) -> None:
    atomic_write_json(run_dir / CONFIG, {**spec.to_json(), **extra, "versions": versions()})


def _committed(folder: Path) -> dict[str, Any] | None:
    """trainer.json of the stage in `folder` (its latest or previous checkpoint), or None if it has none."""
    for f in (folder, folder / PREVIOUS):
        if (f / "trainer.json").exists():
            try:
                state = read_json(f / "trainer.json", "trainer state")
            except CheckpointError:  # damaged: the trainer falls back to previous/ and says so
                continue
            if isinstance(state, dict):
                return state
    return {} if (folder / "trainer.json").exists() else None


def _load_stage(model: Trainable, folder: Path) -> None:
    """The stage's committed weights; while a run is saving, its previous checkpoint (see `keep_previous`)."""
    if not (folder / "trainer.json").exists():  # weights placed by hand, with no trainer state to vouch for them
        load_weights(model, read_tensors(folder / "model.safetensors"), folder / "model.safetensors")
        return
    error: CheckpointError | None = None
    for attempt in range(3):  # a save replaces one file at a time: one of the two checkpoints is always whole
        for source in (folder, folder / PREVIOUS):
            try:
                _, weights = read_checkpoint(source, model.name)
            except CheckpointError as e:
                error = error or e
                continue
            load_weights(model, weights, source / "model.safetensors")
            return
        time.sleep(0.05 * (attempt + 1))
    assert error is not None
    raise error


def _finished(folder: Path, stage: Stage, rows: int) -> bool:
    """Whether the stage in `folder` has trained all the steps its config asks for (more after --epochs)."""
    state = _committed(folder) or {}
    return bool(state.get("finished")) and state.get("step", 0) >= stage.train.epochs * -(-rows // stage.train.batch_size)


def check_recorded(folder: Path, stage: Stage) -> None:
    """Refuse a config.json that contradicts the checkpoint it sits beside (a hand edit, or files mixed up)."""
    state = _committed(folder)
    if not state or not isinstance(state.get("model"), dict):
        return
    recorded = state["model"]
    stated = full_config(stage.model, stage.model_config)
    if recorded.get("name") != stage.model or full_config(stage.model, recorded.get("config")) != stated:
        diff = _first_difference(full_config(stage.model, recorded.get("config")), stated) \
            if recorded.get("name") == stage.model else f"model {recorded.get('name')!r} vs {stage.model!r}"
        raise CheckpointError(f"the config.json of {folder} contradicts its checkpoint ({diff}); was it edited by hand? "
                              "Restore it, or train a new run")
    trained, wanted = json.loads(json.dumps(state.get("train") or {})), json.loads(json.dumps(to_dict(stage.train)))
    common = (set(trained) & set(wanted)) - set(EXTENSIBLE)  # what --epochs may change on a finished run is not compared
    if any(trained[k] != wanted[k] for k in common):
        raise CheckpointError(f"the config.json of {folder} contradicts its checkpoint (training "
                              f"{_first_difference({k: trained[k] for k in common}, {k: wanted[k] for k in common})}); "
                              "was it edited by hand? Restore it, or train a new run")


def full_config(model: str, config: Any) -> dict[str, Any]:
    """A model config with every default filled in, as JSON would hold it (so partial and full ones compare)."""
    try:
        return json.loads(json.dumps(to_dict(from_dict(model_class(model).Config, config, "config"))))
    except ConfigError:
        return config if isinstance(config, dict) else {}


def _first_difference(recorded: dict[str, Any], stated: dict[str, Any]) -> str:
    for key in sorted(set(recorded) | set(stated)):
        if recorded.get(key) != stated.get(key):
            return f"{key}: checkpoint {recorded.get(key)!r}, config.json {stated.get(key)!r}"
    return "they differ"


def _build(stage: Stage) -> Trainable:
    torch.manual_seed(stage.train.seed)  # initial weights depend on the stage's seed alone
    return build_model(stage.model, stage.model_config)


def load(run_dir: str | Path) -> Trainable:
    """The trained model of a run folder, with its later stages attached (e.g. a prior): no pickle anywhere."""
    run_dir = Path(run_dir)
    spec = read_spec(run_dir)
    model = build_model(spec.model, spec.model_config)
    if not (run_dir / "model.safetensors").exists():
        raise CheckpointError(f"{run_dir} has no model.safetensors (training never reached a checkpoint)")
    check_recorded(run_dir, spec.main)
    _load_stage(model, run_dir)
    attached: dict[str, Trainable] = {}
    for stage in spec.after_main():
        folder = stage_dir(run_dir, stage.name)
        state = _committed(folder)
        if state and state.get("finished"):  # a stage still training is not part of the model yet
            part = build_model(stage.model, stage.model_config)
            _load_stage(part, folder)
            attached[stage.name] = part.eval()
    model.attach(attached)
    return model.eval()


def train_run(
    spec: RunSpec,
    out: Path,
    train_x: Tensor,
    train_y: Tensor | None,
    evaluate: Evaluate | None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    stop_after: int | tuple[str, int] | None = None,
    device: str = "auto",
    ranks: Ranks = SINGLE,
) -> tuple[Trainable, dict[str, float]]:
    """Train every stage of `spec` into run folder `out`, in order; each stage resumes on its own.

    `stop_after` is a testing hook that stops as if killed: after N steps of the main stage, or (stage, N).
    """
    ranks.agree(resume, "whether to resume")
    if not ranks.main:  # rank 0 alone writes and holds the lock; the others follow its folder
        return _train_locked(spec, out, train_x, train_y, evaluate, resume, overwrite, progress, stop_after, device, ranks)
    with run_lock(out):
        return _train_locked(spec, out, train_x, train_y, evaluate, resume, overwrite, progress, stop_after, device, ranks)


def _train_locked(spec: RunSpec, out: Path, train_x: Tensor, train_y: Tensor | None, evaluate: Evaluate | None,
                  resume: bool, overwrite: bool, progress: bool, stop_after: int | tuple[str, int] | None, device: str,
                  ranks: Ranks) -> tuple[Trainable, dict[str, float]]:
    if resume:
        out = prepare_run_dir(out, resume=True)
        stored = read_spec(out)
        if stored.model != spec.model:
            raise CheckpointError(f"{out} holds a {stored.model!r} run, not {spec.model!r}")
        spec = stored  # the run's own settings win on resume
    models = {s.name: _build(s) for s in spec.stages}  # every config is checked before any folder is touched
    models[MAIN].check_input(train_x)
    if resume:
        for s in spec.stages:
            check_recorded(stage_dir(out, s.name), s)
        if all(_finished(stage_dir(out, s.name), s, len(train_x)) for s in spec.stages):
            steps = (_committed(out) or {}).get("step")
            raise CheckpointError(f"the run in {out} already finished ({steps} steps); nothing to resume "
                                  "(--epochs N or --more-epochs N trains it longer)")
    else:
        if ranks.main:  # rank 0 alone writes the run folder; the others wait for it
            out = prepare_run_dir(out, overwrite=overwrite)
            _write_spec(out, spec)
        ranks.barrier()
    try:
        return _train_stages(spec, out, models, train_x, train_y, evaluate, resume, progress, stop_after, device, ranks)
    except BaseException:
        if ranks.main:
            restore_replaced(out)  # the new run failed before its first checkpoint: the old one comes back
        raise


def _train_stages(spec: RunSpec, out: Path, models: dict[str, Trainable], train_x: Tensor, train_y: Tensor | None,
                  evaluate: Evaluate | None, resume: bool, progress: bool,
                  stop_after: int | tuple[str, int] | None, device: str,
                  ranks: Ranks = SINGLE) -> tuple[Trainable, dict[str, float]]:
    outputs: dict[str, Tensor] = {DATA: train_x}

    def input_of(stage: Stage) -> Tensor:  # computed once, and only when a stage still has to train
        if stage.input not in outputs:
            source = spec.stage(stage.input)
            x = input_of(source)
            if source.train.binarize:  # the source trained on binary draws: its output of one fixed draw, as in eval
                from ..data import binarize

                x = binarize(x, seed=0)
            outputs[stage.input] = map_batches(models[source.name], x, models[source.name].stage_output)
        return outputs[stage.input]

    stop_stage, stop_step = stop_after if isinstance(stop_after, tuple) else (MAIN, stop_after)
    result: dict[str, float] = {}
    for i, stage in enumerate(spec.stages):
        folder = stage_dir(out, stage.name)
        model = models[stage.name]
        state = _committed(folder)
        if _finished(folder, stage, len(train_x)):
            _load_stage(model, folder)
            continue
        if stage.name != MAIN and ranks.main:
            folder.mkdir(parents=True, exist_ok=True)
            if not (folder / CONFIG).exists():  # so that `aelab.load(RUN/stages/NAME)` works on its own
                _write_spec(folder, RunSpec([Stage(MAIN, stage.model, stage.model_config, stage.train)], spec.data,
                                            spec.data_dir), stage_of={"stage": stage.name, "input": stage.input})
        if state is None:
            model.initialise_from({s.name: models[s.name] for s in spec.stages[:i]})
        is_main = stage.name == MAIN
        trainer = Trainer(model, input_of(stage), stage.train, folder, y=train_y if stage.input == DATA else None,
                          evaluate=evaluate if is_main else None, progress=progress,
                          desc=spec.model if is_main else stage.name,
                          stop_after=stop_step if stage.name == stop_stage else None, device=device, ranks=ranks,
                          on_commit=(lambda: commit_replacement(out)) if ranks.main else None)
        r = trainer.fit(resume=resume)
        ranks.barrier()  # the stage's last checkpoint is on disk before any rank goes on
        if is_main:
            result = r
        if trainer.step < trainer.total_steps:  # stopped early (the testing hook): later stages wait
            return models[MAIN], result
    main = models[MAIN]
    main.attach({s.name: models[s.name].eval() for s in spec.after_main()})
    return main, result


def retrain(out: Path, new_stages: list[Stage], rerun: list[str], overwrite: bool) -> RunSpec:
    """Add stages to a run or mark stages to train again (with all that build on them); returns the new spec.

    Stages that already hold a checkpoint are only discarded with `overwrite`; the caller then trains
    the run with `train_run(..., resume=True)`, which trains exactly the stages without a finished checkpoint.
    """
    with run_lock(out):
        return _retrain(Path(out), new_stages, rerun, overwrite)


def _retrain(out: Path, new_stages: list[Stage], rerun: list[str], overwrite: bool) -> RunSpec:
    from .stages import with_stages

    out = prepare_run_dir(out, resume=True)
    spec = with_stages(read_spec(out), new_stages)
    for name in rerun:
        spec.stage(name)  # a one-line error for an unknown stage
    redo = spec.dependents({*rerun, *(s.name for s in new_stages)})
    trained = [s.name for s in redo if _committed(stage_dir(out, s.name)) is not None]
    if trained and not overwrite:
        raise ConfigError(f"stage(s) {', '.join(trained)} of {out} are already trained; add --overwrite to train "
                          "them again (their checkpoints are replaced)")
    for s in redo:
        folder = stage_dir(out, s.name)
        if s.name == MAIN:
            for name in (*CHECKPOINT_FILES, "metrics.jsonl"):
                (folder / name).unlink(missing_ok=True)
            shutil.rmtree(folder / PREVIOUS, ignore_errors=True)
        elif folder.is_dir() and folder.parent.name == STAGES_DIR:
            shutil.rmtree(folder)
    _write_spec(out, spec)
    return spec


def extend(out: Path, epochs: int, overwrite: bool, rows: int) -> RunSpec:
    """Give a finished run's main stage `epochs` epochs in all; its schedule restarts where it stopped.

    Stages built on the model (a prior) would describe the old model: they are trained again after it,
    which discards their checkpoints, so that needs `overwrite`.
    """
    import dataclasses

    from .stages import with_stages

    with run_lock(out):
        spec = read_spec(out)
        main = spec.main
        if not _finished(out, main, rows):
            state = _committed(out) or {}
            raise ConfigError(f"the run in {out} is at step {state.get('step', 0)} of "
                              f"{main.train.epochs * -(-rows // main.train.batch_size)}: resume it to the end first, "
                              "then extend it with --epochs")
        later = [s for s in spec.dependents({MAIN}) if s.name != MAIN and _committed(stage_dir(out, s.name)) is not None]
        if later and not overwrite:
            raise ConfigError(f"training the model longer leaves stage(s) {', '.join(s.name for s in later)}, built on "
                              "it, out of date; add --overwrite to train them again after it")
        train = dataclasses.replace(main.train, epochs=epochs, restart_epoch=main.train.epochs)
        spec = with_stages(spec, [dataclasses.replace(main, train=train)])
        for s in later:
            shutil.rmtree(stage_dir(out, s.name))
        _write_spec(out, spec)
        print(f"extending {out} from {main.train.epochs} to {epochs} epochs"
              + (" (the cosine schedule restarts over the added epochs)" if train.schedule == "cosine" else ""))
        return spec
