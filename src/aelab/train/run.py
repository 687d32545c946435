"""Multi-stage runs: train a RunSpec's stages in order into a RunFolder (each resumable), load the composed model."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import Tensor

from ..batching import map_batches
from ..config import notes_once, to_dict
from ..errors import CheckpointError, ConfigError
from ..models.base import Trainable, build_model
from ..recipes.stages import DATA, MAIN, RunSpec, Stage, with_stages
from ..runs.folder import RunFolder
from .callbacks import Callback, MetricsLogger, Progress
from .checkpoint import load_weights
from .distributed import SINGLE, Ranks
from .plan import full_config
from .trainer import Evaluate, Trainer

EXTENSIBLE = ("epochs", "restart_epoch")  # what --epochs may change on a finished run

__all__ = ["extend", "load", "retrain", "train_run"]


def _folder(out: RunFolder | Path | str) -> RunFolder:
    return out if isinstance(out, RunFolder) else RunFolder(out)


def _total_steps(stage: Stage, rows: int) -> int:
    return stage.train.epochs * -(-rows // stage.train.batch_size)


def _load_stage(model: Trainable, folder: RunFolder) -> None:
    weights, source = folder.read_weights(model.name)
    load_weights(model, weights, source)


def check_recorded(folder: RunFolder, stage: Stage) -> None:
    """Refuse a config.json that contradicts the checkpoint it sits beside (a hand edit, or files mixed up)."""
    state = folder.committed()
    if not state or not isinstance(state.get("model"), dict):
        return
    recorded = state["model"]
    stated = full_config(stage.model, stage.model_config, saved=True)
    if recorded.get("name") != stage.model or full_config(stage.model, recorded.get("config"), saved=True) != stated:
        diff = _first_difference(full_config(stage.model, recorded.get("config"), saved=True), stated) \
            if recorded.get("name") == stage.model else f"model {recorded.get('name')!r} vs {stage.model!r}"
        raise CheckpointError(f"the config.json of {folder.path} contradicts its checkpoint ({diff}); was it edited by "
                              "hand? Restore it, or train a new run")
    trained, wanted = json.loads(json.dumps(state.get("train") or {})), json.loads(json.dumps(to_dict(stage.train)))
    common = (set(trained) & set(wanted)) - set(EXTENSIBLE)
    if any(trained[k] != wanted[k] for k in common):
        raise CheckpointError(f"the config.json of {folder.path} contradicts its checkpoint (training "
                              f"{_first_difference({k: trained[k] for k in common}, {k: wanted[k] for k in common})}); "
                              "was it edited by hand? Restore it, or train a new run")


def _first_difference(recorded: dict[str, Any], stated: dict[str, Any]) -> str:
    for key in sorted(set(recorded) | set(stated)):
        if recorded.get(key) != stated.get(key):
            return f"{key}: checkpoint {recorded.get(key)!r}, config.json {stated.get(key)!r}"
    return "they differ"


def _build(stage: Stage) -> Trainable:
    torch.manual_seed(stage.train.seed)  # initial weights depend on the stage's seed alone
    return build_model(stage.model, stage.model_config, saved=True)


@notes_once()
def load(run_dir: str | Path | RunFolder) -> Trainable:
    """The trained model of a run folder, with its later stages attached (e.g. a prior): no pickle anywhere."""
    run = _folder(run_dir)
    spec = run.read_spec()
    model = build_model(spec.model, spec.model_config, saved=True)
    if not run.has_weights():
        raise CheckpointError(f"{run.path} has no model.safetensors (training never reached a checkpoint)")
    check_recorded(run, spec.main)
    _load_stage(model, run)
    attached: dict[str, Trainable] = {}
    for stage in spec.after_main():
        folder = run.stage(stage.name)
        state = folder.committed()
        if state and state.get("finished"):  # a stage still training is not part of the model yet
            part = build_model(stage.model, stage.model_config, saved=True)
            _load_stage(part, folder)
            attached[stage.name] = part.eval()
    model.attach(attached)
    return model.eval()


def train_run(
    spec: RunSpec,
    out: RunFolder | Path | str,
    train_x: Tensor,
    train_y: Tensor | None,
    evaluate: Evaluate | None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    callbacks: Mapping[str, Sequence[Callback]] | None = None,
    device: str = "auto",
    ranks: Ranks = SINGLE,
) -> tuple[Trainable, dict[str, float]]:
    """Train every stage of `spec` into run folder `out`, in order; each stage resumes on its own.

    Every stage logs to its metrics.jsonl (and shows its progress with `progress`); `callbacks` adds more, by
    stage name. A stage that a callback stops before its end leaves the later stages untrained.
    """
    run = _folder(out)
    ranks.agree(resume, "whether to resume")
    if not ranks.main:  # rank 0 alone writes and holds the lock; the others follow its folder
        return _train_locked(spec, run, train_x, train_y, evaluate, resume, overwrite, progress, callbacks or {},
                             device, ranks)
    with run.lock():
        return _train_locked(spec, run, train_x, train_y, evaluate, resume, overwrite, progress, callbacks or {},
                             device, ranks)


def _train_locked(spec: RunSpec, run: RunFolder, train_x: Tensor, train_y: Tensor | None, evaluate: Evaluate | None,
                  resume: bool, overwrite: bool, progress: bool, callbacks: Mapping[str, Sequence[Callback]],
                  device: str, ranks: Ranks) -> tuple[Trainable, dict[str, float]]:
    if resume:
        run.prepare(resume=True)
        stored = run.read_spec()
        if stored.model != spec.model:
            raise CheckpointError(f"{run.path} holds a {stored.model!r} run, not {spec.model!r}")
        spec = stored  # the run's own settings win on resume
    models = {s.name: _build(s) for s in spec.stages}  # every config is checked before any folder is touched
    models[MAIN].check_input(train_x)
    if resume:
        for s in spec.stages:
            check_recorded(run.stage(s.name), s)
        if all(run.stage(s.name).finished(_total_steps(s, len(train_x))) for s in spec.stages):
            steps = (run.committed() or {}).get("step")
            raise CheckpointError(f"the run in {run.path} already finished ({steps} steps); nothing to resume "
                                  "(--epochs N or --more-epochs N trains it longer)")
    else:
        if ranks.main:  # rank 0 alone writes the run folder; the others wait for it
            run.prepare(overwrite=overwrite)
            run.write_spec(spec)
        ranks.barrier()
    try:
        return _train_stages(spec, run, models, train_x, train_y, evaluate, resume, progress, callbacks, device, ranks)
    except BaseException:
        if ranks.main:
            run.restore_replaced()  # the new run failed before its first checkpoint: the old one comes back
        raise


class _CommitReplacement(Callback):
    """Once the new run's first checkpoint commits, the run an --overwrite set aside goes."""

    def __init__(self, run: RunFolder) -> None:
        self.run = run

    def on_checkpoint(self, trainer: Trainer) -> None:
        self.run.commit_replacement()


def _train_stages(spec: RunSpec, run: RunFolder, models: dict[str, Trainable], train_x: Tensor,
                  train_y: Tensor | None, evaluate: Evaluate | None, resume: bool, progress: bool,
                  callbacks: Mapping[str, Sequence[Callback]], device: str,
                  ranks: Ranks) -> tuple[Trainable, dict[str, float]]:
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

    result: dict[str, float] = {}
    for i, stage in enumerate(spec.stages):
        folder = run.stage(stage.name)
        model = models[stage.name]
        if folder.finished(_total_steps(stage, len(train_x))):
            _load_stage(model, folder)
            continue
        if stage.name != MAIN and ranks.main:
            run.write_stage_spec(spec, stage)
        if folder.committed() is None:
            model.initialise_from({s.name: models[s.name] for s in spec.stages[:i]})
        is_main = stage.name == MAIN
        installed: list[Callback] = [MetricsLogger(folder.metrics)]
        if progress:
            installed.append(Progress(spec.model if is_main else stage.name))
        if ranks.main:
            installed.append(_CommitReplacement(run))
        trainer = Trainer(model, input_of(stage), stage.train, folder, y=train_y if stage.input == DATA else None,
                          evaluate=evaluate if is_main else None, callbacks=[*installed, *callbacks.get(stage.name, ())],
                          device=device, ranks=ranks, desc=spec.model if is_main else stage.name)
        r = trainer.fit(resume=resume)
        ranks.barrier()  # the stage's last checkpoint is on disk before any rank goes on
        if is_main:
            result = r
        if trainer.step < trainer.total_steps:  # stopped early by a callback: later stages wait
            return models[MAIN], result
    main = models[MAIN]
    main.attach({s.name: models[s.name].eval() for s in spec.after_main()})
    return main, result


def retrain(out: RunFolder | Path | str, new_stages: list[Stage], rerun: list[str], overwrite: bool) -> RunSpec:
    """Add stages to a run or mark stages to train again (with all that build on them); returns the new spec.

    Stages that already hold a checkpoint are only discarded with `overwrite`; the caller then trains
    the run with `train_run(..., resume=True)`, which trains exactly the stages without a finished checkpoint.
    """
    run = _folder(out)
    with run.lock():
        run.prepare(resume=True)
        spec = with_stages(run.read_spec(), new_stages)
        for name in rerun:
            spec.stage(name)  # a one-line error for an unknown stage
        redo = spec.dependents({*rerun, *(s.name for s in new_stages)})
        trained = [s.name for s in redo if run.stage(s.name).committed() is not None]
        if trained and not overwrite:
            raise ConfigError(f"stage(s) {', '.join(trained)} of {run.path} are already trained; add --overwrite to "
                              "train them again (their checkpoints are replaced)")
        for s in redo:
            run.stage(s.name).discard_checkpoint()
        run.write_spec(spec)
        return spec


def extend(out: RunFolder | Path | str, epochs: int, overwrite: bool, rows: int) -> RunSpec:
    """Give a finished run's main stage `epochs` epochs in all; its schedule restarts where it stopped.

    Stages built on the model (a prior) would describe the old model: they are trained again after it,
    which discards their checkpoints, so that needs `overwrite`.
    """
    run = _folder(out)
    with run.lock():
        spec = run.read_spec()
        main = spec.main
        if not run.finished(_total_steps(main, rows)):
            state = run.committed() or {}
            raise ConfigError(f"the run in {run.path} is at step {state.get('step', 0)} of "
                              f"{_total_steps(main, rows)}: resume it to the end first, then extend it with --epochs")
        later = [s for s in spec.dependents({MAIN}) if s.name != MAIN and run.stage(s.name).committed() is not None]
        if later and not overwrite:
            raise ConfigError(f"training the model longer leaves stage(s) {', '.join(s.name for s in later)}, built on "
                              "it, out of date; add --overwrite to train them again after it")
        train = dataclasses.replace(main.train, epochs=epochs, restart_epoch=main.train.epochs)
        spec = with_stages(spec, [dataclasses.replace(main, train=train)])
        for s in later:
            run.stage(s.name).discard_checkpoint()
        run.write_spec(spec)
        print(f"extending {run.path} from {main.train.epochs} to {epochs} epochs"
              + (" (the cosine schedule restarts over the added epochs)" if train.schedule == "cosine" else ""))
        return spec
