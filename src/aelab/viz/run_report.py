"""A run folder's report.html: the run's own records and the evaluation suite's result, drawn, never recomputed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..recipes.stages import MAIN
from ..runs import RunFolder
from .report import StageRecords, write_report


def write_run_report(run: RunFolder | Path | str, model: Any, test: Any, database: Any = None) -> Path:
    """RUN/report.html: pictures and metrics, every stage's curves, a banner if the run is unfinished.

    What the report states as numbers comes from the evaluation suite, run once here on the test split: the
    whole run's model (with a prior: bits/dim) and, for a model with binary codes and a labelled `database`
    (the training items), the precision-recall curve by Hamming radius.
    """
    from ..data import binarize
    from ..eval.suite import evaluate_suite, options_for
    from ..models.capabilities import BinaryCoder

    run = run if isinstance(run, RunFolder) else RunFolder(run)
    spec = run.read_spec()
    x = None if test is None else (binarize(test.x, seed=0) if spec.train.binarize else test.x)
    composed = None
    if spec.after_main() and x is not None and len(x):  # a prior: the whole run's numbers (bits/dim)
        composed = evaluate_suite(model, x, options_for(spec.data, spec.train))[0]
    curve = None
    if (isinstance(model, BinaryCoder) and database is not None and getattr(test, "y", None) is not None
            and getattr(database, "y", None) is not None and len(test.x)):
        options = options_for(spec.data, spec.train, labels=test.y, database=(database.x, database.y),
                              only=("retrieval",))
        curve = evaluate_suite(model, test.x, options)[1]["pr_by_radius"]
    config = {"data": {"name": spec.data, "data_dir": spec.data_dir},  # one table row per setting of each stage
              **{f"stage {s.name}": {k: v for k, v in s.to_json().items() if k != "name"} for s in spec.stages}}
    stages = [StageRecords(s.name, run.stage(s.name).metrics.records(), run.stage_about(s))
              for s in spec.stages if s.name != MAIN]
    return write_report(run, model, test, run.metrics.records(), title=f"{spec.model} on {spec.data}", config=config,
                        unfinished=run.unfinished_note(spec), stages=stages, database=database,
                        corruption=spec.train.corrupt, composed=composed, retrieval_curve=curve)
