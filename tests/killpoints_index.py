"""Run Python with the index store's file operations wrapped to SIGKILL the process right after the N-th.

    python tests/killpoints_index.py N -c CODE [ARG ...]
    python tests/killpoints_index.py N -m MODULE [ARG ...]

Tests only (production code knows nothing of it). The steps of an index write (save, append, compact) are
the calls `aelab.index.store` makes to `atomic_write_bytes` (one segment file), `atomic_write_json`
(pending.json, then the manifest: the commit), `remove_segment` (a replaced segment) and `remove_pending`;
a kill after the N-th lands between two of them. N = 0 counts only. On a normal exit the count goes to
stderr as "killpoints_index: N file operations".
"""

from __future__ import annotations

import functools
import os
import runpy
import signal
import sys

STEPS = ("atomic_write_bytes", "atomic_write_json", "remove_segment", "remove_pending")


def install(kill_at: int) -> list[int]:
    """Wrap the store's file operations; returns the live count (one item)."""
    from aelab.index import store

    count = [0]

    def wrap(fn):
        @functools.wraps(fn)
        def step(*args, **kwargs):
            out = fn(*args, **kwargs)
            count[0] += 1
            if count[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return out
        return step

    for name in STEPS:
        setattr(store, name, wrap(getattr(store, name)))
    return count


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1] not in ("-c", "-m") or len(argv) < 3:
        sys.exit(__doc__)
    count = install(int(argv[0]))
    import atexit

    atexit.register(lambda: print(f"killpoints_index: {count[0]} file operations", file=sys.stderr))
    mode, target, rest = argv[1], argv[2], argv[3:]
    sys.path[0] = "" if mode == "-c" else os.getcwd()  # as `python -c` / `python -m` would have it, not tests/
    if mode == "-c":
        sys.argv = ["-c", *rest]
        exec(compile(target, "<string>", "exec"), {"__name__": "__main__"})
    else:
        sys.argv = [target, *rest]
        runpy.run_module(target, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
