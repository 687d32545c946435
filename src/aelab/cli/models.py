"""`aelab models`: what each model can do (a table generated from the capability types), its presets and stages."""

from __future__ import annotations

import argparse

HELP = "list the models, what each can do, and their presets"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `aelab models`."""
    p.add_argument("--table", action="store_true", help="print only the capability table (Markdown)")


def capability_table() -> str:
    """A Markdown table: a row per model, a column per capability (models.capabilities), then its traits.

    Each model is built from its `tiny` preset and asked `isinstance(model, Capability)`; "prior" marks an autoencoder
    that samples once a prior stage is trained on its codes (`--prior`).
    """
    from .. import recipes
    from ..models import CAPABILITIES, build_model, model_class, model_names

    head = ["model", *CAPABILITIES, "inputs", "codes"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in model_names():
        model = build_model(name, recipes.preset(name, "tiny")[0])
        traits = model_class(name).traits
        cells = []
        for capability, kind in CAPABILITIES.items():
            has = isinstance(model, kind)
            later = capability == "sample" and not has and recipes.family(name).plans.get("prior")
            cells.append("yes" if has else "prior" if later else "")
        codes = traits.codes if traits.codes != "none" else ""
        rows.append("| " + " | ".join([name, *cells, traits.inputs, codes]) + " |")
    return "\n".join(rows)


def run(args: argparse.Namespace) -> int:
    from .. import recipes
    from ..models import model_class, model_names

    print(capability_table())
    if args.table:
        return 0
    print()
    for name in model_names():
        doc = (model_class(name).__doc__ or "").strip().splitlines()[0]
        family = recipes.family(name)
        stage_of = model_class(name).traits.stage_of
        print(f"{name:<8} {doc}" + (f" (trains as {stage_of})" if stage_of else ""))
        if family.presets:
            print(f"{'':<8} presets: {', '.join(sorted(family.presets))}")
        for kind, plans in sorted(family.plans.items()):
            if plans:
                print(f"{'':<8} --{kind}: {', '.join(sorted(plans))}")
    return 0
