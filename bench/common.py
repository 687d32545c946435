"""What every benchmark script shares: the machine's name and merging rows into a results file."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from typing import Callable

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SHARED_DATA = ROOT.parent / "shared" / "data"
DEFAULT_DATA_DIR = str(SHARED_DATA) if SHARED_DATA.is_dir() else None  # else $AELAB_DATA, ~/.cache/aelab
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))


def machine() -> str:
    """CPU model, core count and torch threads (or the GPU), as printed beside every timing."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (host {cpu})"
    return f"{cpu}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"


def save_rows(path: Path, rows: list[dict], key: Callable[[dict], tuple], **header: object) -> None:
    """Write `rows` to `path`, keeping earlier rows whose key no fresh row has (other methods, budgets or machines)."""
    from aelab.train.run import versions

    kept = []
    rows = [{**r, "machine": machine(), "torch": versions()["torch"]} for r in rows]  # each row names where it ran
    if path.exists():
        fresh = {(key(r), r["machine"]) for r in rows}  # a row measured on another machine is not superseded
        old = json.loads(path.read_text())
        where = {"machine": old.get("machine"), "torch": old.get("versions", {}).get("torch")}  # rows from before rows said so
        kept = [r for r in ({**where, **r} for r in old.get("rows", [])) if (key(r), r["machine"]) not in fresh]
    out = portable({**header, "machine": machine(), "versions": versions(), "rows": kept + rows})
    path.parent.mkdir(parents=True, exist_ok=True)
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


def finished_run(out: Path) -> bool:
    """Whether the run in `out` and every stage it has started have finished (previous/ checkpoints aside)."""
    states = [json.loads(p.read_text()) for p in [out / "trainer.json", *out.glob("stages/*/trainer.json")]
              if p.exists()]
    return (out / "trainer.json").exists() and all(s.get("finished") for s in states)


def logged_seconds(out: Path) -> float:
    """Training seconds of every stage, by the trainer's clock in metrics.jsonl (kept across resumes)."""
    total = 0.0
    for log in [out / "metrics.jsonl", *out.glob("stages/*/metrics.jsonl")]:
        times = [json.loads(line).get("time", 0.0) for line in log.read_text().splitlines() if line.strip()]
        total += max(times, default=0.0)
    return total


def preset_config(model: str, preset: str | None, **overrides: object) -> dict:
    """A registered model's preset without its training recipe ("train"), with `overrides` on top."""
    from aelab.models import model_class

    base = model_class(model).presets[preset] if preset else {}
    return {**{k: v for k, v in base.items() if k != "train"}, **overrides}


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
