"""The docs site builds with MkDocs in strict mode (a broken link, a missing page or a docstring mkdocstrings cannot
read fails it), and every family page shows its benchmark sections."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_site_builds_strictly(tmp_path):
    pytest.importorskip("material", reason="MkDocs Material is a test extra: pip install 'aelab[test]'")
    pytest.importorskip("mkdocstrings", reason="mkdocstrings is a test extra: pip install 'aelab[test]'")
    site = tmp_path / "site"
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)], cwd=ROOT,
                         capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    pages = {p.parent.name for p in (site / "models").glob("*/index.html")}
    assert pages == {"ae", "semhash", "denoising", "vae", "vaegan", "vqvae", "acai", "alae"}
    vae = (site / "models" / "vae" / "index.html").read_text()
    assert "importance-weighted" in vae and "<table>" in vae  # BENCHMARKS.md's section, its table included
    semhash = (site / "models" / "semhash" / "index.html").read_text()
    assert 'src="../../bench/results/semantic_hashing_pr.png"' in semhash
    assert (site / "bench" / "results" / "semantic_hashing_pr.png").is_file()
    assert "aelab.sklearn.SemanticHasher" in (site / "api" / "index.html").read_text()
