"""`aelab report`: (re)write report.html for a run; also what the report says about the run's stages."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .common import add_data_args, data_options, load_run_data, path_arg, run_data, write_run_report

if TYPE_CHECKING:  # torch-free at import time: the CLI parser loads this module
    from ..train.stages import RunSpec, Stage
    from ..viz.report import StageRecords

HELP = "(re)write report.html for a run"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `aelab report`."""
    p.add_argument("run", type=path_arg)
    add_data_args(p, default=None)


def run(args: argparse.Namespace) -> int:
    from ..models.base import BINARY_CODES

    model, data, spec = run_data(args, "test")
    database = None
    if BINARY_CODES in model.capabilities():  # the report's retrieval section searches the training items
        database = load_run_data(spec, "train", args.data, args.data_dir, data_options(args))
    print(f"report: {write_run_report(args.run, model, data, database)}")
    return 0


def stage_state(folder: Path) -> dict[str, Any] | None:
    """A stage folder's trainer.json (its previous/ one if the latest is damaged), or None if it has none."""
    from ..errors import CheckpointError
    from ..train.checkpoint import read_json

    for f in (folder, folder / "previous"):
        if (f / "trainer.json").exists():
            try:
                state = read_json(f / "trainer.json", "trainer state")
            except CheckpointError:
                continue
            if isinstance(state, dict):
                return state
    return None


def _progress(state: dict[str, Any] | None) -> str:
    if not state:
        return "not trained yet"
    step, total = state.get("step"), state.get("total_steps")
    if state.get("finished"):
        return f"finished ({step} steps)"
    return f"step {step} of {total}" if total else f"step {step}"


def unfinished_note(run: Path, spec: "RunSpec") -> str | None:
    """'unfinished: step 120 of 900 (...)' for a run with a stage short of its end, None when all have finished."""
    from ..train.stages import MAIN, stage_dir

    states = {s.name: stage_state(stage_dir(run, s.name)) for s in spec.stages}
    waiting = [s for s in spec.stages if not (states[s.name] or {}).get("finished")]
    if not waiting:
        return None
    first = waiting[0]
    where = _progress(states[first.name])
    if first.name != MAIN:
        where = f"stage {first.name} {'at ' if where.startswith('step') else ''}{where}"
    later = [s.name for s in waiting[1:]]
    if later:
        where += f"; not trained yet: stage{'s' if len(later) > 1 else ''} {', '.join(later)}"
    resume = f"aelab train {spec.model} --out {shlex.quote(str(run))} --resume"
    return f"unfinished: {where} (continue with: {resume})"


def _about(stage: "Stage", state: dict[str, Any] | None) -> str:
    from ..train.stages import DATA

    source = "the data" if stage.input == DATA else f"the outputs of stage {stage.input}"
    return f"{stage.model} trained on {source}: {_progress(state)}"


def other_stages(run: Path, spec: "RunSpec") -> list["StageRecords"]:
    """The metrics of every stage but the main one (pre-training, priors), in the run's order."""
    from ..train.stages import MAIN, stage_dir
    from ..train.trainer import MetricsLog
    from ..viz.report import StageRecords

    out = []
    for s in spec.stages:
        if s.name == MAIN:
            continue
        folder = stage_dir(run, s.name)
        out.append(StageRecords(s.name, MetricsLog(folder / "metrics.jsonl").records(), _about(s, stage_state(folder))))
    return out
