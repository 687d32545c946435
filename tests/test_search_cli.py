"""A user's corpus end to end: `aelab train semhash --data PATH`, `aelab index build RUN`, `aelab search RUN TEXT`;
unlabelled corpora; the documents skipped (empty, too short, not UTF-8), counted in one line by every reader."""

import csv
import json
import re

import numpy as np
import pytest

from aelab.cli import main
from aelab.data import count_words, load_dataset
from aelab.data.text import MIN_WORDS
from aelab.errors import DataError

# a tiny hasher that spreads these documents over many codes in a few epochs (a second on one core)
TINY = ["--set", "hidden=[16]", "--set", "latent_dim=8", "--set", "activation=elu", "--lr", "3e-3", "--epochs", "5",
        "--no-progress", "--no-report"]
TOPICS = {"space": "orbit rocket launch moon nasa shuttle", "cars": "engine wheel brake car dealer motor",
          "food": "bread cheese apple soup dinner recipe"}


def documents(n: int = 90, seed: int = 0) -> list[tuple[str, str]]:
    """(label, text): 12 words of one topic and a few words every document shares."""
    rng = np.random.default_rng(seed)
    names = sorted(TOPICS)
    return [(names[i % 3], " ".join(rng.choice(TOPICS[names[i % 3]].split(), size=12)) + " common words here")
            for i in range(n)]


def write_folder(root, rows, labelled=True):
    for i, (label, text) in enumerate(rows):
        path = root / label / f"doc{i:03d}.txt" if labelled else root / f"doc{i:03d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def skipped_line(err: str) -> str:
    lines = [line for line in err.splitlines() if "skipped" in line]
    assert len(lines) == 1, err  # one line, however often the command reads the corpus
    return lines[0]


def run_cli(argv) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of the command, in this process."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """A run on a folder of .txt files, one sub-folder a label, with three documents it must skip; what training,
    a search before the index, and the index's build said."""
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("search")
    corpus = write_folder(root / "corpus", documents())
    (corpus / "space" / "empty.txt").write_text(" \n\t")
    (corpus / "cars" / "short.txt").write_text("engine, and the of")  # one word of the vocabulary
    (corpus / "food" / "latin1.txt").write_bytes("caf\xe9 bread cheese apple".encode("latin-1"))
    run = root / "run"
    said = {"train": run_cli(["train", "semhash", "--data", str(corpus), *TINY, "--out", str(run)]),
            "search": run_cli(["search", str(run), "rocket launch"]),
            "build": run_cli(["index", "build", str(run)])}  # into RUN/index, where search looks
    return root, run, said


def test_training_skips_in_one_line_and_search_needs_the_index(labelled):
    _, run, said = labelled
    code, _, err = said["train"]
    assert code == 0
    line = skipped_line(err)
    assert re.search(r"skipped 3 of 93 documents: 1 empty \(space/empty.txt\), 1 with fewer than 2 words of the "
                     r"vocabulary \(cars/short.txt\), 1 not UTF-8 \(food/latin1.txt\)$", line), line
    code, _, err = said["search"]  # no index yet: the command that builds one
    assert code == 1 and err == f"aelab: error: {run} has no index yet; build it first: aelab index build {run}\n"
    code, out, _ = said["build"]
    train = load_dataset(str(run.parent / "corpus"), "train")  # the training split, its skipped documents left out
    assert code == 0 and (run / "index").is_dir() and out.startswith(f"indexed {len(train)} items")
    assert len(train) < 84 and len(train) + len(load_dataset(str(run.parent / "corpus"), "test")) == 90


def _search_json(run, *args) -> list[dict]:
    code, out, err = run_cli(["search", str(run), *args, "--json"])
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def _scan(run, query: str):
    """Every training document's Hamming distance to the query, by the run's model: (distance, id) sorted."""
    import aelab
    import torch

    model = aelab.load(run)
    train = load_dataset(str(run.parent / "corpus"), "train", vocabulary=model_vocabulary(run))
    with torch.no_grad():
        codes = model.binary_codes(train.x).numpy()
        q = model.binary_codes(torch.from_numpy(count_words([query], model_vocabulary(run)))).numpy()
    return sorted((int(d), int(i)) for d, i in zip((codes != q).sum(1), train.index)), train


def model_vocabulary(run):
    from aelab.runs import RunFolder

    return RunFolder(run).read_spec().data_options["vocabulary"]


def test_search_lists_the_nearest_documents_in_order(labelled, capsys):
    root, run, _ = labelled
    query = "rocket launch nasa orbit"
    want, train = _scan(run, query)
    hits = _search_json(run, query, "--top", "30")
    assert [h["rank"] for h in hits] == list(range(1, 31))
    assert [(h["distance"], h["id"]) for h in hits] == want[:30]  # the 30 nearest, ties by id, as a scan finds them
    dist = [h["distance"] for h in hits]
    assert dist == sorted(dist) and len(set(dist)) > 1
    files = dict(zip(train.index.tolist(), train.files))
    for h in hits:  # each hit is described: its label (its sub-folder), its file and its first words
        assert h["file"] == files[h["id"]] and h["label"] == h["file"].split("/")[0]
        text = (root / "corpus" / h["file"]).read_text().split()
        assert h["text"] == " ".join(text[:15]) + (" ..." if len(text) > 15 else "")
    # the table: a header, then rank, distance, label, file, the first words, one line each, nearest first
    capsys.readouterr()
    assert main(["search", str(run), query, "--top", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f'5 documents nearest "{query}" (8-bit codes of {len(train)} documents in {run / "index"})'
    assert lines[1].split() == ["rank", "dist", "label", "file", "text"] and len(lines) == 7
    rows = [line.split() for line in lines[2:]]
    assert [int(r[0]) for r in rows] == [1, 2, 3, 4, 5]
    assert [(int(r[1]), r[3]) for r in rows] == [(d, files[i]) for d, i in want[:5]]
    assert [r[2] for r in rows] == [files[i].split("/")[0] for _, i in want[:5]]


def test_radius_mode_returns_everything_within_it(labelled, capsys, tmp_path):
    root, run, _ = labelled
    query = "bread cheese soup"
    want, _ = _scan(run, query)
    for radius in (0, 2):
        hits = _search_json(run, query, "--radius", str(radius), "--limit", "1000")
        assert [(h["distance"], h["id"]) for h in hits] == [(d, i) for d, i in want if d <= radius]
    (tmp_path / "q.txt").write_text(query)  # a .txt file is a query too
    assert [h["id"] for h in _search_json(run, str(tmp_path / "q.txt"), "--top", "4")] == [i for _, i in want[:4]]
    capsys.readouterr()
    assert main(["search", str(run), "zzz qqq the", "--top", "3"]) == 1  # no word of the vocabulary: one line
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "none of the query's words is in the run's vocabulary" in err
    assert main(["search", str(run), "x", "--top", "3", "--radius", "1"]) == 2  # one or the other
    capsys.readouterr()


def test_an_index_older_than_the_weights_is_refused_in_one_line(labelled, capsys):
    run = labelled[0] / "stale"
    corpus = str(labelled[0] / "corpus")
    # no validation: the epoch trained on is the one kept, so the weights do change
    assert main(["train", "semhash", "--data", corpus, *TINY, "--epochs", "1", "--validation", "0", "--out", str(run)]) == 0
    assert main(["index", "build", str(run)]) == 0
    assert main(["train", "semhash", "--out", str(run), "--resume", "--more-epochs", "1", "--no-progress",
                 "--no-report"]) == 0
    capsys.readouterr()
    assert main(["search", str(run), "rocket launch"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"build it again: aelab index build {run} --out {run / 'index'} --overwrite" in err
    assert main(["index", "build", str(run), "--overwrite"]) == 0
    assert main(["search", str(run), "rocket launch"]) == 0


def test_an_unlabelled_corpus_trains_searches_and_reports_without_map(tmp_path, capsys):
    corpus = write_folder(tmp_path / "flat", documents(60), labelled=False)  # every .txt in the folder itself
    (corpus / "blank.txt").write_text("")
    run = tmp_path / "run"
    assert main(["train", "semhash", "--data", str(corpus), *TINY, "--out", str(run)]) == 0
    assert "1 empty (blank.txt)" in skipped_line(capsys.readouterr().err)
    assert main(["index", "build", str(run)]) == 0
    capsys.readouterr()
    assert main(["search", str(run), "engine brake wheel", "--top", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["rank", "dist", "file", "text"] and len(lines) == 5  # no label column
    assert main(["eval", str(run)]) == 0
    out = capsys.readouterr().out
    assert "  no labels: retrieval precision needs labelled documents" in out.splitlines()
    assert "map" not in out and "precision_at" not in out and "distinct_codes" in out
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    assert "No labels: retrieval precision needs labelled documents." in page and "precision-recall" not in page


def test_a_table_without_labels_is_searched_by_row(tmp_path, capsys):
    rows = documents(60)
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps({"text": t, "source": "x"}) + "\n" for _, t in rows))
    run = tmp_path / "run"
    assert main(["train", "semhash", "--data", str(tmp_path / "docs.jsonl"), *TINY, "--out", str(run)]) == 0
    assert main(["index", "build", str(run)]) == 0
    hits = _search_json(run, "bread soup dinner", "--top", "4")
    assert all(set(h) == {"rank", "id", "distance", "text"} for h in hits)  # no label, no file
    assert all(h["text"] == rows[h["id"]][1] for h in hits)  # 15 words: the whole document; ids are rows from 0
    capsys.readouterr()
    assert main(["search", str(run), "bread soup dinner", "--top", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["rank", "dist", "id", "text"]
    assert [int(line.split()[2]) for line in lines[2:]] == [h["id"] for h in hits]


def test_a_labelled_run_is_scored_and_says_nothing_of_labels(labelled, capsys):
    root, run, _ = labelled
    capsys.readouterr()
    assert main(["eval", str(run)]) == 0
    out = capsys.readouterr().out
    assert "map" in out and "no labels" not in out


# ---------------------------------------------------------------- every reader: unlabelled, skipped, nothing left


def write_table(path, rows, labelled=True):
    """rows of (label, text) as .tsv, .csv or .jsonl by the path's suffix; without the label column if unlabelled."""
    suffix = path.name.split(".")[-1]
    if suffix == "tsv":
        path.write_bytes(("label\ttext\n" if labelled else "text\n").encode()
                         + b"".join((f"{a}\t".encode() if labelled else b"") + b + b"\n" for a, b in rows))
    elif suffix == "csv":
        with open(path, "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
            w = csv.writer(f)
            w.writerow(["label", "text"] if labelled else ["text"])
            texts = [b.decode("utf-8", "surrogateescape") for _, b in rows]  # written back as the same bytes
            w.writerows([(a, t) for (a, _), t in zip(rows, texts)] if labelled else [(t,) for t in texts])
    else:
        path.write_bytes(b"".join(
            b'{"text": "' + b + b'"' + (f', "label": "{a}"'.encode() if labelled else b"") + b"}\n" for a, b in rows))
    return path


BAD = [("space", b""), ("cars", b"   "), ("food", b"bread"), ("space", b"caf\xe9 rocket moon nasa")]


@pytest.mark.parametrize("kind", ["folder", "flat", "c.tsv", "c.csv", "c.jsonl", "u.tsv", "u.csv", "u.jsonl"])
def test_every_reader_counts_what_it_skips_in_one_line(tmp_path, capsys, kind):
    rows = [(a, b.encode()) for a, b in documents(30)] + BAD
    if kind in ("folder", "flat"):  # the rows in the order of their files' sorted paths
        root = tmp_path / "corpus"
        names = [f"{a}/d{i:02d}.txt" if kind == "folder" else f"d{i:02d}.txt" for i, (a, _) in enumerate(rows)]
        for name, (_, text) in zip(names, rows):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(text)
        order = sorted(range(len(rows)), key=names.__getitem__)
        rows, names = [rows[k] for k in order], [names[k] for k in order]
    else:
        root = write_table(tmp_path / kind, rows, labelled=kind.startswith("c."))
        names = [f"id {i}" for i in range(len(rows))]  # documents from 0, as Dataset.index and search count them
    bad = {text: [i for i, (_, t) in enumerate(rows) if t == text] for _, text in BAD}
    every = load_dataset(str(root), "all")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"aelab: note: {root}: skipped 4 of 34 documents: ")
    empty = sorted(bad[b""] + bad[b"   "])
    assert err.rstrip().endswith(f"2 empty (first: {names[empty[0]]}), 1 with fewer than {MIN_WORDS} words of the "
                                 f"vocabulary ({names[bad[b'bread'][0]]}), 1 not UTF-8 ({names[bad[BAD[3][1]][0]]})")
    good = [i for i, (_, t) in enumerate(rows) if not any(t == b for _, b in BAD)]
    assert every.index.tolist() == good and len(every.texts) == 30  # source rows, the skipped left out
    assert (every.x.sum(1) >= MIN_WORDS).all()
    if kind in ("folder", "c.tsv", "c.csv", "c.jsonl"):
        assert every.classes == ["cars", "food", "space"]
        assert [every.classes[y] for y in every.y.tolist()] == [rows[i][0] for i in good]
    else:  # unlabelled
        assert every.y is None and every.classes is None
    train, test = load_dataset(str(root), "train"), load_dataset(str(root), "test")
    assert sorted(train.index.tolist() + test.index.tolist()) == good  # each split skips its own


@pytest.mark.parametrize("name, body", [
    ("e.tsv", b"label\ttext\na\t\nb\t  \n"),
    ("e.csv", b"text\n\"\"\n\"  \"\n"),
    ("e.jsonl", b'{"text": "caf\xe9"}\n{"text": ""}\n'),
])
def test_a_corpus_with_nothing_left_is_one_line(tmp_path, name, body):
    (tmp_path / name).write_bytes(body)
    with pytest.raises(DataError) as e:
        load_dataset(str(tmp_path / name), "train")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{tmp_path / name}: no document ")


def test_training_on_a_corpus_with_nothing_left_is_one_line(tmp_path, capsys):
    root = tmp_path / "c"
    (root / "a").mkdir(parents=True)
    for i in range(5):
        (root / "a" / f"{i}.txt").write_text("rocket")  # one word each: nothing to learn from
    assert main(["train", "semhash", "--data", str(root), *TINY, "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (f"aelab: error: {root}: no document is left in the 'train' split: its 4 are all empty, not "
                       f"UTF-8 or with fewer than {MIN_WORDS} words of the vocabulary"), err
