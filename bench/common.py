"""What every benchmark script shares: the machine's name and merging rows into a results file."""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
from pathlib import Path
from typing import Any, Callable

import torch

ROOT = Path(__file__).resolve().parents[1]
# Where results and run folders go: `aelab bench all --quick` (bench/run_all.py) points both into bench/quick/, so
# that a smoke run never touches the recorded results or reuses a recorded run.
RESULTS = Path(os.environ.get("AELAB_BENCH_RESULTS") or ROOT / "bench" / "results")
RUNS = Path(os.environ.get("AELAB_BENCH_RUNS") or ROOT / "bench" / "runs")
SHARED_DATA = ROOT.parent / "shared" / "data"
DEFAULT_DATA_DIR = str(SHARED_DATA) if SHARED_DATA.is_dir() else None  # else $AELAB_DATA, ~/.cache/aelab
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))


def cpu_model() -> str:
    """The CPU's model name."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """CPU model, core count and torch threads (or the GPU), as printed beside every timing."""
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (host {cpu_model()})"
    return f"{cpu_model()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"


def save_rows(path: Path, rows: list[dict], key: Callable[[dict], tuple], **header: object) -> None:
    """Write `rows` to `path`, keeping earlier rows whose key no fresh row has (other methods, budgets or machines)."""
    from aelab.runs import versions

    import fcntl

    kept = []
    rows = [{**r, "machine": machine(), "torch": versions()["torch"]} for r in rows]  # each row names where it ran
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:  # two runs of one bench finishing together
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            fresh = {(key(r), r["machine"]) for r in rows}  # a row measured on another machine is not superseded
            old = json.loads(path.read_text())
            where = {"machine": old.get("machine"), "torch": old.get("versions", {}).get("torch")}  # rows from before rows said so
            kept = [r for r in ({**where, **r} for r in old.get("rows", [])) if (key(r), r["machine"]) not in fresh]
        out = portable({**header, "machine": machine(), "versions": versions(), "rows": kept + rows})
        path.write_text(json.dumps(out, indent=2) + "\n")


def bench_parser(doc: str, epochs: int, batch_size: int, lr: float) -> argparse.ArgumentParser:
    """The options every training benchmark has; a script adds its own."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--no-progress", action="store_true")
    return p


def finished_and_current(out: Path, model: str, preset: str | None = None, config: dict | None = None) -> bool:
    """Whether `out` holds a finished run whose model was built with today's defaults: every setting of the model's
    config that neither `preset` nor `config` names has the value it has by default now. A run made before a default
    changed is not taken for the new default's (the benches reuse finished runs by folder name)."""
    import dataclasses

    from aelab.models import model_class
    from aelab.recipes import registry
    from aelab.runs import RunFolder
    from aelab.train.plan import full_config

    folder = RunFolder(out)
    if not folder.all_finished():
        return False
    if not isinstance(model, str):  # a spec of several stages: kept as it is
        return True
    named = {**(registry.preset(model, preset)[0] if preset and preset != "none" else {}), **(config or {})}
    main = next((s for s in folder.read_spec().stages if s.name == "model"), None)
    if main is None or main.model != model:
        return True
    saved = full_config(model, main.model_config, saved=True)
    defaults = json.loads(json.dumps(dataclasses.asdict(model_class(model).Config())))
    # a default of None is chosen by each run on its validation items: current if the run recorded that choice
    chosen = {k for r in folder.metrics.records() if r.get("split") == "choice" for k in r["chosen"]}
    return all(saved.get(k) == v or (v is None and k in chosen) for k, v in defaults.items()
               if k not in named and k != "input_shape")


def train_once(out: Path, data: Any, progress: bool = True, **recipe: Any) -> Any:
    """The run in `out` trained to its end: a new one from `recipe` (aelab.fit's model and settings), a killed one
    resumed where it stopped, a finished one (every stage it started) left as it is unless a default it was trained
    with has changed since (`finished_and_current`). Returns its RunFolder."""
    import aelab
    from aelab.runs import RunFolder

    folder = RunFolder(out)
    if folder.all_finished():
        if not finished_and_current(out, recipe.get("model"), recipe.get("preset"), recipe.get("config")):
            aelab.fit(data=data, out=out, overwrite=True, progress=progress, **recipe)
    elif folder.is_run():
        aelab.fit(data=data, out=out, resume=True, progress=progress)
    else:
        aelab.fit(data=data, out=out, overwrite=True, progress=progress, **recipe)
    return folder


def named_data(x: torch.Tensor, name: str) -> Any:
    """Images `x` (a part of data set `name`, or made from it) as a Dataset of that name, which a run records."""
    from aelab.data import Dataset

    return Dataset(x=x, y=None, name=name)


def parse_models(doc: str, models: dict, epochs: int, runs: str, quick: str) -> tuple[argparse.Namespace, list[str]]:
    """A benchmark of several models: bench_parser's options with --only (of `models`), --runs (bench/runs/`runs`)
    and --quick (`quick` says what it runs), parsed; with the models chosen."""
    p = bench_parser(doc, epochs=epochs, batch_size=0, lr=0.0)
    p.add_argument("--only", default=",".join(models))
    p.add_argument("--runs", type=Path, default=RUNS / runs)
    p.add_argument("--quick", action="store_true", help=quick)
    args = parse(p)
    return args, chosen_models(p, args.only, models)


def mnist_splits(data_dir: str | None, quick: bool) -> tuple[Any, Any]:
    """MNIST's training and test splits; for a --quick run, their first 3,000 and 1,000 images."""
    from aelab.data import load_dataset

    train, test = load_dataset("mnist", "train", data_dir), load_dataset("mnist", "test", data_dir)
    if quick:
        train.x, train.y, test.x, test.y = train.x[:3000], train.y[:3000], test.x[:1000], test.y[:1000]
    return train, test


def print_table(rows: list[dict], columns: list[tuple[str, Any, str]]) -> None:
    """A header and a line a row; each column is (title, a row's key or a function of the row, format spec)."""
    print(" ".join(f"{title:{re.match(r'[<>^]?[0-9]*', spec).group()}}" for title, _, spec in columns))
    for r in rows:
        print(" ".join(f"{r[value] if isinstance(value, str) else value(r):{spec}}" for _, value, spec in columns))


def chosen_models(p: argparse.ArgumentParser, only: str, known: dict) -> list[str]:
    """The names in --only (comma-separated), each one of `known`, or the parser's one-line error."""
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(known))
    if unknown:
        p.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return names


def parse(p: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse, then apply --threads."""
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def portable(value: object) -> object:
    """`value` with absolute paths inside the repository (or shared/ beside it) made relative to the repository."""
    if isinstance(value, dict):
        return {k: portable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [portable(v) for v in value]
    if isinstance(value, str) and value.startswith("/"):
        for base, prefix in ((ROOT, ""), (ROOT.parent, "../")):
            try:
                return prefix + str(Path(value).relative_to(base))
            except ValueError:
                continue
    return value
