"""aelab report RUN1 RUN2 ...: one page with the runs' settings and metrics in one table, their curves overlaid and
the same test items through each model, checked in a real browser (Playwright driving the system's Chromium)."""

from __future__ import annotations

import shutil

import pytest

import aelab
from aelab.cli import main


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium; .ci/run installs it)")
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for name, model, more in (("vae-2", "vae", {"config": {"latent_dim": 2}}),
                              ("vae-8", "vae", {"config": {"latent_dim": 8}}),
                              ("dae", "ae", {"train": {"epochs": 3, "corrupt": "masking:0.3"}})):
        aelab.fit(model, "digits", out=root / name, preset="tiny", progress=False,
                  **{"train": {"epochs": 3}, **more})
    return root


def test_the_page_in_a_browser(runs, tmp_path, capsys):
    page_path = tmp_path / "compare.html"
    assert main(["report", *(str(runs / n) for n in ("vae-2", "vae-8", "dae")), "-o", str(page_path)]) == 0
    assert str(page_path) in capsys.readouterr().out
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is a test extra: pip install 'aelab[test]'")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(page_path.as_uri())
        rows = page.locator("#runs-table tbody tr")
        assert rows.count() == 3
        assert [rows.nth(i).locator("td").first.inner_text() for i in range(3)] == ["vae-2", "vae-8", "dae"]
        header = page.locator("#runs-table th").all_inner_texts()
        assert "model.latent_dim" in header and "train.corrupt" in header and "nelbo" in header  # what differs
        assert not {"step", "epoch", "time"} & set(header)  # a record's bookkeeping is no metric
        assert page.locator("#settings-table tr.differs").count() >= 2
        images = page.locator("img")
        assert images.count() == 1 + 1 + 2 + 2  # curves; the test items; two reconstructions; corrupted and restored
        widths = page.eval_on_selector_all("img", "els => els.map(e => e.complete ? e.naturalWidth : 0)")
        assert all(w > 0 for w in widths)  # every picture decodes
        assert "dae: restored" in page.locator("#through").inner_text()
        page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)
        browser.close()
    assert (tmp_path / "compare.png").stat().st_size > 10_000


def test_an_existing_page_is_kept_and_one_run_is_no_comparison(runs, tmp_path, capsys):
    page_path = tmp_path / "mine.html"
    page_path.write_text("mine")
    assert main(["report", str(runs / "vae-2"), str(runs / "dae"), "-o", str(page_path)]) == 1
    assert "exists" in capsys.readouterr().err and page_path.read_text() == "mine"
    assert main(["report", str(runs / "vae-2"), "-o", str(page_path)]) == 2
    assert main(["report", str(runs / "vae-2"), str(tmp_path)]) == 1  # not a run folder
    assert "not a run folder" in capsys.readouterr().err
