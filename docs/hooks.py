"""MkDocs hooks: the family pages show the benchmark numbers and pictures of BENCHMARKS.md, never typed twice.

A page line `<!-- benchmark: NAME -->` is replaced by BENCHMARKS.md's section NAME (bench/benchmarks_md.py marks
each, named after its results file), its picture links pointed at the results' PNGs, which the site copies from
bench/results/. A name BENCHMARKS.md lacks stops the build."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = re.compile(r"^<!-- benchmark: ([a-z0-9_]+) -->$", re.M)


def section(name: str) -> str:
    text = (ROOT / "BENCHMARKS.md").read_text()
    found = re.search(rf"<!-- --8<-- \[start:{name}\] -->\n(.*?)<!-- --8<-- \[end:{name}\] -->", text, re.S)
    if not found:
        raise PluginError(f"BENCHMARKS.md has no section {name!r} (python bench/benchmarks_md.py writes them)")
    return found.group(1)


def on_files(files, config):
    for png in sorted((ROOT / "bench" / "results").glob("*.png")):
        if "_quick" not in png.name:
            files.append(File(f"bench/results/{png.name}", str(ROOT), config["site_dir"], config["use_directory_urls"]))
    return files


def on_page_markdown(markdown, page, config, files):
    if not PLACEHOLDER.search(markdown):
        return markdown
    up = posixpath.relpath("bench/results", posixpath.dirname(page.file.src_uri) or ".")
    return PLACEHOLDER.sub(lambda m: section(m.group(1)).replace("](bench/results/", f"]({up}/"), markdown)
