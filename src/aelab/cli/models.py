"""`aelab models`: list the models and their presets."""

from __future__ import annotations

import argparse

HELP = "list the models and their presets"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `aelab models`."""
    pass


def run(args: argparse.Namespace) -> int:
    from ..models import model_class, model_names

    for name in model_names():
        cls = model_class(name)
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        print(f"{name:<8} {doc}")
        if cls.presets:
            print(f"{'':<8} presets: {', '.join(sorted(cls.presets))}")
        for kind, plans in sorted(cls.stage_plans.items()):
            if plans:
                print(f"{'':<8} --{kind}: {', '.join(sorted(plans))}")
    return 0
