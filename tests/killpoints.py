"""Run the aelab CLI with the run folder's checkpoint writes wrapped to SIGKILL the process right after one of them.

    python tests/killpoints.py FOLDER/FILE@STEP [AELAB ARG ...]

Tests only (production code knows nothing of it). FOLDER is the name of the folder the checkpoint goes to (a
stage's, e.g. rbm1 or prior; the run folder's own name for the main stage), FILE one of the checkpoint's files
(model.safetensors, trainer.safetensors, trainer.json) or previous/FILE (the rotation of the checkpoint before
into previous/), STEP the step of the checkpoint being written. The kill lands right after that file is in place:
`RunFolder._put` writes the three files of a checkpoint in turn, `RunFolder._link` rotates each of them into
previous/ first (a file that a rotation cut short had already linked is not written again, so it is no kill
point); `RunFolder.write_checkpoint` says which step is being written. The process exits with the CLI's return
code when the point is never reached (and says so on stderr).
"""

from __future__ import annotations

import functools
import os
import signal
import sys

FILES = ("model.safetensors", "trainer.safetensors", "trainer.json")


def parse(point: str) -> tuple[str, str, int]:
    """FOLDER/FILE@STEP -> (FOLDER, FILE, STEP); anything else is refused (a kill that can never land)."""
    where, at, step = point.rpartition("@")
    folder, slash, file = where.partition("/")
    if not (at and slash and folder and step.isdigit()) or file not in (*FILES, *(f"previous/{f}" for f in FILES)):
        raise SystemExit(f"killpoints: {point!r} is not FOLDER/FILE@STEP with FILE one of {', '.join(FILES)} "
                         "or previous/FILE")
    return folder, file, int(step)


def install(point: str) -> list[bool]:
    """Wrap RunFolder's checkpoint writes to kill right after the named one; returns [reached] (stays False)."""
    from aelab.runs import folder as folder_module
    from aelab.runs.folder import PREVIOUS, RunFolder

    assert set(FILES) == set(folder_module.CHECKPOINT_FILES), "the checkpoint's files changed: update FILES"
    wanted = parse(point)
    writing: list[int] = []  # the step of the checkpoint being written (a stack: one entry while inside)
    reached = [False]

    def kill_if(folder: RunFolder, file: str) -> None:
        if writing and (folder.path.name, file, writing[-1]) == wanted:
            reached[0] = True
            sys.stdout.flush()
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    real_write, real_put, real_link = RunFolder.write_checkpoint, RunFolder._put, RunFolder._link

    @functools.wraps(real_write)
    def write_checkpoint(self, model, trainer, state, rotate=True):
        writing.append(int(state["step"]))
        try:
            return real_write(self, model, trainer, state, rotate)
        finally:
            writing.pop()

    @functools.wraps(real_put)
    def put(self, name, payload):
        real_put(self, name, payload)
        kill_if(self, name)

    @functools.wraps(real_link)
    def link(self, src, dst):
        already = dst.exists() and os.path.samefile(src, dst)  # nothing is written then
        real_link(self, src, dst)
        if not already and dst.parent == self.path / PREVIOUS:
            kill_if(self, f"{PREVIOUS}/{dst.name}")

    RunFolder.write_checkpoint, RunFolder._put, RunFolder._link = write_checkpoint, put, link
    return reached


def main(argv: list[str]) -> int:
    if not argv:
        raise SystemExit(__doc__)
    sys.path[0] = os.getcwd()  # as `python -m aelab` would have it, not tests/
    reached = install(argv[0])
    from aelab.cli import main as aelab_main

    code = aelab_main(argv[1:])
    if not reached[0]:
        print(f"killpoints: {argv[0]} was never written; no kill", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
