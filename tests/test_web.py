"""aelab serve: the JSON API (statuses, safety: traversal, uploads, bad queries, nothing written, a run written while
read) through Starlette's test client, and every view in a real browser (Playwright driving the system's Chromium)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the web extra: pip install 'aelab[web]' (the test extra has it)")
pytest.importorskip("plotly", reason="the web extra: pip install 'aelab[web]' (the test extra has it)")
from PIL import Image
from starlette.testclient import TestClient

import aelab
from aelab.cli import main
from aelab.train.callbacks import StopAt
from aelab.web.app import make_app
from aelab.web.search import MAX_UPLOAD


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """runs/: a VAE, a second VAE, a denoiser, a hashing run with its index, one cut short, one that diverged."""
    base = tmp_path_factory.mktemp("web")
    runs = base / "runs"
    fit = dict(preset="tiny", progress=False)
    aelab.fit("vae", "digits", out=runs / "vae-2", train={"epochs": 3}, **fit)
    aelab.fit("vae", "digits", out=runs / "vae-8", config={"latent_dim": 8}, train={"epochs": 3}, **fit)
    aelab.fit("ae", "digits", out=runs / "group" / "dae", train={"epochs": 3, "corrupt": "masking:0.3"}, **fit)
    aelab.fit("semhash", "digits", out=runs / "sh", train={"epochs": 2}, **fit)
    assert main(["index", "build", str(runs / "sh")]) == 0
    aelab.fit("ae", "digits", out=runs / "cut", train={"epochs": 3}, callbacks={"model": [StopAt(20)]}, **fit)
    shutil.copytree(runs / "vae-2", runs / "nan")
    with open(runs / "nan" / "metrics.jsonl", "a") as f:  # what the trainer writes when a loss becomes NaN
        f.write(json.dumps({"step": 46, "epoch": 3.07, "split": "diverged", "time": 1.0,
                            "error": "the loss became NaN/inf at step 46"}) + "\n")
    (base / "outside").mkdir()
    shutil.copytree(runs / "vae-2", base / "outside" / "secret")
    os.symlink(base / "outside" / "secret", runs / "link-out")  # a link leading out of the runs folder
    return runs


@pytest.fixture(scope="module")
def client(root):
    return TestClient(make_app(root, root / "sh" / "index"))


def tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink():
            h.update(str(p.relative_to(folder)).encode() + p.read_bytes())
    return h.hexdigest()


def test_runs_table_statuses_and_metrics(client, root):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (root / "vae-8" / ".lock").write_text(f"{sleeper.pid}\n")  # a trainer's process holds it
        body = client.get("/api/runs").json()
    finally:
        sleeper.kill()
        (root / "vae-8" / ".lock").write_text("")
    runs = {r["id"]: r for r in body["runs"]}
    assert set(runs) == {"vae-2", "vae-8", "group/dae", "sh", "cut", "nan"}  # link-out leads outside: not listed
    assert [runs[k]["status"] for k in ("vae-2", "vae-8", "cut", "nan")] == ["finished", "running", "interrupted",
                                                                           "diverged"]
    assert "NaN" in runs["nan"]["error"] and runs["vae-2"]["metrics"]["nelbo"] > 0 and "sq_err" in body["metrics"]
    assert body["search"]["kind"] == "images" and body["search"]["items"] == 1500


@pytest.mark.parametrize("bad", ["../outside/secret", "/etc", "%2e%2e/outside/secret", "..%2Foutside%2Fsecret",
                                 "%252e%252e%252foutside", "link-out", "vae-2/../../outside/secret", "group",
                                 "vae-2/stages/..", "vae-2\\..\\..", ""])
def test_paths_outside_the_runs_folder_are_refused(client, bad):
    response = client.get(f"/api/run/curves?id={bad}")
    assert response.status_code == 404 and "not a run under the runs folder" in response.json()["error"]


def test_nothing_is_written_and_every_failure_is_one_clear_line(client, root):
    before = tree_digest(root)
    for url in ("/api/runs", "/api/run/curves?id=vae-2", "/api/run/map?id=vae-2", "/api/run/item?id=vae-2&i=3",
                "/api/run/interpolate?id=vae-2&a=1&b=2", "/api/run/sample?id=vae-2&seed=3",
                "/api/run/restore?id=group/dae&i=4", "/api/compare/images?ids=vae-2,group/dae", "/"):
        assert client.get(url).status_code == 200, url
    assert client.post("/api/search", data={"item": "0", "top": "5"}).status_code == 200
    assert tree_digest(root) == before  # looking writes nothing
    bad = {"/api/run/item?id=vae-2&i=99999": (404, "not one of the"), "/api/run/item?id=vae-2&i=x": (400, "whole number"),
           "/api/run/restore?id=vae-2&i=1": (400, "not a restoration run"), "/api/run/map?id=sh": (200, None)}
    for url, (code, words) in bad.items():
        response = client.get(url)
        assert response.status_code == code, url
        if words:
            assert words in response.json()["error"]
    for method in ("post", "put", "delete"):
        assert getattr(client, method)("/api/runs").status_code == 405


def test_search_queries_and_uploads(client, root):
    found = client.post("/api/search", data={"item": "0", "top": "5"}).json()
    assert [h["distance"] for h in found["hits"]] == sorted(h["distance"] for h in found["hits"])
    assert found["hits"][0]["id"] == 0 and found["hits"][0]["image"].startswith("data:image/png") and found["ms"] >= 0
    within = client.post("/api/search", data={"item": "0", "radius": "1"}).json()
    assert within["how"] == "within 1 bits" and all(h["distance"] <= 1 for h in within["hits"])
    png = io.BytesIO()
    Image.new("L", (8, 8), 200).save(png, format="PNG")
    by_image = client.post("/api/search", files={"image": ("q.png", png.getvalue(), "image/png")}, data={"top": "3"})
    assert by_image.status_code == 200 and len(by_image.json()["hits"]) == 3
    bomb = io.BytesIO()
    Image.new("1", (9000, 9000)).save(bomb, format="PNG")  # 81 MP in a few kB
    errors = {
        "pixels": client.post("/api/search", files={"image": ("b.png", bomb.getvalue(), "image/png")}),
        "not an image": client.post("/api/search", files={"image": ("x.png", b"hello", "image/png")}),
        "MiB": client.post("/api/search", files={"image": ("big.png", b"0" * (MAX_UPLOAD + 2**17), "image/png")}),
        "whole number": client.post("/api/search", data={"item": "0", "top": "many"}),
        "one query": client.post("/api/search", data={"item": "0", "text": "words"}),
        "holds images": client.post("/api/search", data={"text": "words"}),
        "no item with id 4": client.post("/api/search", data={"item": "4"}),
    }
    for words, response in errors.items():
        assert response.status_code in (400, 413) and words in response.json()["error"], words


def test_a_document_index_searched_by_text(tmp_path):
    words = {"space": "orbit shuttle launch nasa moon rocket", "hockey": "goal puck ice team season player",
             "cars": "engine wheel brake dealer oil speed"}
    rng = __import__("random").Random(0)
    lines = ["label\ttext"] + [f"{topic}\t" + " ".join(rng.choice(pool.split()) for _ in range(12))
                               for _ in range(40) for topic, pool in words.items()]
    corpus = tmp_path / "corpus.tsv"
    corpus.write_text("\n".join(lines) + "\n")
    runs = tmp_path / "runs"
    aelab.fit("semhash", str(corpus), out=runs / "docs", config={"hidden": [16], "latent_dim": 8},
              train={"epochs": 2}, progress=False)
    assert main(["index", "build", str(runs / "docs")]) == 0
    client = TestClient(make_app(runs, runs / "docs" / "index"))
    item = client.get("/api/run/item?id=docs&i=0").json()
    assert item["label"] in words and item["text"] and "image" not in item  # hovering a document shows its words
    found = client.post("/api/search", data={"text": "shuttle launch orbit", "top": "5"}).json()
    assert len(found["hits"]) == 5 and all(h["text"] for h in found["hits"]) and found["query"] == "text"
    assert sum(h["label"] == "space" for h in found["hits"]) >= 3
    png = io.BytesIO()
    Image.new("L", (8, 8)).save(png, format="PNG")
    refused = client.post("/api/search", files={"image": ("q.png", png.getvalue(), "image/png")})
    assert refused.status_code == 400 and "holds documents" in refused.json()["error"]
    unknown = client.post("/api/search", data={"text": "zzz qqq"})
    assert unknown.status_code == 400 and "none of the query's words" in unknown.json()["error"]


def test_a_run_written_while_it_is_read(client, root):
    folder = root / "vae-2"
    log = folder / "metrics.jsonl"
    original = log.read_bytes()
    stop = threading.Event()

    def writer():
        for _ in range(400):  # a trainer appending, a line at a time, sometimes caught half written
            if stop.is_set():
                break
            with open(log, "ab") as f:
                f.write(b'{"step": 99, "epoch": 3.5, "split": "test", "nelbo": 4')
                f.flush()
                time.sleep(0.001)
                f.write(b'0.5}\n')
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(30):
            assert client.get("/api/runs").status_code == 200
            assert client.get("/api/run/curves?id=vae-2").status_code == 200
    finally:
        stop.set()
        thread.join()
        log.write_bytes(original)


def test_the_command_line(root, tmp_path, monkeypatch, capsys):
    import uvicorn

    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, log_level: served.update(host=host, port=port))
    assert main(["serve", str(root), "--port", "8800"]) == 0
    out = capsys.readouterr()
    assert "http://127.0.0.1:8800/" in out.out and "warning" not in out.err and served["host"] == "127.0.0.1"
    assert main(["serve", str(root), "--host", "0.0.0.0"]) == 0
    assert "warning: listening on 0.0.0.0" in capsys.readouterr().err
    assert main(["serve", str(tmp_path / "none")]) == 1
    assert "not a folder" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "starlette", None)  # the extra not installed
    assert main(["serve", str(root)]) == 1
    assert "pip install 'aelab[web]'" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- in a browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(root):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "aelab", "serve", str(root), "--index", str(root / "sh" / "index"),
                                "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(10)


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium; .ci/run installs it)")
    return path


def at(page, k: int, click: bool = False) -> None:
    """The mouse over (or clicking) point k of the map's first trace, placed from Plotly's own axes (its drag layer,
    not the point's element, takes the mouse)."""
    x, y = page.evaluate("""(k) => {
        const gd = document.getElementById("map"), t = gd._fullData[0], L = gd._fullLayout;
        const r = gd.getBoundingClientRect();
        return [r.left + L.xaxis._offset + L.xaxis.l2p(t.x[k]), r.top + L.yaxis._offset + L.yaxis.l2p(t.y[k])];
    }""", k)
    page.mouse.move(x, y)
    if click:
        page.mouse.click(x, y)


def test_every_view_in_a_browser(server, root, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is a test extra")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.goto(server)
        rows = page.locator("#runs-table tbody tr")
        rows.first.wait_for()
        assert rows.count() == 6
        status = {r: page.inner_text(f"#runs-table tr[data-id='{r}'] td:nth-child(5)") for r in ("vae-2", "cut", "nan")}
        assert status == {"vae-2": "finished", "cut": "interrupted", "nan": "diverged"}  # trained by a live process
        first = rows.first.get_attribute("data-id")  # sorted by run
        page.click("#runs-table th[data-key='id']")  # the other way
        assert rows.first.get_attribute("data-id") != first and page.locator("th.sorted-desc").count() == 1
        page.click("#runs-table th[data-key='wall_s']")
        walls = page.eval_on_selector_all("#runs-table tbody tr td:nth-child(6)", "els => els.map(e => e.textContent)")
        assert page.locator("th.sorted-asc").inner_text() == "wall time" and len(walls) == 6
        for rid in ("vae-2", "vae-8"):
            page.check(f"#runs-table tr[data-id='{rid}'] input")
        page.wait_for_function("document.getElementById('curves').data && document.getElementById('curves').data.length == 2")
        page.select_option("#metric", "test kl")
        page.wait_for_function("document.getElementById('curves').layout.title.text == 'test kl'")
        page.locator("#through img").nth(2).wait_for()
        assert page.eval_on_selector_all("#through img", "els => els.every(e => e.naturalWidth > 0)")
        page.screenshot(path=str(tmp_path / "runs.png"), full_page=True)
        sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        log = root / "vae-8" / "metrics.jsonl"
        original = log.read_bytes()
        try:  # vae-8 in training: its curve follows what it writes
            (root / "vae-8" / ".lock").write_text(f"{sleeper.pid}\n")
            page.uncheck("#runs-table tr[data-id='vae-8'] input")
            page.check("#runs-table tr[data-id='vae-8'] input")
            page.wait_for_function("document.querySelector(\"#runs-table tr[data-id='vae-8'] td:nth-child(5)\")"
                                   ".textContent == 'running'")
            with open(log, "a") as f:
                f.write(json.dumps({"step": 60, "epoch": 4.0, "split": "test", "kl": 0.5}) + "\n")
            page.wait_for_function("document.getElementById('curves').data[1].x.length == 4", timeout=15000)
        finally:
            sleeper.kill()
            (root / "vae-8" / ".lock").write_text("")
            log.write_bytes(original)

        page.click("#tab-explore")
        page.select_option("#explore-run", "vae-8")
        page.locator("#map[data-run='vae-8']").wait_for()
        at(page, 3)
        page.locator("#hovered-image").wait_for()
        at(page, 3, click=True)
        at(page, 10, click=True)
        page.locator("#interp-frame").wait_for()
        assert page.evaluate("state.frames.length") == 10
        assert page.get_attribute("#interp-frame", "src") == page.evaluate("state.frames[0]")
        page.locator("#interp-slider").fill("9")  # the slider shows the last frame
        assert page.get_attribute("#interp-frame", "src") == page.evaluate("state.frames[9]")
        page.click("#sample-button")
        page.locator("#samples-image").wait_for()
        page.screenshot(path=str(tmp_path / "explore.png"), full_page=True)

        page.select_option("#explore-run", "group/dae")  # a restoration run: the before / after slider
        page.locator("#map[data-run='group/dae']").wait_for()
        at(page, 2, click=True)
        page.locator("#restore-before").wait_for()
        page.locator("#restore-slider").fill("20")
        page.locator("#restore-slider").dispatch_event("input")
        assert "80%" in page.get_attribute("#restore-before", "style")
        page.screenshot(path=str(tmp_path / "restore.png"), full_page=True)

        page.click("#tab-search")
        page.fill("#search-item", "0")
        page.click("#search-button")
        page.locator("#search-results tbody tr").first.wait_for()
        assert page.locator("#search-results tbody tr").count() == 10 and "ms" in page.inner_text("#search-took")
        page.fill("#search-item", "")
        png = tmp_path / "query.png"
        Image.new("L", (8, 8), 90).save(png)
        page.set_input_files("#search-image", str(png))
        page.fill("#search-top", "4")
        page.click("#search-button")
        page.wait_for_function("document.querySelectorAll('#search-results tbody tr').length == 4")
        page.fill("#search-top", "lots")
        page.click("#search-button")
        page.locator("#error").wait_for()
        assert "whole number" in page.inner_text("#error")
        page.screenshot(path=str(tmp_path / "search.png"), full_page=True)
        browser.close()
    for name in ("runs", "explore", "restore", "search"):
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
