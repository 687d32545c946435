"""Text as data (data/text.py): 20newsgroups, user corpora as .tsv tables and folders, vocabularies, queries."""

import gzip
import hashlib
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aelab.cli.main import main
from aelab.data import (
    Dataset,
    build_vocabulary,
    count_words,
    dataset_source,
    fetch,
    load_dataset,
    read_vocabulary,
    tokenize,
    write_vocabulary,
)
from aelab.data.text import NEWSGROUPS
from aelab.eval.hashing import tfidf
from aelab.errors import DataError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NG_DIR = SHARED / "20newsgroups"
needs_20ng = pytest.mark.skipif(
    not ((NG_DIR / "train.tsv.gz").is_file() and (NG_DIR / "test.tsv.gz").is_file()),
    reason=f"20newsgroups train.tsv.gz / test.tsv.gz not found in {NG_DIR}",
)


def one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert msg and "\n" not in msg
    return msg


def write_tsv(path: Path, rows: list[tuple[str, str]], header: str = "label\ttext") -> Path:
    body = "".join(f"{label}\t{text}\n" for label, text in rows)
    data = (header + "\n" + body).encode("utf-8")
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def raw_rows(path: Path) -> list[tuple[str, str]]:
    """The shared file's rows, read independently of aelab."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    assert lines[0] == "label\ttext" and lines[-1] == ""
    return [tuple(line.split("\t", 1)) for line in lines[1:-1]]


# ---------------------------------------------------------------- 20 Newsgroups


@pytest.fixture(scope="module")
def ng():
    if not (NG_DIR / "train.tsv.gz").is_file() or not (NG_DIR / "test.tsv.gz").is_file():
        pytest.skip(f"20newsgroups train.tsv.gz / test.tsv.gz not found in {NG_DIR}")
    return load_dataset("20newsgroups", "train", SHARED), load_dataset("20ng", "test", SHARED)


def test_newsgroups_shapes_labels_and_index(ng):
    train, test = ng
    for d, n, first in ((train, 11293, 0), (test, 7528, 11293)):
        assert isinstance(d, Dataset) and d.name == "20newsgroups" and d.kind == "counts"
        assert d.x.shape == (n, 2000) and d.x.dtype == torch.float32 and d.y.dtype == torch.int64
        assert d.classes == NEWSGROUPS and len(d.classes) == 20 and set(d.y.tolist()) == set(range(20))
        assert d.index.tolist() == list(range(first, first + n)) and len(d.texts) == n
        assert float(d.x.min()) == 0.0 and torch.equal(d.x, d.x.round())
    # the labels and texts are the file's rows, in order
    rows = raw_rows(NG_DIR / "test.tsv.gz")
    assert [NEWSGROUPS[i] for i in test.y.tolist()] == [r[0] for r in rows]
    assert test.texts == [r[1] for r in rows]
    assert torch.bincount(train.y, minlength=20).tolist()[:3] == [480, 584, 572]


def test_newsgroups_vocabulary_is_the_training_sets_most_frequent_words(ng):
    train, test = ng
    vocab = train.vocabulary
    assert test.vocabulary == vocab and len(vocab) == len(set(vocab)) == 2000
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    assert not set(vocab) & ENGLISH_STOP_WORDS
    assert all(len(w) > 1 and w.isalpha() for w in vocab)
    # an independent count of every word of the training file
    totals = Counter(" ".join(text for _, text in raw_rows(NG_DIR / "train.tsv.gz")).split())
    kept = [totals[w] for w in vocab]
    assert kept == sorted(kept, reverse=True)  # most frequent first
    assert all(a < b for a, b, ca, cb in zip(vocab, vocab[1:], kept, kept[1:]) if ca == cb)  # ties alphabetical
    left_out = [c for w, c in totals.items() if w not in set(vocab) and len(w) > 1 and w not in ENGLISH_STOP_WORDS]
    assert max(left_out) <= kept[-1]
    assert train.x.sum(0).tolist() == [float(c) for c in kept]  # the counts are the same numbers


def test_newsgroups_counts_equal_a_hand_count(ng):
    train, test = ng
    for d, rows in ((train, raw_rows(NG_DIR / "train.tsv.gz")), (test, raw_rows(NG_DIR / "test.tsv.gz"))):
        for r in (0, 1234, len(d) - 1):
            words = Counter(rows[r][1].split())
            expect = [float(words[w]) for w in d.vocabulary]
            assert d.x[r].tolist() == expect and sum(expect) > 0


def test_newsgroups_counts_are_those_of_the_earlier_tokenizer(ng):
    # sha256 of x as aelab's own tokenizer counted it before scikit-learn's CountVectorizer did: a run saved then
    # encodes its test split and queries exactly as it did
    train, test = ng
    assert hashlib.sha256(train.x.numpy().tobytes()).hexdigest() == (
        "26cb8bd554f122be7ab9e2b3120be5a6454c73bb7b6190701681bdc4ab11eea5"
    )
    assert hashlib.sha256(test.x.numpy().tobytes()).hexdigest() == (
        "98bfab963a355a925904174284b8577778d9967c273f9201932e9ecdb871c30e"
    )


@needs_20ng
def test_newsgroups_all_split_and_given_vocabulary(ng):
    train, test = ng
    both = load_dataset("newsgroups", "all", SHARED)
    assert both.x.shape == (18821, 2000) and both.vocabulary == train.vocabulary
    assert torch.equal(both.x[:11293], train.x) and torch.equal(both.x[11293:], test.x)
    assert both.index.tolist() == list(range(18821))
    words = ["space", "god", "car", "zzzz"]
    small = load_dataset("20newsgroups", "test", SHARED, vocabulary=words)
    assert small.vocabulary == words and small.x.shape == (7528, 4) and small.index[0] == 11293
    columns = [train.vocabulary.index(w) for w in words[:3]]
    assert torch.equal(small.x[:, :3], test.x[:, columns]) and float(small.x[:, 3].sum()) == 0.0
    tiny = load_dataset("20newsgroups", "train", SHARED, vocab_size=10)
    assert tiny.vocabulary == train.vocabulary[:10] and tiny.x.shape == (11293, 10)
    assert load_dataset("20newsgroups", "test", SHARED, vocab_size=10).vocabulary == tiny.vocabulary


@needs_20ng
def test_newsgroups_found_through_the_environment_and_refuses_image_options(monkeypatch):
    monkeypatch.setenv("AELAB_DATA", str(NG_DIR))  # the folder itself, not its parent
    assert dataset_source("20NG").name == "20newsgroups"
    found = load_dataset("20newsgroups", "test", vocabulary=["god"])
    assert found.x.shape == (7528, 1) and found.index[0] == 11293
    for kwargs, match in (
        ({"val_fraction": 0.2}, re.escape("20newsgroups has an official test split (7528 documents)")),
        ({"image_size": 8}, re.escape("20newsgroups is text (word counts), so image_size")),
        ({"grayscale": True}, re.escape("20newsgroups is text (word counts), so grayscale")),
    ):
        with pytest.raises(DataError, match=match) as e:
            load_dataset("20newsgroups", "test", **kwargs)
        one_line(e)


def test_newsgroups_missing_files_and_other_labels(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset("20newsgroups", "test", tmp_path / "nowhere")
    msg = one_line(e)
    assert msg.startswith("20newsgroups not found: missing train.tsv[.gz], test.tsv[.gz]")
    assert str(tmp_path / "nowhere") in msg and str(Path.home() / ".cache" / "aelab") in msg
    assert "aelab data fetch 20newsgroups" in msg
    folder = tmp_path / "base" / "20newsgroups"
    folder.mkdir(parents=True)
    write_tsv(folder / "train.tsv.gz", [("sci.space", "orbit orbit moon"), ("pets", "cat dog")])
    with pytest.raises(DataError) as e:
        load_dataset("20newsgroups", "train", tmp_path / "base")
    assert one_line(e) == (
        f"{folder / 'train.tsv.gz'}: line 3: label 'pets' is not one of the 20 newsgroups; "
        "load another corpus by its path instead"
    )
    with pytest.raises(DataError, match="lacks test.tsv"):
        load_dataset("20newsgroups", "all", tmp_path / "base")


def test_newsgroups_from_small_files_index_and_cache(tmp_path):
    folder = tmp_path / "20newsgroups"
    folder.mkdir()
    write_tsv(folder / "train.tsv", [("sci.space", "orbit orbit moon the"), ("rec.autos", "car car car engine")])
    write_tsv(folder / "test.tsv.gz", [("rec.autos", "engine orbit"), ("sci.med", "doctor")])
    test = load_dataset("20newsgroups", "test", tmp_path)
    assert test.vocabulary == ["car", "orbit", "engine", "moon"]  # "the" is a stop word
    assert test.x.tolist() == [[0, 1, 1, 0], [0, 0, 0, 0]] and test.index.tolist() == [2, 3]
    assert test.y.tolist() == [NEWSGROUPS.index("rec.autos"), NEWSGROUPS.index("sci.med")]
    # a changed train file is read again, not served from the cache of the first one
    write_tsv(folder / "train.tsv", [("sci.space", "moon moon moon"), ("sci.space", "x"), ("rec.autos", "car")])
    again = load_dataset("20newsgroups", "test", tmp_path)
    assert again.vocabulary == ["moon", "car"] and again.index.tolist() == [3, 4]


def test_data_list_and_fetch_name_it(tmp_path, capsys):
    assert main(["data", "list", "--data-dir", str(tmp_path)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("20newsgroups "))
    assert "2000 most frequent words" in line and "not found: aelab data fetch 20newsgroups" in line
    if NG_DIR.is_dir():
        assert main(["data", "list", "--data-dir", str(SHARED)]) == 0
        line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("20newsgroups "))
        assert line.endswith(f"[{NG_DIR}]")
    assert main(["data", "fetch", "20ng"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("aelab: error: 20newsgroups is not downloaded by aelab") and "\n" not in err
    with pytest.raises(DataError, match="train.tsv.gz .* test.tsv.gz"):
        fetch("newsgroups")


# ---------------------------------------------------------------- words, vocabularies, queries


def test_tokenize_build_vocabulary_and_count_words():
    assert tokenize("The Café's 3D X-ray, e_mail") == ["the", "café", "s", "d", "x", "ray", "e", "mail"]
    texts = ["bb bb aa aa zz the x", "cc cc cc bb dd", "aa dd"]
    # aa, bb, cc: 3 each (a tie: alphabetical), dd: 2, zz: 1; "the" is a stop word, "x" one letter
    assert build_vocabulary(texts, 3) == ["aa", "bb", "cc"]
    assert build_vocabulary(texts, 4) == ["aa", "bb", "cc", "dd"]
    assert build_vocabulary(texts) == ["aa", "bb", "cc", "dd", "zz"]  # fewer words than asked for
    assert build_vocabulary(["the of and", "x y"]) == []
    assert build_vocabulary([]) == []
    counts = count_words(["Zz, A! zz zzz", "", "c\nb\tc"], ["zz", "a", "b", "c"])
    assert counts.dtype == np.float32 and counts.tolist() == [[2, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 2]]
    assert count_words([], ["a"]).shape == (0, 1)
    # case, punctuation and line breaks do not change the counts
    mixed = ["alpha beta beta", "Alpha, BETA!", "gamma\nalpha"]
    plain = ["alpha beta beta", "alpha beta", "gamma alpha"]
    words = ["alpha", "beta", "gamma"]
    assert np.array_equal(count_words(mixed, words), count_words(plain, words))


def test_ties_at_the_vocabularys_cut_are_broken_alphabetically():
    # scikit-learn's max_features makes no such promise: it ranks with an unstable sort
    texts = ["mm kk ll", "ll mm kk", "zz zz zz zz"]
    assert build_vocabulary(texts, 2) == ["zz", "kk"]
    assert build_vocabulary(list(reversed(texts)), 3) == ["zz", "kk", "ll"]


def test_a_given_vocabulary_counts_every_word_it_holds():
    # a vocabulary given by hand may hold what a built one never does: stop words and one-letter words
    counts = count_words(["The cat and a dog; the end", "x marks the spot"], ["the", "a", "x", "cat"])
    assert counts.tolist() == [[2, 1, 0, 1], [1, 0, 1, 0]]


def test_tfidf_is_the_smooth_idf_of_the_training_counts_l2_normalised():
    train = np.array([[2, 0, 1], [0, 1, 1], [1, 0, 1]], dtype=np.float32)
    docs = np.array([[1, 1, 0], [0, 0, 0]], dtype=np.float32)
    idf = np.log(4 / (1 + np.array([2, 1, 3]))) + 1  # ln((1 + n) / (1 + df)) + 1
    w = docs[0] * idf
    got = tfidf(train, docs)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got[0], w / np.linalg.norm(w), rtol=1e-6)
    assert got[1].tolist() == [0, 0, 0]  # a document without words stays zero


@pytest.mark.parametrize(
    "vocabulary, match",
    [
        ([], "the vocabulary is empty"),
        (["good", "Bad"], r"word 2 \('Bad'\) is not a lower-case word of letters"),
        (["two words"], "not a lower-case word of letters"),
        (["abc1"], "not a lower-case word of letters"),
        (["same", "same"], r"word 2 \('same'\) appears twice"),
        ("word", "expected a list of words"),
    ],
)
def test_bad_vocabularies(vocabulary, match):
    with pytest.raises(DataError, match=match) as e:
        count_words(["text"], vocabulary)
    one_line(e)


def test_query_encoded_like_the_data(tmp_path):
    corpus = write_tsv(
        tmp_path / "c.tsv",
        [("space", "shuttle launch nasa orbit"), ("space", "nasa shuttle"), ("cars", "engine car wheel")] * 4,
    )
    train = load_dataset(corpus, "train")
    saved = write_vocabulary(tmp_path / "run" / "vocabulary.txt", train.vocabulary)
    assert saved.read_text().split("\n")[:2] == train.vocabulary[:2]
    vocab = read_vocabulary(saved)
    assert vocab == train.vocabulary
    query = count_words(["The NASA shuttle: launch the shuttle!"], vocab)
    assert query.shape == (1, len(vocab))
    expect = {"shuttle": 2, "nasa": 1, "launch": 1}
    assert query[0].tolist() == [float(expect.get(w, 0)) for w in vocab]
    # a row of the data and the same text as a query are the same vector
    row = int(np.flatnonzero(train.index == 0)[0])
    assert np.array_equal(count_words([train.texts[row]], vocab)[0], train.x[row].numpy())


def test_read_vocabulary_errors(tmp_path):
    bad = tmp_path / "v.txt"
    bad.write_text("good\nBad Word\n")
    with pytest.raises(DataError) as e:
        read_vocabulary(bad)
    assert one_line(e) == f"{bad}: line 2 ('Bad Word') is not a lower-case word of letters"
    bad.write_text("a\nb\na\n")
    with pytest.raises(DataError, match="appears twice"):
        read_vocabulary(bad)
    with pytest.raises(DataError, match="no such file"):
        read_vocabulary(tmp_path / "missing.txt")


# ---------------------------------------------------------------- user corpora


def corpus_rows(n: int = 20) -> list[tuple[str, str]]:
    rows = []
    for i in range(n):
        text = f"word{i} apple only{chr(97 + i)} " + ("banana " if i % 3 == 2 else "") + ("cherry" if i % 2 else "date")
        rows.append(("even" if i % 2 == 0 else "odd", text))
    return rows


@pytest.mark.parametrize("suffix", [".tsv", ".tsv.gz"])
def test_tsv_corpus_splits(tmp_path, suffix):
    path = write_tsv(tmp_path / f"corpus{suffix}", corpus_rows())
    every, train, test = (load_dataset(str(path), s) for s in ("all", "train", "test"))
    assert (len(every), len(train), len(test)) == (20, 18, 2)
    assert sorted(train.index.tolist() + test.index.tolist()) == list(range(20))
    assert every.index.tolist() == list(range(20)) and every.classes == ["even", "odd"]
    assert every.y.tolist() == [i % 2 for i in range(20)] and every.texts[3] == corpus_rows()[3][1]
    assert every.kind == train.kind == "counts" and every.files is None
    # the vocabulary comes from the train split only, and is the same in every split
    assert train.vocabulary == test.vocabulary == every.vocabulary
    # digits end a word: "word7" is counted as "word"; apple and word (18 each) tie, so alphabetical
    assert train.vocabulary[:2] == ["apple", "word"]
    own = {f"only{chr(97 + i)}" for i in train.index}  # each document's own word: test documents' are left out
    assert set(train.vocabulary) == {"apple", "word", "banana", "cherry", "date"} | own and len(own) == 18
    for d in (every, train, test):
        for row, i in enumerate(d.index):
            words = Counter(tokenize(corpus_rows()[i][1]))
            assert d.x[row].tolist() == [float(words[w]) for w in d.vocabulary]
    held = load_dataset(str(path), "test", val_fraction=0.5)
    assert len(held) == 10 and len(load_dataset(str(path), "train", val_fraction=0.5)) == 10
    with pytest.raises(DataError, match="held-out fraction .* is 0"):
        load_dataset(str(path), "test", val_fraction=0)
    assert load_dataset(str(path), "train", vocab_size=2).vocabulary == ["apple", "word"]


def test_tsv_hand_counted(tmp_path):
    path = write_tsv(tmp_path / "c.tsv", [("a", "The Game was GREAT, great fun!"), ("b", "pizza; PIZZA and game")])
    d = load_dataset(str(path), "all", vocabulary=["great", "pizza", "game", "fun"])
    assert d.x.tolist() == [[2, 0, 1, 1], [0, 2, 1, 0]]
    assert d.texts == ["The Game was GREAT, great fun!", "pizza; PIZZA and game"]


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "empty file; expected the header line 'label<TAB>text'"),
        (b"\n\n", "empty file"),
        (b"a\tsome text\n", "line 1 is 'a\\\\tsome text', not the header 'label<TAB>text'"),
        (b"label,text\na,b\n", "not the header"),
        (b"label\ttext\n", "no documents after the header line"),
        (b"label\ttext\nx\tfine\nno tab here\n", "line 3 has no tab; each document is one line 'label<TAB>text'"),
        (b"label\ttext\nx\tfine\n\nx\tmore\n", "line 3 has no tab"),
        (b"label\ttext\n\tno label\n", "line 2 has an empty label"),
    ],
)
def test_malformed_tsv(tmp_path, content, match):
    path = tmp_path / "bad.tsv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=match) as e:
        load_dataset(str(path), "all")
    assert one_line(e).startswith(f"{path}: ")


def test_tsv_lenient_parts_and_broken_gzip(tmp_path):
    path = tmp_path / "ok.tsv"
    path.write_bytes(b"\xef\xbb\xbfLabel\tText\r\nx\tapple\tpear plum\r\ny\tpear apple\nz\tnot \xff utf-8\n\n")
    d = load_dataset(str(path), "all", vocab_size=10)  # the document that is not UTF-8 is skipped, its label unused
    assert d.texts == ["apple\tpear plum", "pear apple"] and d.classes == ["x", "y"] and d.index.tolist() == [0, 1]
    broken = tmp_path / "broken.tsv.gz"
    broken.write_bytes(gzip.compress(b"label\ttext\na\tb\n")[:-12])
    with pytest.raises(DataError) as e:
        load_dataset(str(broken))
    assert one_line(e).startswith(f"{broken}: cannot read")
    single = write_tsv(tmp_path / "one.tsv", [("a", "solo words")])
    assert len(load_dataset(str(single), "train")) == 1
    with pytest.raises(DataError, match="'test' split is empty"):
        load_dataset(str(single), "test")
    stop = write_tsv(tmp_path / "stop.tsv", [("a", "the of"), ("a", "and x")])
    with pytest.raises(DataError, match="training split has no words"):
        load_dataset(str(stop), "all")
    for kwargs, match in (({"image_size": 4}, "is text .* image_size"), ({"grayscale": False}, "is text .* grayscale")):
        with pytest.raises(DataError, match=match) as e:
            load_dataset(str(single), **kwargs)
        one_line(e)


def test_text_folder(tmp_path):
    root = tmp_path / "corpus"
    docs = {
        "sports/a.txt": "Goal! Goal scored in the match.",
        "sports/deep/b.TXT": "match report",
        "tech/c.txt": "New chip, new match for the chip makers",
        "tech/d.txt": "chip bytes chip",
    }
    for rel, text in docs.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(text.encode("latin-1") if "\xff" in text else text.encode("utf-8"))
    (root / "tech" / ".hidden.txt").write_text("secret secret secret")
    (root / "tech" / "notes.md").write_text("not a document")
    d = load_dataset(str(root), "all")
    assert d.kind == "counts" and d.classes == ["sports", "tech"] and d.y.tolist() == [0, 0, 1, 1]
    assert d.files == ["sports/a.txt", "sports/deep/b.TXT", "tech/c.txt", "tech/d.txt"]
    assert d.index.tolist() == [0, 1, 2, 3] and d.texts[3] == "chip bytes chip"
    assert "secret" not in d.vocabulary
    train, test = load_dataset(str(root), "train"), load_dataset(str(root), "test")
    assert (len(train), len(test)) == (3, 1) and train.vocabulary == test.vocabulary
    assert test.files == [d.files[int(test.index[0])]]
    hand = load_dataset(str(root), "all", vocabulary=["match", "chip", "goal"])
    assert hand.x.tolist() == [[1, 0, 2], [1, 2, 0], [0, 2, 0]]  # "match report" has one word of these: skipped
    assert hand.index.tolist() == [0, 2, 3]


def test_folder_kinds_decided_by_files(tmp_path):
    images = tmp_path / "images"
    (images / "cats").mkdir(parents=True)
    Image.new("L", (4, 3), 200).save(images / "cats" / "a.png")
    Image.new("L", (4, 3), 10).save(images / "cats" / "b.png")
    (images / "readme.txt").write_text("a loose note next to the image folders")
    d = load_dataset(str(images), "all")
    assert d.kind == "image" and d.x.shape == (2, 1, 3, 4) and d.vocabulary is None
    with pytest.raises(DataError, match="holds images, not text; vocab_size applies to text data only"):
        load_dataset(str(images), "all", vocab_size=10)
    (images / "cats" / "caption.txt").write_text("a cat")  # notes beside images: still a folder of images
    assert load_dataset(str(images), "all").kind == "image"

    loose = tmp_path / "loose"
    (loose / "topic").mkdir(parents=True)
    (loose / "topic" / "a.txt").write_text("words here")
    (loose / "stray.txt").write_text("no label")
    with pytest.raises(DataError) as e:
        load_dataset(str(loose), "all")
    assert one_line(e).startswith(f"{loose / 'stray.txt'}: a text file outside the label sub-folders (1 such)")


def test_unknown_path_messages_name_text_inputs(tmp_path):
    other = tmp_path / "x.xml"
    other.write_text("<label/>\n")
    with pytest.raises(DataError) as e:
        load_dataset(str(other))
    assert "not a .npy array or a text table (.tsv, .csv, .jsonl, each also .gz)" in one_line(e)
    with pytest.raises(DataError) as e:
        load_dataset("no-such-corpus")
    assert one_line(e).endswith("or a folder of images or text files / a .npy file / a text table (.tsv, .csv, .jsonl)")


def test_csv_and_json_lines_give_the_corpus_a_tsv_gives(tmp_path):
    """One corpus as .tsv, .csv (quoted commas, line breaks, extra columns) and .jsonl(.gz): the same documents."""
    import csv
    import gzip
    import json

    rows = [("space", "the shuttle launch, delayed\nagain"), ("hockey", "the goalie saved it"), ("space", "orbit"),
            ("hockey", "a puck, a stick")] * 5
    (tmp_path / "c.tsv").write_text("label\ttext\n" + "".join(f"{a}\t{b.replace(chr(10), ' ')}\n" for a, b in rows))
    with open(tmp_path / "c.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "text", "label"])
        w.writerows([(i, b, a) for i, (a, b) in enumerate(rows)])  # a quoted line break stays in its field
    with gzip.open(tmp_path / "c.jsonl.gz", "wt") as f:
        f.write("\n".join(json.dumps({"text": b.replace("\n", " "), "label": a, "source": "x"}) for a, b in rows) + "\n")
    loaded = [load_dataset(str(tmp_path / n), "train") for n in ("c.tsv", "c.csv", "c.jsonl.gz")]
    for other in loaded[1:]:
        assert other.vocabulary == loaded[0].vocabulary and torch.equal(other.x, loaded[0].x)
        assert torch.equal(other.y, loaded[0].y) and len(other.texts) == len(loaded[0].texts)
    assert loaded[2].texts == loaded[0].texts and any("delayed\nagain" in t for t in loaded[1].texts)


@pytest.mark.parametrize("name, body, words", [
    ("a.csv", "words,topic\nhello,x\n", "names no 'text' column"),
    ("b.csv", "label,text\n,hello\n", "row 2 has no label"),
    ("c.jsonl", '{"label": "x", "text": "hi"}\nnot json\n', "line 2 is not JSON"),
    ("d.jsonl", '{"label": "x"}\n', "line 1 has no text"),
    ("e.jsonl", "[1, 2]\n", "line 1 is not an object"),
    ("f.jsonl", "\n\n", "no documents"),
])
def test_bad_tables_are_one_line_errors_naming_the_row(tmp_path, name, body, words):
    (tmp_path / name).write_text(body)
    with pytest.raises(DataError) as e:
        load_dataset(str(tmp_path / name))
    assert words in one_line(e) and name in one_line(e)
