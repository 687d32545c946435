"""Does semhash's default hold on newsgroups it was not chosen on? Its free settings chosen on 10 of the 20
newsgroups, then the default used unchanged on the other 10, beside ITQ and TF-IDF cosine.

Each half is a corpus of its own, through the standard protocol of bench/text_hashing.py (its own 10,000 words,
idf, document filter, and test split halved into validation and test queries).
- Part A, the first ten newsgroups by name (alt.atheism ... rec.sport.baseball): semhash's free settings chosen in
  two steps, each setting trained with `--a-seeds` seeds: first the graph of its targets, every (neighbours, hops)
  of GRID at 32 bits; then, with that graph, the code's `subspace` (CODE_GRID) at 64 bits, where it acts (it changes
  only codes longer than itself); then, with the default graph and each run choosing its own subspace, training as a
  denoiser of dropped words (`--corrupt masking:P`, DENOISE_GRID) at 64 bits. Each run holds out 10% of its training documents and scores them after each
  epoch (the run's own validation, `TrainConfig.validation`); the setting whose kept epochs scored best on average
  over the seeds is chosen. No query of either half is looked at for the choice; A's validation queries are
  printed for information. The model's default graph is what this part chose (see BENCHMARKS.md); its code step's
  choice is the subspace of a run without validation items (semhash.SUBSPACE), since a run with them chooses its
  own (SemanticHasher.choose_settings; this step showed that the subspace matters, and the full corpus that its
  best value moves with the corpus).
- Part B, the other ten (rec.sport.hockey ... talk.religion.misc): the model's default recipe, unchanged, at each
  code length and seed, against ITQ and TF-IDF cosine: mAP and precision@100 of B's test queries.
Writes bench/results/held_out_groups.json.

    python bench/held_out_groups.py                        # grids on A, then B at 16/32/64/128 bits, 3 seeds
    python bench/held_out_groups.py --part a --a-steps denoise     # one step of part A (the others' rows kept)
    python bench/held_out_groups.py --part b --bits 32 --seeds 1
    python bench/held_out_groups.py --part b --b-set '{"neighbours": 20, "hops": 3}'   # part A's choice on part B
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import time
from pathlib import Path

import numpy as np

from common import RUNS, RESULTS, ROOT, bench_parser, machine, parse, print_table, save_rows
from text_hashing import Scorer, classical_rows, load_protocol, our_rows
from aelab.data.text import locate_newsgroups, read_tsv
from aelab.models import model_class
from aelab.runs import RunFolder

GRID = {"neighbours": (5, 10, 20), "hops": (1, 2, 3)}
CODE_GRID = {"subspace": (0, 16, 32)}
DENOISE_GRID = {"corrupt": ("", "masking:0.3", "masking:0.5")}  # a training setting (TrainConfig.corrupt)
STEPS = ("graph", "code", "denoise")
TUNING_BITS = 32  # the graph's step
CODE_BITS = 64  # the code's step
OUT = RESULTS / "held_out_groups.json"


def halves(data_dir: str | None) -> tuple[list[str], list[str]]:
    names = sorted(set(read_tsv(locate_newsgroups(data_dir, "all")["train"])[0]))
    return names[: len(names) // 2], names[len(names) // 2 :]


def _runs(args: argparse.Namespace, part: str, **more: object) -> argparse.Namespace:
    """What text_hashing.our_rows reads, for one setting of one half (config keys, and `corrupt` for training)."""
    tag = "-".join(f"{k}{str(v).replace(':', '')}" for k, v in more.items() if v != "") or "default"
    config = {k: v for k, v in more.items() if k not in DENOISE_GRID}
    return argparse.Namespace(**{**vars(args), "set": json.dumps(config), "preset": None, "quick": False,
                                 "corrupt": more.get("corrupt", ""), "name": f"semhash ({tag})",
                                 "runs": args.runs / part / tag})


def _chosen_value(run: str) -> float:
    """The run's own validation score of the epoch it kept (its metrics log)."""
    return float(next(r for r in RunFolder(run).metrics.records() if r["split"] == "selection")["value"])


def _step(p, scorer, args: argparse.Namespace, bits: int, settings: list[dict], seeds: list[int],
          step: str) -> tuple[list[dict], dict]:
    """Every setting at `bits` for each seed; returns the rows and the setting whose kept epochs' own validation
    scores are best on average."""
    rows = []
    for setting in settings:
        for row in our_rows(p, scorer, [bits], seeds, _runs(args, "a", **setting)):
            rows.append({**row, "part": "A", "step": step, **setting, "own_validation": _chosen_value(row["run"])})
    mean = {json.dumps(s, sort_keys=True): np.mean([r["own_validation"] for r in rows
                                                   if all(r.get(k) == v for k, v in s.items())]) for s in settings}
    best = json.loads(max(mean, key=mean.get))
    for r in rows:
        r["chosen"] = all(r.get(k) == v for k, v in best.items())
    default = dataclasses.asdict(model_class("semhash").Config())
    print_table([{"setting": " ".join(f"{k}={v}" for k, v in s.items()),
                  "own": _spread([r["own_validation"] for r in rows if all(r.get(k) == v for k, v in s.items())]),
                  "vq": _spread([r["validation_precision@100"] for r in rows
                                 if all(r.get(k) == v for k, v in s.items())]),
                  "mark": ("chosen" if s == best else "") +
                          (" (the default)" if all(default.get(k, "") == v for k, v in s.items()) else "")}
                 for s in settings],
                [(f"part A, {step}, {bits} bits", "setting", "<34"), ("own validation P@100", "own", ">22"),
                 ("validation queries P@100", "vq", ">24"), ("", "mark", "<")])
    return rows, best


def _spread(values: list[float]) -> str:
    return f"{np.mean(values):.3f}" + (f"±{np.std(values, ddof=1):.3f}" if len(values) > 1 else "")


def part_a(groups: list[str], args: argparse.Namespace) -> list[dict]:
    p = load_protocol(args.data_dir, groups=groups)
    print(f"part A, {len(groups)} newsgroups: {p.sizes}", flush=True)
    scorer = Scorer(p)
    seeds = list(range(args.a_seeds))
    steps = args.a_steps.split(",")
    rows: list[dict] = []
    default = dataclasses.asdict(model_class("semhash").Config())
    graph = {"neighbours": default["neighbours"], "hops": default["hops"]}  # what an earlier graph step chose
    if "graph" in steps:
        graphs = [{"neighbours": k, "hops": h} for k, h in itertools.product(GRID["neighbours"], GRID["hops"])]
        # subspace 0 pinned: the graph's step must not depend on the model's default code
        found, graph = _step(p, scorer, args, TUNING_BITS, [{**g, "subspace": 0} for g in graphs], seeds, "graph")
        graph = {k: graph[k] for k in ("neighbours", "hops")}
        rows += found
    if "code" in steps:
        found, code = _step(p, scorer, args, CODE_BITS, [{**graph, "subspace": s} for s in CODE_GRID["subspace"]],
                            seeds, "code")
        print(f"part A chose {code}", flush=True)
        rows += found
    if "denoise" in steps:  # the subspace left to each run's choice, as the default does
        found, denoise = _step(p, scorer, args, CODE_BITS, [{**graph, "corrupt": c} for c in DENOISE_GRID["corrupt"]],
                               seeds, "denoise")
        print(f"part A chose {denoise}", flush=True)
        rows += found
    return rows


def part_b(groups: list[str], bits: list[int], seeds: list[int], args: argparse.Namespace) -> list[dict]:
    p = load_protocol(args.data_dir, groups=groups)
    print(f"part B, {len(groups)} newsgroups: {p.sizes}", flush=True)
    scorer = Scorer(p)
    settings = json.loads(args.b_set or "{}")
    rows = [] if settings else classical_rows(p, scorer, bits, seeds)  # the default's run measured them already
    rows = [{**r, "part": "B"} for r in rows + our_rows(p, scorer, bits, seeds, _runs(args, "b", **settings))]
    if settings:
        rows += [r for r in _saved("B") if r["method"] != rows[0]["method"]]
    lines = []
    for method in dict.fromkeys(r["method"] for r in rows if r["method"] != "lsh"):
        line = {"method": method}
        for b in bits:
            found = [r for r in rows if r["method"] == method and r["bits"] in (b, None)]
            for m in ("map", "precision@100"):
                v = [r[f"test_{m}"] for r in found]
                line[f"{b}{m}"] = f"{np.mean(v):.3f}" + (f"±{np.std(v, ddof=1):.3f}" if len(v) > 1 else "")
        lines.append(line)
    print_table(lines, [("part B (test queries)", "method", "<28"),
                        *[(f"{b} bits {'mAP' if m == 'map' else 'P@100'}", f"{b}{m}", ">16")
                          for b in bits for m in ("map", "precision@100")]])
    return rows


def _saved(part: str) -> list[dict]:
    """The rows of `part` already in the results file (from this machine)."""
    if not OUT.exists():
        return []
    return [r for r in json.loads(OUT.read_text())["rows"] if r.get("part") == part and r["machine"] == machine()]


def main() -> None:
    p = bench_parser(__doc__, epochs=0, batch_size=0, lr=0.0)
    p.add_argument("--part", choices=["a", "b", "both"], default="both")
    p.add_argument("--bits", default="16,32,64,128", help="code lengths of part B")
    p.add_argument("--seeds", type=int, default=3, help="seeds of part B (0, 1, ...)")
    p.add_argument("--a-seeds", type=int, default=3, help="seeds of each setting of part A's grid")
    p.add_argument("--a-steps", default=",".join(STEPS), help="the steps of part A to run (the others' rows kept)")
    p.add_argument("--runs", type=Path, default=RUNS / "held_out_groups")
    p.add_argument("--quick", action="store_true", help="a smoke run: part B at 16 bits, one seed, one epoch")
    p.add_argument("--b-set", default="", help='part B with these semhash settings instead of the default, e.g. '
                   'part A\'s choice: \'{"neighbours": 20, "hops": 3}\' (its rows kept beside the default\'s)')
    args = parse(p)
    unknown = set(args.a_steps.split(",")) - set(STEPS)
    if unknown:
        raise SystemExit(f"unknown step(s) of part A: {', '.join(sorted(unknown))}; the steps are {', '.join(STEPS)}")
    if args.quick:
        args.part, args.bits, args.seeds, args.epochs = "b", "16", 1, 1
    t0 = time.time()
    a, b = halves(args.data_dir)
    rows = []
    if args.part in ("a", "both"):
        rows += part_a(a, args)
    if args.part in ("b", "both"):
        rows += part_b(b, [int(x) for x in args.bits.split(",")], list(range(args.seeds)), args)
    # a fresh step of part A replaces every earlier row of that step (its grid may have changed); part B rows by
    # method, bits, seed
    save_rows(OUT, rows, key=lambda r: ("A", r.get("step", "graph")) if r["part"] == "A"
              else (r["part"], r["method"], r["bits"], r["seed"]),
              benchmark="held_out_groups",
              groups={"A": a, "B": b}, grid={**GRID, **CODE_GRID, **DENOISE_GRID})
    print(f"machine: {machine()}; {time.time() - t0:.0f} s; results in {OUT}")


if __name__ == "__main__":
    main()
