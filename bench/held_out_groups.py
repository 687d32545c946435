"""Does semhash's default hold on newsgroups it was not chosen on? Its free settings chosen on 10 of the 20
newsgroups, then the default used unchanged on the other 10, beside ITQ and TF-IDF cosine.

Each half is a corpus of its own, through the standard protocol of bench/text_hashing.py (its own 10,000 words,
idf, document filter, and test split halved into validation and test queries).
- Part A, the first ten newsgroups by name (alt.atheism ... rec.sport.baseball): semhash at 32 bits for every
  (neighbours, hops) of the grid; each run holds out 10% of its training documents and scores them after each
  epoch (the run's own validation, `TrainConfig.validation`); the setting whose kept epoch scored best is chosen.
  No query of either half is looked at for the choice; A's validation queries are printed for information.
- Part B, the other ten (rec.sport.hockey ... talk.religion.misc): the model's default config, unchanged, at each
  code length and seed, against ITQ and TF-IDF cosine: mAP and precision@100 of B's test queries.
Writes bench/results/held_out_groups.json.

    python bench/held_out_groups.py                        # grid on A, then B at 16/32/64/128 bits, 3 seeds
    python bench/held_out_groups.py --part b --bits 32 --seeds 1
    python bench/held_out_groups.py --part b --b-set '{"neighbours": 20, "hops": 3}'   # part A's choice on part B
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np

from common import RESULTS, ROOT, bench_parser, machine, parse, print_table, save_rows
from text_hashing import Scorer, classical_rows, load_protocol, our_rows
from aelab.data.text import locate_newsgroups, read_tsv
from aelab.models import model_class
from aelab.runs import RunFolder

GRID = {"neighbours": (5, 10, 20), "hops": (1, 2, 3)}
TUNING_BITS = 32
OUT = RESULTS / "held_out_groups.json"


def halves(data_dir: str | None) -> tuple[list[str], list[str]]:
    names = sorted(set(read_tsv(locate_newsgroups(data_dir, "all")["train"])[0]))
    return names[: len(names) // 2], names[len(names) // 2 :]


def _runs(args: argparse.Namespace, part: str, **more: object) -> argparse.Namespace:
    """What text_hashing.our_rows reads, for one setting of one half."""
    tag = "-".join(f"{k}{v}" for k, v in more.items()) or "default"
    return argparse.Namespace(**{**vars(args), "set": json.dumps(more), "preset": None, "quick": False,
                                 "name": f"semhash ({tag})", "runs": args.runs / part / tag})


def _chosen_value(run: str) -> float:
    """The run's own validation score of the epoch it kept (its metrics log)."""
    return float(next(r for r in RunFolder(run).metrics.records() if r["split"] == "selection")["value"])


def part_a(groups: list[str], args: argparse.Namespace) -> list[dict]:
    p = load_protocol(args.data_dir, groups=groups)
    print(f"part A, {len(groups)} newsgroups: {p.sizes}", flush=True)
    scorer = Scorer(p)
    rows = []
    for k, hops in itertools.product(GRID["neighbours"], GRID["hops"]):
        (row,) = our_rows(p, scorer, [TUNING_BITS], [0], _runs(args, "a", neighbours=k, hops=hops))
        rows.append({**row, "part": "A", "neighbours": k, "hops": hops, "own_validation": _chosen_value(row["run"])})
    best = max(rows, key=lambda r: r["own_validation"])
    default = model_class("semhash").Config()
    for r in rows:
        r["chosen"] = r is best
    print_table([{"setting": f"neighbours={r['neighbours']} hops={r['hops']}",
                  "own": f"{r['own_validation']:.3f}", "vq": f"{r['validation_precision@100']:.3f}",
                  "mark": ("chosen" if r["chosen"] else "") + (" (default)" if (r["neighbours"], r["hops"]) ==
                                                               (default.neighbours, default.hops) else "")}
                 for r in rows],
                [("part A, 32 bits", "setting", "<24"), ("own validation P@100", "own", ">20"),
                 ("validation queries P@100", "vq", ">24"), ("", "mark", "<")])
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
    p.add_argument("--runs", type=Path, default=ROOT / "bench" / "runs" / "held_out_groups")
    p.add_argument("--b-set", default="", help='part B with these semhash settings instead of the default, e.g. '
                   'part A\'s choice: \'{"neighbours": 20, "hops": 3}\' (its rows kept beside the default\'s)')
    args = parse(p)
    t0 = time.time()
    a, b = halves(args.data_dir)
    rows = []
    if args.part in ("a", "both"):
        rows += part_a(a, args)
    if args.part in ("b", "both"):
        rows += part_b(b, [int(x) for x in args.bits.split(",")], list(range(args.seeds)), args)
    save_rows(OUT, rows, key=lambda r: (r["part"], r["method"], r["bits"], r["seed"]), benchmark="held_out_groups",
              groups={"A": a, "B": b}, grid=GRID)
    print(f"machine: {machine()}; {time.time() - t0:.0f} s; results in {OUT}")


if __name__ == "__main__":
    main()
