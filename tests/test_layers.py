"""The structure's rules, checked: the recipe layer needs no torch, RunFolder alone knows a run's file names, the
import layers hold (the same contract `lint-imports` checks in .ci/run)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "aelab"
RUN_FILE_NAMES = {"config.json", "model.safetensors", "trainer.safetensors", "trainer.json", "metrics.jsonl",
                  "report.html", ".replaced"}
RUN_FOLDER_NAMES = {"previous", "stages"}  # generic words: only a path joined with them counts (run / "stages")


@pytest.mark.parametrize("module", ["aelab.recipes", "aelab.recipes.train", "aelab.recipes.stages", "aelab.runs",
                                    "aelab.cli.main"])
def test_imports_without_torch(module):
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], capture_output=True,
                         text=True, check=True)
    loaded = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    assert not {m for m in loaded if m == "torch" or m.startswith("torch.")}, f"{module} imports torch"
    assert any(m.endswith(module.rsplit(".", 1)[-1]) for m in loaded)  # the check saw the module load at all


def run_file_names(path: Path) -> list[str]:
    """Where the code of `path` names a run folder's file: a string that is one (docstrings aside), or a path
    joined with one of the run folder's sub-folders."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    joined = {id(node.right) for node in ast.walk(tree) if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str) or id(node) in docstrings:
            continue
        value = node.value
        if value in RUN_FILE_NAMES or any(value.endswith(f"/{n}") for n in RUN_FILE_NAMES | RUN_FOLDER_NAMES) \
                or (id(node) in joined and value in RUN_FOLDER_NAMES):
            found.append(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name}:{node.lineno}: "
                         f"{value!r}")
    return sorted(found)


def test_only_the_run_folder_names_a_run_folders_files():
    owner = SRC / "runs" / "folder.py"
    files = [p for p in [*SRC.rglob("*.py"), *(ROOT / "bench").glob("*.py")] if p != owner]
    found = [hit for p in files for hit in run_file_names(p)]
    assert not found, "these name a run folder's files; ask aelab.runs.RunFolder instead:\n" + "\n".join(found)


def test_the_check_above_finds_file_names(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('"""Docstrings may say trainer.json."""\nfrom pathlib import Path\n'
                   'a = Path("run") / "trainer.json"\nb = Path("run") / "stages"\nc = {"stages": []}\n'
                   'd = "run/previous"\n')
    assert run_file_names(bad) == ["bad.py:3: 'trainer.json'", "bad.py:4: 'stages'", "bad.py:6: 'run/previous'"]


def test_import_layers_hold():
    linter = Path(sys.executable).with_name("lint-imports")
    if not linter.exists():
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    out = subprocess.run([str(linter)], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:]
