"""`aelab index build|search|stats` over a semantic-hashing run: images, documents, ids, and refusals."""

import json

import numpy as np
import pytest
from PIL import Image

from aelab.cli import main

TINY = ["--preset", "tiny", "--no-progress", "--no-report"]


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("ix")
    # the digits preset (ELU, 16 bits): 8 epochs already spread the items over ~180 codes
    assert main(["train", "semhash", "--epochs", "8", "--no-progress", "--no-report", "--out", str(root / "run")]) == 0
    assert main(["index", "build", str(root / "run"), "--out", str(root / "index")]) == 0
    return root


def test_build_stats_and_search_by_id_agree_with_a_brute_force_scan(image_run, capsys):
    import aelab
    from aelab.data import load_dataset

    capsys.readouterr()
    assert main(["index", "stats", str(image_run / "index"), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["items"] == 1500 and stats["bits"] == 16 and stats["source"]["model"] == "semhash"
    assert stats["distinct_codes"] > 20  # the codes carry information
    train = load_dataset("digits", "train")
    item = int(train.index[7])  # ids are rows of the whole data set, in file order
    assert main(["index", "search", str(image_run / "index"), "--query", str(item), "--radius", "1", "--json",
                 "--limit", "2000"]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    codes = aelab.load(image_run / "run").binary_codes(train.x).numpy()
    row = 7
    dist = (codes != codes[row]).sum(1)
    want = sorted((int(d), int(i)) for i, d in zip(train.index, dist) if d <= 1)
    assert [(h["distance"], h["id"]) for h in hits] == want
    assert all("label" in h for h in hits)


def test_an_image_file_is_a_query(image_run, capsys):
    from aelab.data import load_dataset

    x = load_dataset("digits", "train").x[0, 0].numpy()
    Image.fromarray((x * 255).round().astype(np.uint8)).save(image_run / "q.png")
    capsys.readouterr()
    assert main(["index", "search", str(image_run / "index"), "--query", str(image_run / "q.png"), "--top", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("3 items top 3 of the image") and len(out) == 4


def test_refusals_are_one_line(image_run, capsys, tmp_path):
    assert main(["train", "ae", *TINY, "--epochs", "1", "--out", str(tmp_path / "ae")]) == 0
    capsys.readouterr()
    assert main(["index", "build", str(tmp_path / "ae"), "--out", str(tmp_path / "i")]) == 1
    assert "gives no binary codes to index" in capsys.readouterr().err
    assert main(["index", "build", str(image_run / "run"), "--out", str(image_run / "index")]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["index", "search", str(image_run / "index"), "--query", "hello", "--top", "3"]) == 2
    assert "holds images" in capsys.readouterr().err
    assert main(["index", "search", str(image_run / "index"), "--query", "99999", "--top", "3"]) == 1
    assert "no item with id 99999" in capsys.readouterr().err


def test_a_query_from_a_changed_model_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "semhash", *TINY, "--epochs", "1", "--out", str(run)]) == 0
    assert main(["index", "build", str(run), "--out", str(tmp_path / "index")]) == 0
    assert main(["train", "semhash", *TINY, "--out", str(run), "--resume", "--more-epochs", "1"]) == 0
    capsys.readouterr()
    from aelab.data import load_dataset

    item = str(int(load_dataset("digits", "train").index[0]))
    assert main(["index", "search", str(tmp_path / "index"), "--query", item, "--top", "3"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "weights_sha256" in err


def test_documents_are_searched_by_text(tmp_path, capsys):
    rows = ["label\ttext"]
    topics = {"space": "orbit rocket launch moon nasa shuttle", "cars": "engine wheel brake car dealer motor"}
    rng = np.random.default_rng(0)
    for i in range(120):
        label = "space" if i % 2 else "cars"
        words = rng.choice(topics[label].split(), size=12)
        rows.append(f"{label}\t{' '.join(words)} the and common filler words here")
    (tmp_path / "docs.tsv").write_text("\n".join(rows) + "\n")
    run = tmp_path / "run"
    assert main(["train", "semhash", "--data", str(tmp_path / "docs.tsv"), "--set", "hidden=16", "--set", "bits=8",
                 "--set", "activation=elu", "--lr", "3e-3",
                 "--epochs", "20", "--out", str(run), "--no-progress", "--no-report"]) == 0
    assert main(["index", "build", str(run), "--out", str(tmp_path / "index")]) == 0
    capsys.readouterr()
    assert main(["index", "search", str(tmp_path / "index"), "--query", "rocket moon launch orbit", "--top", "5",
                 "--json"]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(hits) == 5 and all("text" in h and "label" in h for h in hits)
    assert main(["index", "search", str(tmp_path / "index"), "--query", "zzzz qqqq", "--top", "5"]) == 1
    assert "none of the query's words" in capsys.readouterr().err
