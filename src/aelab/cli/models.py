"""`aelab models`: list the models, their presets and the stages their runs may have."""

from __future__ import annotations

import argparse

HELP = "list the models and their presets"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `aelab models`."""
    pass


def run(args: argparse.Namespace) -> int:
    from .. import recipes
    from ..models import model_class, model_names

    for name in model_names():
        doc = (model_class(name).__doc__ or "").strip().splitlines()[0]
        family = recipes.family(name)
        print(f"{name:<8} {doc}")
        if family.presets:
            print(f"{'':<8} presets: {', '.join(sorted(family.presets))}")
        for kind, plans in sorted(family.plans.items()):
            if plans:
                print(f"{'':<8} --{kind}: {', '.join(sorted(plans))}")
    return 0
